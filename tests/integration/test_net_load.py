"""Bulk transfer, backpressure and many connections through nodish's net."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import subprocess
import sys
import textwrap

import pytest
from tests.helpers import until, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import net, runtime, tls

GIB = 1 << 30
CHUNK = 64 * 1024


@pytest.mark.slow
async def test_one_gib_through_an_echo_server_arrives_whole_in_order() -> None:
    server = net.create_server(lambda s: s.pipe(s))
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    block = bytes(range(256)) * (CHUNK // 256)
    sent_hash = hashlib.sha256()
    recv_hash = hashlib.sha256()
    received = 0
    done = asyncio.get_running_loop().create_future()

    def on_data(data: bytes) -> None:
        nonlocal received
        recv_hash.update(data)
        received += len(data)

    sock.on("data", on_data)
    sock.on("end", lambda: done.set_result(received))
    sent = 0
    counter = 0
    while sent < GIB:
        # vary the block so that reordering would change the hash
        piece = counter.to_bytes(8, "big") + block[8:]
        counter += 1
        sent_hash.update(piece)
        sent += len(piece)
        if not sock.write(piece):
            await wait_event(sock, "drain")
    sock.end()
    assert await wait_for(done, 240) == GIB
    assert recv_hash.digest() == sent_hash.digest()
    server.close()
    await wait_event(server, "close")


async def test_slow_reader_write_returns_false_then_drain_and_buffer_stays_bounded() -> None:
    """Node's rule: write() is False once buffered bytes reach the mark; 'drain' after."""
    server_sock_fut = asyncio.get_running_loop().create_future()
    server = net.create_server(server_sock_fut.set_result, pause_on_connect=True)
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    reader = await wait_for(server_sock_fut)  # paused: reads nothing from the kernel
    hwm = sock.writable_high_water_mark
    chunk = b"z" * 4096
    max_seen = 0
    writes = 0
    drains = 0
    total = 8 * 1024 * 1024
    received = 0
    finished = asyncio.get_running_loop().create_future()

    def on_data(d: bytes) -> None:
        nonlocal received
        received += len(d)
        if received == total:
            finished.set_result(True)

    reader.on("data", on_data)
    saw_false = False
    while writes * len(chunk) < total:
        ok = sock.write(chunk)
        writes += 1
        max_seen = max(max_seen, sock.writable_length)
        if not ok:
            saw_false = True
            assert sock.writable_length >= hwm
            if drains == 0:
                reader.resume()  # the reader starts late: the writer must have waited
            await wait_event(sock, "drain")
            drains += 1
            assert sock.writable_length < hwm
    assert saw_false and drains > 0
    # never more than the mark plus one chunk buffered on our side
    assert max_seen <= hwm + len(chunk) + sock.writable_high_water_mark
    await wait_for(finished, 60)
    sock.destroy()
    server.close()
    await wait_event(server, "close")


async def test_paused_reader_keeps_the_readable_buffer_bounded() -> None:
    """push() returning False stops reading from the kernel: memory stays bounded."""
    payload = b"q" * (4 * 1024 * 1024)
    server = net.create_server(lambda s: s.end(payload))
    await server.listen(0, "127.0.0.1")
    conns: list[net.Socket] = []
    server.on("connection", conns.append)
    sock = await net.connect(server.address().port, "127.0.0.1")
    # no 'data' listener: nothing consumes, so push() reaches the mark and reading stops
    hwm = sock.readable_high_water_mark
    await until(lambda: sock.readable_length >= hwm)
    await until(lambda: bool(conns) and conns[0].writable_length > 0)  # the sender is held back
    assert sock.readable_length <= hwm + 256 * 1024
    assert sock.bytes_read < len(payload)
    got = bytearray()
    sock.on("data", got.extend)
    sock.resume()
    await wait_event(sock, "end")
    assert bytes(got) == payload
    server.close()
    await wait_event(server, "close")


@pytest.mark.slow
async def test_two_thousand_concurrent_connections_leak_no_handle() -> None:
    st = runtime.loop_state(asyncio.get_running_loop())
    before = st.refs
    server = net.create_server(lambda s: s.pipe(s))
    await server.listen(0, "127.0.0.1", backlog=2048)
    port = server.address().port

    async def one(i: int) -> bytes:
        sock = await net.connect(port, "127.0.0.1")
        sock.end(str(i).encode())
        return b"".join([c async for c in sock])

    results = await wait_for(asyncio.gather(*(one(i) for i in range(2000))), 120)
    assert results == [str(i).encode() for i in range(2000)]
    server.close()
    await wait_event(server, "close")
    assert server.get_connections() == 0
    assert st.refs == before
    assert not [h for h in st.handles if h.active]


def test_run_returns_once_the_server_is_closed_after_many_connections() -> None:
    script = textwrap.dedent(
        """
        import nodish
        from nodish import net

        count = 0
        server = net.create_server(lambda s: s.pipe(s))

        def on_listening():
            port = server.address().port
            def one(i):
                sock = net.connect(port, "127.0.0.1")
                sock.on("data", lambda d: None)
                def on_close(_had_error):
                    global count
                    count += 1
                    if count == 500:
                        server.close()
                sock.on("close", on_close)
                sock.end(b"x")
            for i in range(500):
                one(i)

        server.listen(0, "127.0.0.1", callback=on_listening)
        nodish.run()
        print("returned", count)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "returned 500"


@pytest.mark.parametrize("kind", ["net", "tls"])
async def test_a_connection_accepted_as_the_server_closes_is_not_left_open(kind) -> None:
    # Plain asyncio builds an accepted connection's transport a turn after accept(); a
    # close() in between made that build fail and left the connection open, unread,
    # until a garbage collection. Every client must see its connection end (EOF, or a
    # reset when the listener closed first), with close() at each turn after connect.
    loop = asyncio.get_running_loop()
    for i in range(48):
        if kind == "net":
            server = net.create_server(lambda s: s.end())
        else:
            server = tls.create_server(lambda s: s.end(), **pki().server_options())
        await wait_event(server.listen(0, "127.0.0.1"), "listening")
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect(("127.0.0.1", server.address().port))
        for _ in range(i % 4):
            await asyncio.sleep(0)  # close() at the accept's turn, or one to three later
        server.close()
        if kind == "tls":
            # not a ClientHello: a connection the server took up fails its handshake
            # and ends; one left half-built would never read this
            with contextlib.suppress(OSError):
                client.send(b"not tls\r\n\r\n")
        try:
            with contextlib.suppress(ConnectionError):
                assert await wait_for(loop.sock_recv(client, 16), 5) == b""
        finally:
            client.close()
