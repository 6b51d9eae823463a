"""Inbound backpressure: a paused socket stops reading from the kernel, however it was
paused (before connecting, in ``'connection'``/``'connect'``, ``pause_on_connect``).

The peer writes far more than the kernel buffers hold. While the socket is paused the
bytes must stay in the kernel (its receive queue fills up) rather than in the process;
after ``resume()`` every byte arrives. Runs on uvloop and plain asyncio: uvloop ignores
``pause_reading()`` made during ``connection_made``.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from typing import Any

from tests.helpers import next_event, until, wait_event, wait_for

from nodish import net

PAYLOAD = 8 * 1024 * 1024
HWM = 16 * 1024
# A paused socket may still hold what one read brought in before the pause took effect.
LIMIT = 4 * HWM + 256 * 1024


def kernel_queued(sock: net.Socket) -> int:
    """Bytes waiting in the kernel's receive queue of ``sock`` (FIONREAD)."""
    raw = sock._raw_socket()
    assert raw is not None
    buf = fcntl.ioctl(raw.fileno(), termios.FIONREAD, struct.pack("i", 0))
    return int(struct.unpack("i", buf)[0])


async def stays_paused(sock: net.Socket) -> None:
    """Wait until the kernel holds data for ``sock`` (nobody reads it), or until the
    process has read past the limit; then check that it has not."""
    await until(lambda: kernel_queued(sock) >= 64 * 1024 or sock.bytes_read > LIMIT)
    for _ in range(20):  # a few loop turns in which a reading transport would read
        await asyncio.sleep(0)
    assert sock.is_paused()
    assert sock.bytes_read <= LIMIT, f"read {sock.bytes_read} bytes while paused"
    assert sock.readable_length <= LIMIT


async def drain_all(sock: net.Socket) -> int:
    total = 0
    sock.resume()
    async for chunk in sock:
        total += len(chunk)
    return total


def flood(port: int) -> socket.socket:
    """A raw non-blocking client socket connected to ``port``."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setblocking(False)
    return raw


async def send_all(raw: socket.socket, n: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(raw, b"z" * n)
    raw.shutdown(socket.SHUT_WR)


async def server_side(**server_opts: Any) -> None:
    conn: asyncio.Future[net.Socket] = asyncio.get_running_loop().create_future()
    pause_in_listener = not server_opts.get("pause_on_connect")

    def on_connection(sock: net.Socket) -> None:
        if pause_in_listener:
            sock.pause()
        conn.set_result(sock)

    server = net.create_server(on_connection, **server_opts)
    await server.listen(0, "127.0.0.1")
    raw = flood(server.address().port)
    sender = asyncio.ensure_future(send_all(raw, PAYLOAD))
    sock = await wait_for(conn)
    closed = next_event(sock, "close")
    await stays_paused(sock)
    assert await wait_for(drain_all(sock)) == PAYLOAD
    await wait_for(sender)
    raw.close()
    await wait_for(closed)
    server.close()
    await wait_event(server, "close")


async def test_pause_in_connection_listener_stops_reading() -> None:
    await server_side()


async def test_pause_on_connect_stops_reading() -> None:
    await server_side(pause_on_connect=True)


async def client_side(when: str) -> None:
    accepted: asyncio.Future[net.Socket] = asyncio.get_running_loop().create_future()

    def on_connection(sock: net.Socket) -> None:
        accepted.set_result(sock)
        sock.end(b"w" * PAYLOAD)

    server = net.create_server(on_connection)
    await server.listen(0, "127.0.0.1")
    sock = net.connect(server.address().port, "127.0.0.1")
    if when == "before":
        sock.pause()
    else:
        sock.on("connect", sock.pause)
    closed = next_event(sock, "close")
    await wait_event(sock, "connect")
    await wait_for(accepted)
    await stays_paused(sock)
    assert await wait_for(drain_all(sock)) == PAYLOAD
    await wait_for(closed)
    server.close()
    await wait_event(server, "close")


async def test_pause_in_connect_listener_stops_reading() -> None:
    await client_side("listener")


async def test_pause_before_connect_stops_reading() -> None:
    await client_side("before")


async def test_paused_again_after_resume_stops_reading_again() -> None:
    conn: asyncio.Future[net.Socket] = asyncio.get_running_loop().create_future()
    server = net.create_server(lambda s: (s.pause(), conn.set_result(s)))
    await server.listen(0, "127.0.0.1")
    raw = flood(server.address().port)
    sender = asyncio.ensure_future(send_all(raw, PAYLOAD))
    sock = await wait_for(conn)
    closed = next_event(sock, "close")
    await stays_paused(sock)
    got = 0

    def on_data(chunk: bytes) -> None:
        nonlocal got
        got += len(chunk)
        if got > 1024 * 1024 and not sock.is_paused():
            sock.pause()

    sock.on("data", on_data)
    sock.resume()
    await until(lambda: sock.is_paused())
    before = sock.bytes_read
    await until(lambda: kernel_queued(sock) >= 64 * 1024 or sock.bytes_read - before > LIMIT)
    assert sock.bytes_read - before <= LIMIT
    sock.remove_listener("data", on_data)
    rest = await wait_for(drain_all(sock))
    assert got + rest == PAYLOAD
    await wait_for(sender)
    raw.close()
    await wait_for(closed)
    server.close()
    await wait_event(server, "close")
