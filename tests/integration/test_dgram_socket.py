"""dgram.Socket against itself and raw sockets over real loopback.

Every test here runs on uvloop and on plain asyncio (see tests/conftest.py). Each rule
is named after the Node behaviour it checks (Node v20's dgram documentation, and what
Node itself does where the documentation is silent).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest
from tests.helpers import until, wait_event, wait_for

from nodish import dgram, errors, events, runtime
from nodish.process import process


class Inbox:
    """Collects a socket's datagrams; ``await inbox.get()`` waits for the next one."""

    def __init__(self, sock: dgram.Socket) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        sock.on("message", lambda msg, rinfo: self.queue.put_nowait((msg, rinfo)))

    async def get(self) -> tuple[bytes, Any]:
        return await wait_for(self.queue.get())

    def empty(self) -> bool:
        return self.queue.empty()


class Result:
    """A send/connect callback whose arguments can be awaited."""

    def __init__(self) -> None:
        self.fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self.calls = 0

    def __call__(self, *args: Any) -> None:
        self.calls += 1
        if not self.fut.done():
            self.fut.set_result(args)

    async def wait(self) -> tuple[Any, ...]:
        return await wait_for(self.fut)


async def bound(type_: str = "udp4", address: str | None = None, **opts: Any) -> dgram.Socket:
    sock = dgram.create_socket(type_, **opts)
    await sock.bind(0, address or ("::1" if type_ == "udp6" else "127.0.0.1"))
    return sock


async def close(*socks: dgram.Socket) -> None:
    for sock in socks:
        if not sock._closed:
            await sock.close()


async def echo_pair(type_: str = "udp4") -> tuple[dgram.Socket, dgram.Socket]:
    """A server echoing every datagram, and a bound client."""
    server = await bound(type_)
    server.on("message", lambda msg, rinfo: server.send(msg, rinfo.port, rinfo.address))
    client = await bound(type_)
    return server, client


# ---------------------------------------------------------------------------- bind


async def test_bind_emits_listening_and_address_reports_ip_family_port() -> None:
    sock = dgram.create_socket("udp4")
    seen: list[str] = []
    sock.on("listening", lambda: seen.append("listening"))
    result = Result()
    assert sock.bind(0, "127.0.0.1", result) is sock
    await result.wait()
    assert seen == ["listening"]
    addr = sock.address()
    assert addr.address == addr["address"] == "127.0.0.1"
    assert addr.family == "IPv4"
    assert 0 < addr.port < 65536 and addr["port"] == addr.port
    await close(sock)


async def test_bind_without_address_binds_every_interface() -> None:
    v4 = await dgram.create_socket("udp4").bind(0)
    v6 = await dgram.create_socket("udp6").bind(0)
    assert v4.address().address == "0.0.0.0"
    assert v6.address() == {"address": "::", "family": "IPv6", "port": v6.address().port}
    await close(v4, v6)


async def test_bind_to_a_host_name_resolves_it_in_the_socket_family() -> None:
    sock = await dgram.create_socket("udp4").bind(0, "localhost")
    assert sock.address().address == "127.0.0.1"
    await close(sock)


async def test_address_before_bind_is_EBADF_and_after_close_not_running() -> None:
    sock = dgram.create_socket("udp4")
    with pytest.raises(OSError) as info:
        sock.address()
    assert info.value.code == "EBADF" and info.value.syscall == "getsockname"
    await sock.bind(0, "127.0.0.1")
    await sock.close()
    with pytest.raises(errors.NodeError) as info2:
        sock.address()
    assert info2.value.code == "ERR_SOCKET_DGRAM_NOT_RUNNING"


async def test_bind_twice_is_ERR_SOCKET_ALREADY_BOUND_even_while_binding() -> None:
    sock = dgram.create_socket("udp4")
    sock.bind(0, "127.0.0.1")
    with pytest.raises(errors.NodeError) as info:
        sock.bind(0)
    assert info.value.code == "ERR_SOCKET_ALREADY_BOUND"
    await sock
    with pytest.raises(errors.NodeError):
        sock.bind(0)
    await close(sock)


async def test_bind_port_in_use_emits_EADDRINUSE_and_the_socket_can_bind_again() -> None:
    taken = await bound()
    port = taken.address().port
    sock = dgram.create_socket("udp4")
    listening = Result()
    sock.bind(port, "127.0.0.1", listening)
    (err,) = await wait_event(sock, "error")
    assert err.code == "EADDRINUSE" and err.syscall == "bind"
    assert err.address == "127.0.0.1" and err.port == port
    assert listening.calls == 0 and sock.listener_count("listening") == 0
    # Node: back to unbound; a second bind may succeed
    await sock.bind(0, "127.0.0.1")
    assert sock.address().port != port
    await close(sock, taken)


async def test_await_bind_raises_the_bind_error() -> None:
    taken = await bound()
    sock = dgram.create_socket("udp4")
    with pytest.raises(OSError) as info:
        await sock.bind(taken.address().port, "127.0.0.1")
    assert info.value.code == "EADDRINUSE"
    await close(taken)


async def test_bind_to_unresolvable_host_emits_ENOTFOUND() -> None:
    sock = dgram.create_socket("udp4")
    sock.bind(0, "nope.invalid")
    (err,) = await wait_event(sock, "error")
    assert err.code == "ENOTFOUND" and err.syscall == "getaddrinfo"
    assert err.hostname == "nope.invalid"
    await sock.close()


@pytest.mark.parametrize("port", [-1, 65536, "http", 1.5, True])
async def test_bind_bad_port_raises_ERR_SOCKET_BAD_PORT_at_once(port: Any) -> None:
    sock = dgram.create_socket("udp4")
    with pytest.raises(errors.NodeError) as info:
        sock.bind(port)
    assert info.value.code == "ERR_SOCKET_BAD_PORT"
    # the socket is untouched: a good bind still works
    await sock.bind(0, "127.0.0.1")
    await close(sock)


def test_create_socket_bad_type_is_ERR_SOCKET_BAD_TYPE() -> None:
    for bad in ("udp5", "tcp", ""):
        with pytest.raises(errors.NodeError) as info:
            dgram.create_socket(bad)
        assert info.value.code == "ERR_SOCKET_BAD_TYPE"


def test_create_socket_bad_buffer_size_is_ERR_SOCKET_BAD_BUFFER_SIZE() -> None:
    for bad in (-1, "big", 1.5):
        with pytest.raises(errors.NodeError) as info:
            dgram.create_socket("udp4", recv_buffer_size=bad)
        assert info.value.code == "ERR_SOCKET_BAD_BUFFER_SIZE"


# ---------------------------------------------------------------------------- messages


@pytest.mark.parametrize("type_", ["udp4", "udp6"])
async def test_message_carries_bytes_and_rinfo_address_family_port_size(type_: str) -> None:
    server, client = await echo_pair(type_)
    inbox = Inbox(client)
    client.send("深入浅出Nodejs", server.address().port, server.address().address)
    msg, rinfo = await inbox.get()
    assert msg == "深入浅出Nodejs".encode()
    assert isinstance(msg, bytes)
    host = "::1" if type_ == "udp6" else "127.0.0.1"
    assert rinfo.address == rinfo["address"] == host
    assert rinfo.family == rinfo["family"] == ("IPv6" if type_ == "udp6" else "IPv4")
    assert rinfo.port == rinfo["port"] == server.address().port
    assert rinfo.size == rinfo["size"] == len(msg)
    await close(server, client)


async def test_udp6_socket_reports_ipv4_senders_as_mapped_ipv6() -> None:
    server = await dgram.create_socket("udp6").bind(0)
    inbox = Inbox(server)
    client = dgram.create_socket("udp4")
    client.send(b"v4", server.address().port, "127.0.0.1")
    msg, rinfo = await inbox.get()
    assert msg == b"v4"
    assert rinfo.address == "::ffff:127.0.0.1" and rinfo.family == "IPv6"
    await close(server, client)


async def test_empty_datagram_is_a_message_of_size_zero() -> None:
    server, client = await echo_pair()
    inbox = Inbox(client)
    result = Result()
    client.send(b"", server.address().port, "127.0.0.1", result)
    assert await result.wait() == (None, 0)
    msg, rinfo = await inbox.get()
    assert msg == b"" and rinfo.size == 0
    await close(server, client)


async def test_send_callback_gets_none_and_bytes_sent() -> None:
    server, client = await echo_pair()
    result = Result()
    client.send(b"12345", server.address().port, "127.0.0.1", result)
    assert await result.wait() == (None, 5)
    await close(server, client)


async def test_send_forms_str_list_offset_length_make_one_datagram_each() -> None:
    server = await bound()
    inbox = Inbox(server)
    client = await bound()
    port = server.address().port
    client.send("héllo", port)  # no address: localhost
    client.send(b"empty address", str(port), "")  # '' is localhost too; ports may be str
    client.send([b"ab", "cd", bytearray(b"ef"), memoryview(b"gh")], port, "127.0.0.1")
    client.send(b"0123456789", port, "127.0.0.1", offset=2, length=3)
    client.send("深入浅出", port, "127.0.0.1", offset=3)  # offsets count bytes, as Node's
    client.send([], port, "127.0.0.1")
    got = [(await inbox.get())[0] for _ in range(6)]
    assert got == ["héllo".encode(), b"empty address", b"abcdefgh", b"234", "入浅出".encode(), b""]
    await close(server, client)


async def test_send_bad_message_type_is_ERR_INVALID_ARG_TYPE_then_good_send_works() -> None:
    server = await bound()
    inbox = Inbox(server)
    client = await bound()
    port = server.address().port
    for bad in (5, None, {"a": 1}, [b"ok", 5]):
        with pytest.raises(errors.NodeError) as info:
            client.send(bad, port, "127.0.0.1")
        assert info.value.code == "ERR_INVALID_ARG_TYPE"
    with pytest.raises(errors.NodeError) as info2:
        client.send(b"abc", port, "127.0.0.1", offset=4)
    assert info2.value.code == "ERR_OUT_OF_RANGE"
    client.send(b"good", port, "127.0.0.1")
    assert (await inbox.get())[0] == b"good"
    await close(server, client)


@pytest.mark.parametrize("port", [0, -1, 65536, None, "x", 2.5])
async def test_send_bad_port_raises_ERR_SOCKET_BAD_PORT_at_once_then_good_send_works(
    port: Any,
) -> None:
    server = await bound()
    inbox = Inbox(server)
    client = await bound()
    with pytest.raises(errors.NodeError) as info:
        client.send(b"bad", port, "127.0.0.1")
    assert info.value.code == "ERR_SOCKET_BAD_PORT"
    client.send(b"good", server.address().port, "127.0.0.1")
    assert (await inbox.get())[0] == b"good"
    await close(server, client)


async def test_send_before_bind_binds_implicitly_and_sends_in_order() -> None:
    server = await bound()
    inbox = Inbox(server)
    client = dgram.create_socket("udp4")
    seen: list[str] = []
    client.on("listening", lambda: seen.append("listening"))
    results = [Result() for _ in range(3)]
    for i, result in enumerate(results):
        client.send(f"m{i}", server.address().port, "127.0.0.1", result)
    assert [await r.wait() for r in results] == [(None, 2)] * 3
    assert seen == ["listening"]
    assert [(await inbox.get())[0] for _ in range(3)] == [b"m0", b"m1", b"m2"]
    assert client.address().address == "0.0.0.0"  # Node binds every interface, port 0
    await close(server, client)


async def test_send_to_host_name_resolves_and_keeps_order_with_literal_sends() -> None:
    server = await bound()
    inbox = Inbox(server)
    client = await bound()
    port = server.address().port
    client.send(b"1", port, "localhost")
    client.send(b"2", port, "127.0.0.1")  # waits behind the lookup
    client.send(b"3", port, "localhost")
    assert [(await inbox.get())[0] for _ in range(3)] == [b"1", b"2", b"3"]
    await close(server, client)


async def test_message_never_precedes_listening() -> None:
    # A peer already sending to the port when we bind: 'listening' still comes first.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    seen: list[str] = []
    sock = dgram.create_socket("udp4")
    sock.on("listening", lambda: seen.append("listening"))
    sock.on("message", lambda *_: seen.append("message"))
    sock.bind(port, "127.0.0.1")
    await sock
    for _ in range(3):
        sender.sendto(b"x", ("127.0.0.1", port))
    await until(lambda: len(seen) >= 4)
    assert seen[0] == "listening"
    sender.close()
    await close(sock)


# ---------------------------------------------------------------------------- send errors


async def test_datagram_too_big_gives_EMSGSIZE_to_the_callback_and_the_socket_keeps_working() -> (
    None
):
    server, client = await echo_pair()
    inbox = Inbox(client)
    port = server.address().port
    errors_seen: list[Any] = []
    client.on("error", errors_seen.append)
    result = Result()
    client.send(b"x" * 70000, port, "127.0.0.1", result)
    (err,) = await result.wait()
    assert err.code == "EMSGSIZE" and err.syscall == "send"
    assert err.address == "127.0.0.1" and err.port == port
    # Node: without a callback the refused datagram is dropped silently
    client.send(b"y" * 70000, port, "127.0.0.1")
    client.send(b"still here", port, "127.0.0.1")
    assert (await inbox.get())[0] == b"still here"
    assert errors_seen == []
    await close(server, client)


async def test_unresolvable_host_goes_to_the_callback_only_when_there_is_one() -> None:
    server, client = await echo_pair()
    inbox = Inbox(client)
    port = server.address().port
    errors_seen: list[Any] = []
    client.on("error", errors_seen.append)
    result = Result()
    client.send(b"x", port, "nope.invalid", result)
    (err,) = await result.wait()
    assert err.code == "ENOTFOUND" and err.syscall == "getaddrinfo"
    assert errors_seen == []  # Node: the callback replaces the 'error' event
    client.send(b"x", port, "nope.invalid")
    (err2,) = await wait_event(client, "error")
    assert err2.code == "ENOTFOUND" and err2.hostname == "nope.invalid"
    client.send(b"good", port, "127.0.0.1")
    assert (await inbox.get())[0] == b"good"
    await close(server, client)


async def test_send_after_close_raises_ERR_SOCKET_DGRAM_NOT_RUNNING() -> None:
    sock = await bound()
    closed = Result()
    assert sock.close(closed) is sock
    with pytest.raises(errors.NodeError) as info:
        sock.send(b"x", 9, "127.0.0.1")
    assert info.value.code == "ERR_SOCKET_DGRAM_NOT_RUNNING"
    with pytest.raises(errors.NodeError) as info2:
        sock.close()
    assert info2.value.code == "ERR_SOCKET_DGRAM_NOT_RUNNING"
    await closed.wait()


async def test_send_to_ipv6_literal_from_udp4_is_EINVAL() -> None:
    sock = await bound()
    result = Result()
    sock.send(b"x", 9, "::1", result)
    (err,) = await result.wait()
    assert err.code == "EINVAL"
    await close(sock)


async def test_udp6_sends_ipv4_destinations_to_their_mapped_address() -> None:
    server = await bound("udp4")
    inbox = Inbox(server)
    client = await dgram.create_socket("udp6").bind(0)
    client.send(b"mapped", server.address().port, "127.0.0.1")
    msg, _ = await inbox.get()
    assert msg == b"mapped"
    await close(server, client)


# ---------------------------------------------------------------------------- connect


async def test_connect_emits_connect_then_send_needs_no_destination() -> None:
    server, client = await echo_pair()
    inbox = Inbox(client)
    result = Result()
    assert client.connect(server.address().port, "127.0.0.1", result) is client
    assert await result.wait() == ()
    assert client.remote_address() == {
        "address": "127.0.0.1",
        "family": "IPv4",
        "port": server.address().port,
    }
    sent = Result()
    client.send(b"connected", callback=sent)
    assert await sent.wait() == (None, 9)
    assert (await inbox.get())[0] == b"connected"
    with pytest.raises(errors.NodeError) as info:
        client.send(b"x", server.address().port, "127.0.0.1")
    assert info.value.code == "ERR_SOCKET_DGRAM_IS_CONNECTED"
    with pytest.raises(errors.NodeError) as info2:
        client.connect(server.address().port)
    assert info2.value.code == "ERR_SOCKET_DGRAM_IS_CONNECTED"
    await close(server, client)


async def test_connected_socket_receives_only_from_its_peer() -> None:
    peer = await bound()
    other = await bound()
    sock = await bound()
    inbox = Inbox(sock)
    await sock.connect(peer.address().port, "127.0.0.1")
    other.send(b"stranger", sock.address().port, "127.0.0.1")
    peer.send(b"peer", sock.address().port, "127.0.0.1")
    msg, rinfo = await inbox.get()
    assert msg == b"peer" and rinfo.port == peer.address().port
    await close(peer, other, sock)


async def test_connect_on_unbound_socket_binds_first() -> None:
    server = await bound()
    client = dgram.create_socket("udp4")
    seen: list[str] = []
    client.on("listening", lambda: seen.append("listening"))
    client.on("connect", lambda: seen.append("connect"))
    await client.connect(server.address().port)  # no address: localhost
    assert seen == ["listening", "connect"]
    await close(server, client)


async def test_disconnect_then_remote_address_is_ERR_SOCKET_DGRAM_NOT_CONNECTED() -> None:
    server, client = await echo_pair()
    inbox = Inbox(client)
    with pytest.raises(errors.NodeError) as info:
        client.remote_address()
    assert info.value.code == "ERR_SOCKET_DGRAM_NOT_CONNECTED"
    with pytest.raises(errors.NodeError):
        client.disconnect()
    await client.connect(server.address().port, "127.0.0.1")
    client.disconnect()
    with pytest.raises(errors.NodeError) as info2:
        client.remote_address()
    assert info2.value.code == "ERR_SOCKET_DGRAM_NOT_CONNECTED"
    # unconnected again: a destination is required, and works
    with pytest.raises(errors.NodeError):
        client.send(b"x")
    client.send(b"again", server.address().port, "127.0.0.1")
    assert (await inbox.get())[0] == b"again"
    await close(server, client)


async def test_connect_bad_port_raises_at_once() -> None:
    sock = dgram.create_socket("udp4")
    for bad in (0, 70000, "x"):
        with pytest.raises(errors.NodeError) as info:
            sock.connect(bad)
        assert info.value.code == "ERR_SOCKET_BAD_PORT"


async def test_connect_to_unresolvable_host_calls_back_with_the_error() -> None:
    sock = dgram.create_socket("udp4")
    result = Result()
    sock.connect(9, "nope.invalid", result)
    (err,) = await result.wait()
    assert err.code == "ENOTFOUND"
    assert sock.listener_count("connect") == 0
    # without a callback: 'error'
    sock.connect(9, "nope.invalid")
    (err2,) = await wait_event(sock, "error")
    assert err2.code == "ENOTFOUND"
    await close(sock)


async def test_connected_socket_to_closed_port_gets_ECONNREFUSED_from_recvmsg() -> None:
    server, _ = await echo_pair()
    await close(_)
    gone = await bound()
    port = gone.address().port
    await close(gone)
    sock = await bound()
    inbox = Inbox(sock)
    await sock.connect(port, "127.0.0.1")
    sock.send(b"anyone?")
    (err,) = await wait_event(sock, "error")
    assert err.code == "ECONNREFUSED" and err.syscall == "recvmsg"
    # the socket keeps working
    sock.disconnect()
    sock.send(b"echo", server.address().port, "127.0.0.1")
    assert (await inbox.get())[0] == b"echo"
    await close(server, sock)


# ---------------------------------------------------------------------------- close, ref


async def test_close_emits_close_once_on_a_later_iteration() -> None:
    sock = await bound()
    seen: list[str] = []
    sock.on("close", lambda: seen.append("close"))
    sock.close()
    assert seen == []  # Node emits 'close' on the next tick, not from close()
    await wait_event(sock, "close")
    assert seen == ["close"]


async def test_close_before_bind_finishes_never_emits_listening() -> None:
    sock = dgram.create_socket("udp4")
    seen: list[str] = []
    sock.on("listening", lambda: seen.append("listening"))
    sock.bind(0, "127.0.0.1")
    await sock.close()
    assert seen == []


async def test_close_after_queued_sends_runs_after_them() -> None:
    server = await bound()
    inbox = Inbox(server)
    client = dgram.create_socket("udp4")
    result = Result()
    client.send(b"last words", server.address().port, "127.0.0.1", result)
    client.close()
    await client
    assert await result.wait() == (None, 10)
    assert (await inbox.get())[0] == b"last words"
    await close(server)


async def test_bound_socket_keeps_the_runtime_busy_until_close_and_unref_releases_it() -> None:
    state = runtime.loop_state(asyncio.get_running_loop())
    before = state.refs
    sock = await bound()
    assert state.refs == before + 1
    sock.unref()
    assert state.refs == before
    sock.ref()
    assert state.refs == before + 1
    await sock.close()
    await until(lambda: state.refs == before)
    # a failed bind does not keep the process alive either
    taken = await bound()
    failing = dgram.create_socket("udp4")
    failing.on("error", lambda err: None)
    failing.bind(taken.address().port, "127.0.0.1")
    await wait_event(failing, "error")
    assert state.refs == before + 1  # only `taken`
    await close(taken)


async def test_listener_that_raises_loses_one_datagram_and_the_socket_keeps_serving() -> None:
    server = await bound()
    caught: list[BaseException] = []
    process.on("uncaughtException", lambda exc, origin: caught.append(exc))
    try:
        got: list[bytes] = []

        def on_message(msg: bytes, rinfo: Any) -> None:
            if msg == b"boom":
                raise RuntimeError("listener failed")
            got.append(msg)

        server.on("message", on_message)
        client = await bound()
        client.send(b"boom", server.address().port, "127.0.0.1")
        client.send(b"fine", server.address().port, "127.0.0.1")
        await until(lambda: got == [b"fine"])
        assert [type(e) for e in caught] == [RuntimeError]
        await close(server, client)
    finally:
        process.remove_all_listeners("uncaughtException")


# ---------------------------------------------------------------------------- async styles


async def test_async_for_yields_messages_until_close() -> None:
    server = await bound()
    client = await bound()
    for i in range(5):
        client.send(f"n{i}", server.address().port, "127.0.0.1")
    got: list[bytes] = []
    async for msg, rinfo in server:
        got.append(msg)
        assert rinfo.port == client.address().port
        if len(got) == 5:
            server.close()
    assert got == [b"n0", b"n1", b"n2", b"n3", b"n4"]
    assert server.listener_count("message") == 0
    await close(client)


async def test_async_for_raises_the_error_event() -> None:
    sock = await bound()

    async def consume() -> None:
        async for _ in sock:
            pass

    task = asyncio.ensure_future(consume())
    await until(lambda: sock.listener_count("error") == 1)
    err = errors.system_error(errno.ECONNREFUSED, "recvmsg")
    sock.emit("error", err)
    with pytest.raises(OSError) as info:
        await wait_for(task)
    assert info.value is err
    await close(sock)


async def test_events_once_works_on_dgram_events() -> None:
    server = await bound()
    client = await bound()
    waiting = asyncio.ensure_future(events.once(server, "message"))
    await until(lambda: server.listener_count("message") == 1)
    client.send(b"once", server.address().port, "127.0.0.1")
    msg, rinfo = await wait_for(waiting)
    assert msg == b"once" and rinfo.size == 4
    await close(server, client)


async def test_await_close_waits_for_close_even_on_a_never_bound_socket() -> None:
    sock = dgram.create_socket("udp4")
    seen: list[str] = []
    sock.on("close", lambda: seen.append("close"))
    await sock.close()
    assert seen == ["close"]
    await sock  # settled: returns at once
