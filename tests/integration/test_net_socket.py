"""net.Socket and net.Server against each other over real loopback sockets.

Every test here runs on uvloop and on plain asyncio (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import socket
import sys
import tempfile
import weakref

import pytest
from tests.helpers import next_event, until, wait_event, wait_for

from nodish import errors, net


async def echo_server(**opts):
    server = net.create_server(lambda sock: sock.pipe(sock), **opts)
    await server.listen(0, "127.0.0.1")
    return server


async def close_server(server) -> None:
    if server.listening:
        server.close()
        await wait_event(server, "close")


async def test_connect_write_end_event_order_client_side() -> None:
    seen: list[str] = []
    server = net.create_server(lambda sock: (sock.end(b"bye"),))
    await server.listen(0, "127.0.0.1")
    sock = net.connect(server.address().port, "127.0.0.1")
    for name in ("connect", "ready", "end", "finish"):
        sock.on(name, lambda *a, n=name: seen.append(n))
    sock.on("data", lambda d: seen.append(f"data:{d.decode()}"))
    closed = asyncio.ensure_future(wait_event(sock, "close"))
    (had_error,) = await closed
    assert had_error is False
    assert seen[:3] == ["connect", "ready", "data:bye"]
    assert seen.index("end") > seen.index("data:bye")
    assert "finish" in seen  # allow_half_open=False: our side ended after 'end'
    await close_server(server)


async def test_awaitable_connect_returns_connected_socket() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1")
    assert not sock.pending and not sock.connecting
    assert sock.ready_state == "open"
    assert sock.remote_address == "127.0.0.1"
    assert sock.remote_port == server.address().port
    assert sock.remote_family == "IPv4"
    assert sock.local_address == "127.0.0.1"
    assert isinstance(sock.local_port, int)
    assert sock.address()["port"] == sock.local_port
    sock.end(b"hello")
    chunks = [c async for c in sock]
    assert b"".join(chunks) == b"hello"
    assert sock.bytes_read == 5
    assert sock.bytes_written == 5
    await close_server(server)


async def test_writes_before_connect_are_sent_after_connect() -> None:
    server = await echo_server()
    sock = net.connect(server.address().port, "127.0.0.1")
    assert sock.connecting and sock.pending and sock.ready_state == "opening"
    sock.write("a")
    sock.write(b"b")
    sock.end(bytearray(b"c"))
    got = []
    sock.on("data", got.append)
    await wait_event(sock, "close")
    assert b"".join(got) == b"abc"
    await close_server(server)


async def test_str_write_is_utf8_and_set_encoding_decodes() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1")
    sock.set_encoding("utf8")
    text = "深入浅出Nodejs"
    data = text.encode()
    # write the UTF-8 bytes cut in the middle of a character
    sock.write(data[:4])
    sock.end(data[4:])
    got: list[str] = []
    sock.on("data", got.append)
    await wait_event(sock, "close")
    assert all(isinstance(c, str) for c in got)
    assert "".join(got) == text
    await close_server(server)


async def test_connect_refused_is_ECONNREFUSED_then_close_true() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    order: list[object] = []
    sock = net.connect(port, "127.0.0.1")
    sock.on("error", lambda e: order.append(e))
    sock.on("close", lambda had_error: order.append(("close", had_error)))
    await wait_event(sock, "close", error_rejects=False)
    err = order[0]
    assert isinstance(err, ConnectionRefusedError)
    assert err.code == "ECONNREFUSED"
    assert err.errno == errno.ECONNREFUSED
    assert err.syscall == "connect"
    assert err.address == "127.0.0.1" and err.port == port
    assert str(err) == f"connect ECONNREFUSED 127.0.0.1:{port}"
    assert order[1] == ("close", True)


async def test_await_connect_raises_the_connect_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(ConnectionRefusedError) as info:
        await net.connect(port, "127.0.0.1")
    assert info.value.code == "ECONNREFUSED"


async def test_unresolvable_host_is_ENOTFOUND_with_lookup_event() -> None:
    sock = net.connect(80, "nodish-test.invalid")
    lookups: list[tuple[object, ...]] = []
    sock.on("lookup", lambda *a: lookups.append(a))
    closed = next_event(sock, "close")
    (err,) = await wait_event(sock, "error")
    assert err.code == "ENOTFOUND"
    assert err.syscall == "getaddrinfo"
    assert err.hostname == "nodish-test.invalid"
    assert str(err) == "getaddrinfo ENOTFOUND nodish-test.invalid"
    assert lookups and lookups[0][0] is err and lookups[0][3] == "nodish-test.invalid"
    assert await wait_for(closed) == (True,)


async def test_localhost_lookup_event_then_connect() -> None:
    server = await echo_server()
    sock = net.connect(server.address().port)  # 'localhost' by default
    lookups: list[tuple[object, ...]] = []
    sock.on("lookup", lambda *a: lookups.append(a))
    await wait_event(sock, "connect")
    assert lookups[0][0] is None
    assert lookups[0][3] == "localhost"
    assert lookups[0][2] in (4, 6)
    assert sock.remote_address == "127.0.0.1"  # ::1 refused, 127.0.0.1 accepted
    sock.destroy()
    await close_server(server)


async def test_bad_port_raises_at_once() -> None:
    for bad in (-1, 65536, 1.5):
        with pytest.raises(errors.codes.ERR_SOCKET_BAD_PORT) as info:
            net.connect(bad, "127.0.0.1")
        assert info.value.code == "ERR_SOCKET_BAD_PORT"
    with pytest.raises(errors.codes.ERR_SOCKET_BAD_PORT):
        net.create_server().listen(70000)


async def test_listen_on_taken_port_emits_EADDRINUSE_and_nothing_raised() -> None:
    server = await echo_server()
    port = server.address().port
    other = net.create_server()
    other.listen(port, "127.0.0.1")
    (err,) = await wait_event(other, "error")
    assert err.code == "EADDRINUSE"
    assert err.syscall == "listen"
    assert str(err) == f"listen EADDRINUSE: address already in use 127.0.0.1:{port}"
    assert not other.listening
    with pytest.raises(OSError) as info:
        await net.create_server().listen(port, "127.0.0.1")
    assert info.value.code == "EADDRINUSE"
    # the first server still serves
    sock = await net.connect(port, "127.0.0.1")
    sock.end(b"x")
    assert b"".join([c async for c in sock]) == b"x"
    await close_server(server)


async def test_listen_twice_raises_ERR_SERVER_ALREADY_LISTEN() -> None:
    server = await echo_server()
    with pytest.raises(errors.codes.ERR_SERVER_ALREADY_LISTEN):
        server.listen(0)
    await close_server(server)


async def test_close_not_running_calls_back_ERR_SERVER_NOT_RUNNING_and_emits_close() -> None:
    server = net.create_server()
    got: list[object] = []
    server.close(callback=got.append)
    await wait_event(server, "close")
    assert got and got[0].code == "ERR_SERVER_NOT_RUNNING"


async def test_server_close_waits_for_connections_then_emits_close() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1")
    await until(lambda: server.get_connections() == 1)
    closed = []
    server.close(callback=lambda *a: closed.append(a))
    assert not server.listening
    assert server.address() is None
    # still serving the open connection
    sock.write(b"ping")
    (data,) = await wait_event(sock, "data")
    assert data == b"ping"
    assert closed == []
    sock.end()
    await wait_event(server, "close")
    assert closed == [()]
    assert server.get_connections() == 0


async def test_default_listen_is_dual_stack_and_get_connections() -> None:
    server = net.create_server(lambda s: s.end())
    await server.listen(0)
    addr = server.address()
    assert addr.address == "::" and addr.family == "IPv6"
    assert addr["port"] == addr.port
    sock4 = net.connect(addr.port, "127.0.0.1")
    sock6 = net.connect(addr.port, "::1")
    closed = [next_event(sock4, "close"), next_event(sock6, "close")]
    families = []
    sock4.on("connect", lambda: families.append(sock4.remote_family))
    sock6.on("connect", lambda: families.append(sock6.remote_family))
    for sock in (sock4, sock6):
        sock.resume()
    assert await wait_for(asyncio.gather(*closed)) == [(False,), (False,)]
    assert sorted(families) == ["IPv4", "IPv6"]
    await close_server(server)


async def test_ipv6_loopback_round_trip() -> None:
    server = net.create_server(lambda s: s.pipe(s))
    await server.listen(0, "::1")
    assert server.address().family == "IPv6"
    sock = await net.connect(server.address().port, "::1")
    sock.end(b"six")
    assert b"".join([c async for c in sock]) == b"six"
    assert sock.remote_address == "::1"
    await close_server(server)


async def test_unix_socket_round_trip_and_path_unlinked_on_close() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "echo.sock")
        server = net.create_server(lambda s: s.pipe(s))
        await server.listen(path=path)
        assert server.address() == path
        sock = await net.connect(path=path)
        sock.end(b"unix")
        assert b"".join([c async for c in sock]) == b"unix"
        await close_server(server)
        assert not os.path.exists(path)


async def test_unix_path_in_use_is_EADDRINUSE() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "a.sock")
        server = net.create_server()
        await server.listen(path=path)
        other = net.create_server()
        other.listen(path=path)
        (err,) = await wait_event(other, "error")
        assert err.code == "EADDRINUSE"
        await close_server(server)


async def test_allow_half_open_keeps_writable_after_end() -> None:
    done = asyncio.get_running_loop().create_future()

    def on_conn(sock):
        def on_end():
            # the peer finished sending; we may still write
            assert sock.writable
            sock.end(b"late reply")
            done.set_result(True)

        sock.on("end", on_end)
        sock.resume()

    server = net.create_server(on_conn, allow_half_open=True)
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1", allow_half_open=True)
    sock.end(b"request")
    got = b"".join([c async for c in sock])
    assert got == b"late reply"
    assert await wait_for(done)
    await close_server(server)


async def test_without_allow_half_open_the_server_ends_after_end() -> None:
    finished = asyncio.get_running_loop().create_future()

    def on_conn(sock):
        sock.on("finish", lambda: finished.set_result(sock.writable_ended))
        sock.resume()

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1", allow_half_open=True)
    sock.end()
    assert await wait_for(finished) is True
    await wait_event(sock, "end")
    await close_server(server)


async def test_set_timeout_emits_timeout_and_does_not_close() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1")
    sock.set_timeout(0.05)
    assert sock.timeout == 0.05
    await wait_event(sock, "timeout", timeout=5)
    assert not sock.destroyed and sock.writable
    sock.write(b"still open")
    (data,) = await wait_event(sock, "data")
    assert data == b"still open"
    sock.set_timeout(0)
    assert sock.timeout is None
    sock.destroy()
    await wait_event(sock, "close")
    await close_server(server)


async def test_timeout_option_and_callback() -> None:
    server = await echo_server()
    fired = asyncio.get_running_loop().create_future()
    sock = net.connect(server.address().port, "127.0.0.1", timeout=0.05)
    sock.set_timeout(0.05, callback=lambda: fired.set_result(True))
    assert await wait_for(fired)
    sock.destroy()
    await close_server(server)


async def test_peer_reset_mid_stream_is_ECONNRESET_then_close_true_and_server_serves_on() -> None:
    errors_seen: list[BaseException] = []
    closes: list[bool] = []
    first_data = asyncio.get_running_loop().create_future()

    def on_conn(sock):
        sock.on("error", errors_seen.append)
        sock.on("close", closes.append)
        sock.on("data", lambda d: first_data.done() or first_data.set_result(sock))
        sock.on("data", lambda d: sock.write(d))

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    client = await net.connect(port, "127.0.0.1")
    client.write(b"some bytes")
    server_sock = await wait_for(first_data)
    client.reset_and_destroy()
    await wait_event(server_sock, "close", error_rejects=False)
    assert [e.code for e in errors_seen] == ["ECONNRESET"]
    err = errors_seen[0]
    assert isinstance(err, ConnectionResetError)
    # Node's ErrnoException(nread, 'read'): no address in the message, none as fields
    assert (str(err), err.syscall, err.address, err.port) == ("read ECONNRESET", "read", None, None)
    assert closes == [True]
    # a good client is still served
    good = await net.connect(port, "127.0.0.1")
    good.end(b"good")
    assert b"".join([c async for c in good]) == b"good"
    await close_server(server)


async def test_destroy_with_error_emits_error_then_close() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1")
    order: list[object] = []
    sock.on("error", lambda e: order.append(("error", e.code)))
    sock.on("close", lambda h: order.append(("close", h)))
    sock.destroy(errors.codes.ERR_SOCKET_CLOSED())
    await wait_event(sock, "close", error_rejects=False)
    assert order == [("error", "ERR_SOCKET_CLOSED"), ("close", True)]
    assert sock.destroyed and sock.ready_state == "closed"
    await close_server(server)


async def test_write_after_end_is_ERR_STREAM_WRITE_AFTER_END() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1", allow_half_open=True)
    sock.end()
    got: list[BaseException] = []
    sock.on("error", got.append)
    sock.write(b"late")
    await wait_event(sock, "close", error_rejects=False)
    assert got[0].code == "ERR_STREAM_WRITE_AFTER_END"
    await close_server(server)


async def test_destroy_soon_flushes_then_closes() -> None:
    payload = os.urandom(256 * 1024)
    server = net.create_server(lambda s: (s.write(payload), s.destroy_soon()))
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    got = b"".join([c async for c in sock])
    assert got == payload
    await close_server(server)


async def test_pause_stops_reading_from_the_kernel_and_resume_restarts() -> None:
    server = net.create_server(lambda s: s.end(b"x" * 100))
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    sock.pause()
    assert sock.is_paused()
    got: list[bytes] = []
    sock.on("data", got.append)
    assert got == []
    sock.resume()
    await wait_event(sock, "end")
    assert b"".join(got) == b"x" * 100
    await close_server(server)


async def test_pause_on_connect_delivers_nothing_until_resume() -> None:
    conn = asyncio.get_running_loop().create_future()
    server = net.create_server(conn.set_result, pause_on_connect=True)
    await server.listen(0, "127.0.0.1")
    client = await net.connect(server.address().port, "127.0.0.1")
    client.write(b"hello")
    sock = await wait_for(conn)
    assert sock.is_paused()
    sock.resume()
    (data,) = await wait_event(sock, "data")
    assert data == b"hello"
    client.destroy()
    await close_server(server)


async def test_max_connections_drops_with_drop_event() -> None:
    server = net.create_server(lambda s: s.resume())
    server.max_connections = 1
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    first = await net.connect(port, "127.0.0.1")
    await until(lambda: server.get_connections() == 1)
    second = net.connect(port, "127.0.0.1")
    (info,) = await wait_event(server, "drop")
    assert info.local_port == port and info["remote_address"] == "127.0.0.1"
    await wait_event(second, "close", error_rejects=False)
    assert server.get_connections() == 1
    first.destroy()
    await close_server(server)


async def test_set_no_delay_and_keep_alive_set_the_socket_options() -> None:
    conn = asyncio.get_running_loop().create_future()
    server = net.create_server(conn.set_result, keep_alive=True, keep_alive_initial_delay=7)
    await server.listen(0, "127.0.0.1")
    client = await net.connect(server.address().port, "127.0.0.1")
    raw = client._transport.get_extra_info("socket")
    assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # Node's default
    client.set_no_delay()
    assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    client.set_no_delay(False)
    assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    default_idle = raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
    for delay in (0.5, float("nan"), -3):  # under a second: the system's idle time
        client.set_keep_alive(True, delay)
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == default_idle
    client.set_keep_alive(True, 5.9)
    assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
    # as Node 20 (libuv): whole seconds of idle, then a probe a second, 10 unanswered
    assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 5
    assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
    assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 10
    client.set_keep_alive(False)
    assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
    accepted = await wait_for(conn)
    sraw = accepted._transport.get_extra_info("socket")
    assert sraw.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
    assert sraw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
    assert sraw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
    assert sraw.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 10
    client.destroy()
    await close_server(server)


async def test_accepted_socket_has_nagle_on_from_its_second_write() -> None:
    # Node's default (no_delay=False) is Nagle on; an accepted socket turns it on before
    # its second write (a first write leaves at once either way), or before a first write
    # larger than NAGLE_FIRST_WRITE; with no_delay=True it stays off.
    def nodelay(sock: net.Socket) -> int:
        raw = sock._transport.get_extra_info("socket")
        return int(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    for opts, first, expect in (
        ({}, b"a", 0),
        ({}, b"x" * (socket_module_first_write() + 1), 0),
        ({"no_delay": True}, b"a", 1),
    ):
        conn = asyncio.get_running_loop().create_future()
        server = net.create_server(conn.set_result, **opts)
        await server.listen(0, "127.0.0.1")
        client = await net.connect(server.address().port, "127.0.0.1")
        got = bytearray()
        client.on("data", got.extend)
        accepted = await wait_for(conn)
        accepted.write(first)
        if len(first) > 1:
            assert nodelay(accepted) == expect  # on before a large first write
        accepted.write(b"b")
        assert nodelay(accepted) == expect
        accepted.set_no_delay(True)
        accepted.write(b"c")
        assert nodelay(accepted) == 1  # set_no_delay wins over the pending switch
        await until(lambda: got == first + b"bc")  # noqa: B023 - awaited in this round
        client.destroy()
        accepted.destroy()
        await close_server(server)


async def test_closed_sockets_are_freed_without_the_cycle_collector() -> None:
    # A socket drops its references to itself when it closes, and events.once() leaves
    # none behind: both ends of a connection are freed by reference counting alone,
    # with the cycle collector off.
    class Probe(net.Socket):  # weak-referenceable (no __slots__)
        pass

    accepted: list[net.Socket] = []
    server = net.create_server(lambda s: (accepted.append(s), s.once("data", s.end)))
    await server.listen(0, "127.0.0.1")
    gc.collect()
    gc.disable()
    try:
        client = Probe()
        client.connect(server.address().port, "127.0.0.1")
        client.write(b"ping")
        client.on("data", lambda data: None)
        await wait_event(client, "close")
        ref = weakref.ref(client)
        del client
        assert ref() is None
        (sock,) = accepted
        accepted.clear()
        # 'close' itself: the stream's flag is set a loop turn before the event
        await until(lambda: sock._close_emitted and not sock._close_due)
        assert sys.getrefcount(sock) == 2  # the name `sock` and getrefcount's argument
    finally:
        gc.enable()
    await close_server(server)


def socket_module_first_write() -> int:
    from nodish.net.socket import NAGLE_FIRST_WRITE

    return NAGLE_FIRST_WRITE


async def test_local_address_and_port_bind_the_client_end() -> None:
    server = await echo_server()
    sock = await net.connect(server.address().port, "127.0.0.1", local_address="127.0.0.1")
    assert sock.local_address == "127.0.0.1"
    sock.destroy()
    await close_server(server)


async def test_async_with_server_closes_it() -> None:
    async with net.create_server(lambda s: s.end()) as server:
        await server.listen(0, "127.0.0.1")
        sock = await net.connect(server.address().port, "127.0.0.1")
        await wait_event(sock, "close")
    assert not server.listening


async def test_exception_in_data_listener_destroys_only_that_socket() -> None:
    reported: list[BaseException] = []
    from nodish import process

    process.on("uncaughtException", lambda exc, origin: reported.append(exc))

    def on_conn(sock):
        def on_data(d):
            if d == b"boom":
                raise RuntimeError("handler bug")
            sock.write(d)

        sock.on("data", on_data)

    try:
        server = net.create_server(on_conn)
        await server.listen(0, "127.0.0.1")
        port = server.address().port
        bad = await net.connect(port, "127.0.0.1")
        bad.write(b"boom")
        await wait_event(bad, "close", error_rejects=False)
        assert [str(e) for e in reported] == ["handler bug"]
        good = await net.connect(port, "127.0.0.1")
        good.write(b"fine")
        (data,) = await wait_event(good, "data")
        assert data == b"fine"
        good.destroy()
        await close_server(server)
    finally:
        process.remove_all_listeners("uncaughtException")


async def test_unref_server_is_not_counted_ref_is() -> None:
    from nodish import runtime

    st = runtime.loop_state(asyncio.get_running_loop())
    before = st.refs
    server = await echo_server()
    assert st.refs == before + 1
    server.unref()
    assert st.refs == before
    server.ref()
    assert st.refs == before + 1
    await close_server(server)
    assert st.refs == before
