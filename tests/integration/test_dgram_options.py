"""dgram.Socket's options: reuse, IPv6-only, buffers, TTLs, broadcast, multicast.

Runs on uvloop and on plain asyncio. Option errors are thrown at once with Node's
system-error shape (``setTTL EINVAL``); an unbound socket answers ``EBADF`` as libuv's
does, a closed one ``ERR_SOCKET_DGRAM_NOT_RUNNING``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from tests.helpers import until, wait_for

from nodish import dgram, errors


async def close(*socks: dgram.Socket) -> None:
    for sock in socks:
        if not sock._closed:
            await sock.close()


def free_udp_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


async def test_reuse_addr_lets_two_sockets_bind_one_port() -> None:
    first = await dgram.create_socket("udp4", reuse_addr=True).bind(0, "127.0.0.1")
    port = first.address().port
    second = await dgram.create_socket("udp4", reuse_addr=True).bind(port, "127.0.0.1")
    assert second.address().port == port
    plain = dgram.create_socket("udp4")
    with pytest.raises(OSError) as info:
        await plain.bind(port, "127.0.0.1")
    assert info.value.code == "EADDRINUSE"
    await close(first, second, plain)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
async def test_reuse_port_spreads_one_port_over_two_sockets() -> None:
    a = await dgram.create_socket("udp4", reuse_port=True).bind(0, "127.0.0.1")
    port = a.address().port
    b = await dgram.create_socket("udp4", reuse_port=True).bind(port, "127.0.0.1")
    got: list[str] = []
    a.on("message", lambda *_: got.append("a"))
    b.on("message", lambda *_: got.append("b"))
    # different source ports hash to the sockets; some of 64 senders reach each
    senders = [await dgram.create_socket("udp4").bind(0, "127.0.0.1") for _ in range(64)]
    for s in senders:
        s.send(b"x", port, "127.0.0.1")
    await until(lambda: len(got) == 64)
    assert set(got) == {"a", "b"}
    await close(a, b, *senders)


async def test_ipv6_only_leaves_the_ipv4_port_free() -> None:
    v6 = await dgram.create_socket("udp6", ipv6_only=True).bind(0)
    port = v6.address().port
    v4 = await dgram.create_socket("udp4").bind(port)  # would be EADDRINUSE if dual-stack
    assert v4.address().port == port
    await close(v6, v4)
    dual = await dgram.create_socket("udp6").bind(0)
    clash = dgram.create_socket("udp4")
    with pytest.raises(OSError) as info:
        await clash.bind(dual.address().port)
    assert info.value.code == "EADDRINUSE"
    await close(dual, clash)


async def test_buffer_sizes_from_create_socket_and_setters() -> None:
    sock = dgram.create_socket("udp4", recv_buffer_size=100_000, send_buffer_size=50_000)
    with pytest.raises(errors.NodeError) as info:
        sock.get_recv_buffer_size()
    assert info.value.code == "ERR_SOCKET_BUFFER_SIZE"  # unbound: EBADF underneath
    await sock.bind(0, "127.0.0.1")
    # Linux doubles what was asked, for its bookkeeping; Node reports the same
    assert sock.get_recv_buffer_size() >= 100_000
    assert sock.get_send_buffer_size() >= 50_000
    sock.set_recv_buffer_size(300_000)
    sock.set_send_buffer_size(150_000)
    assert sock.get_recv_buffer_size() >= 300_000
    assert sock.get_send_buffer_size() >= 150_000
    for bad in (-1, "1", 2**32, 1.0):
        with pytest.raises(errors.NodeError) as info2:
            sock.set_recv_buffer_size(bad)
        assert info2.value.code == "ERR_SOCKET_BAD_BUFFER_SIZE"
    await close(sock)


async def test_options_on_unbound_socket_are_EBADF_and_on_closed_not_running() -> None:
    sock = dgram.create_socket("udp4")
    calls = {
        "setBroadcast": lambda: sock.set_broadcast(True),
        "setTTL": lambda: sock.set_ttl(64),
        "setMulticastTTL": lambda: sock.set_multicast_ttl(1),
        "setMulticastLoopback": lambda: sock.set_multicast_loopback(True),
        "setMulticastInterface": lambda: sock.set_multicast_interface("127.0.0.1"),
        "addMembership": lambda: sock.add_membership("224.0.0.114"),
        "dropMembership": lambda: sock.drop_membership("224.0.0.114"),
    }
    for syscall, call in calls.items():
        with pytest.raises(OSError) as info:
            call()
        assert info.value.code == "EBADF" and info.value.syscall == syscall
    await sock.bind(0, "127.0.0.1")
    await sock.close()
    for call in calls.values():
        with pytest.raises(errors.NodeError) as info2:
            call()
        assert info2.value.code == "ERR_SOCKET_DGRAM_NOT_RUNNING"


@pytest.mark.parametrize("type_", ["udp4", "udp6"])
async def test_ttl_setters_return_the_value_and_refuse_out_of_range_with_EINVAL(
    type_: str,
) -> None:
    sock = await dgram.create_socket(type_).bind(0)
    assert sock.set_ttl(64) == 64
    assert sock.set_multicast_ttl(0) == 0
    assert sock.set_multicast_ttl(255) == 255
    assert sock.set_multicast_loopback(False) is False
    for call, syscall in (
        (lambda: sock.set_ttl(0), "setTTL"),
        (lambda: sock.set_ttl(256), "setTTL"),
        (lambda: sock.set_multicast_ttl(256), "setMulticastTTL"),
    ):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.code == "EINVAL" and info.value.syscall == syscall
    with pytest.raises(errors.NodeError) as info2:
        sock.set_ttl("64")  # type: ignore[arg-type]
    assert info2.value.code == "ERR_INVALID_ARG_TYPE"
    await close(sock)


async def test_broadcast_needs_set_broadcast_then_reaches_the_receiver() -> None:
    # 127.255.255.255 is the loopback network's broadcast address on Linux; a socket
    # bound to every interface receives what is broadcast there.
    receiver = await dgram.create_socket("udp4").bind(0)
    port = receiver.address().port
    sender = await dgram.create_socket("udp4").bind(0, "127.0.0.1")
    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sender.send(b"everyone", port, "127.255.255.255", lambda err, n=None: refused.set_result(err))
    err = await wait_for(refused)
    assert err is not None and err.code == "EACCES"  # no SO_BROADCAST: the kernel refuses
    sender.set_broadcast(True)
    message: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    receiver.once("message", lambda *args: message.set_result(args))
    sent: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sender.send(b"everyone", port, "127.255.255.255", lambda err, n=None: sent.set_result((err, n)))
    assert await wait_for(sent) == (None, 8)
    msg, rinfo = await wait_for(message)
    assert msg == b"everyone" and rinfo.port == sender.address().port
    await close(receiver, sender)


async def test_multicast_membership_receives_the_group_on_this_host() -> None:
    group = "239.255.42.99"
    port = free_udp_port()
    receiver = await dgram.create_socket("udp4", reuse_addr=True).bind(port)
    try:
        receiver.add_membership(group)
    except OSError as exc:
        await close(receiver)
        pytest.skip(f"the kernel refuses multicast membership here: {exc.code}")
    sender = await dgram.create_socket("udp4").bind(0)
    sender.set_multicast_ttl(1)
    sender.set_multicast_loopback(True)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    receiver.on("message", lambda msg, rinfo: got.put_nowait(msg))
    sender.send(b"to the group", port, group)
    try:
        msg = await asyncio.wait_for(got.get(), 2)
    except asyncio.TimeoutError:
        await close(receiver, sender)
        pytest.skip("multicast loopback is not routed on this host (no multicast route)")
    assert msg == b"to the group"
    # membership errors follow the kernel, thrown at once with Node's syscall names
    with pytest.raises(OSError) as info:
        receiver.add_membership(group)
    assert info.value.code == "EADDRINUSE" and info.value.syscall == "addMembership"
    with pytest.raises(OSError) as info2:
        receiver.add_membership("10.1.2.3")
    assert info2.value.code == "EINVAL"
    with pytest.raises(OSError) as info3:
        receiver.add_membership(group, "not-an-ip")
    assert info3.value.code == "EINVAL"
    receiver.drop_membership(group)
    with pytest.raises(OSError) as info4:
        receiver.drop_membership(group)
    assert info4.value.code == "EADDRNOTAVAIL" and info4.value.syscall == "dropMembership"
    await close(receiver, sender)


async def test_source_specific_membership_on_ipv4() -> None:
    sock = await dgram.create_socket("udp4", reuse_addr=True).bind(0)
    try:
        sock.add_source_specific_membership("127.0.0.1", "232.1.1.1")
    except OSError as exc:
        await close(sock)
        pytest.skip(f"the kernel refuses source-specific multicast here: {exc.code}")
    sock.drop_source_specific_membership("127.0.0.1", "232.1.1.1")
    with pytest.raises(OSError) as info:
        sock.add_source_specific_membership("127.0.0.1", "::1")
    assert info.value.code == "EINVAL" and info.value.syscall == "addSourceSpecificMembership"
    await close(sock)


async def test_set_multicast_interface_checks_the_address() -> None:
    sock = await dgram.create_socket("udp4").bind(0)
    sock.set_multicast_interface("127.0.0.1")
    with pytest.raises(OSError) as info:
        sock.set_multicast_interface("zz")
    assert info.value.code == "EINVAL" and info.value.syscall == "setMulticastInterface"
    with pytest.raises(OSError) as info2:
        sock.set_multicast_interface("10.9.9.9")  # no interface has it
    assert info2.value.code == "EADDRNOTAVAIL"
    await close(sock)
    v6 = await dgram.create_socket("udp6").bind(0)
    v6.set_multicast_interface("::%lo")
    # the address picks the option, as libuv: IPv4 on udp6 is its mapped traffic's
    v6.set_multicast_interface("127.0.0.1")
    with pytest.raises(OSError) as info3:
        v6.set_multicast_interface("bogus")
    assert info3.value.code == "EINVAL"
    await close(v6)
    v4 = await dgram.create_socket("udp4").bind(0)
    with pytest.raises(OSError) as info4:
        v4.set_multicast_interface("::1")
    assert info4.value.code == "ENOPROTOOPT"
    await close(v4)
