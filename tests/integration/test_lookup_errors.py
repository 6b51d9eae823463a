"""Every failure to resolve a host is a Node-coded error on the object that asked.

Python's resolver raises ``UnicodeError`` (not ``OSError``) for names the IDNA codec
refuses: a label over 63 characters, an empty label, a lone surrogate. These used to
escape into the loop and leave a socket connecting forever. Node v20 reports them as
``getaddrinfo ENOTFOUND`` (``EINVAL`` for a name that is not valid Unicode), then
``'close'``; tests/interop/test_net_node_oracle.py runs the same connects in Node.
None of these names reach a DNS server: they fail inside the process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import next_event, wait_event, wait_for

from nodish import dgram, errors, net

BAD_HOSTS = {
    "a" * 64 + ".example": "ENOTFOUND",  # a label over 63 characters
    "a..b": "ENOTFOUND",  # an empty label
    "x\ud800y": "EINVAL",  # a lone surrogate: not valid Unicode
}
IDS = ["long-label", "empty-label", "surrogate"]


@pytest.mark.parametrize(("host", "code"), BAD_HOSTS.items(), ids=IDS)
async def test_connect_to_a_name_the_resolver_refuses_is_lookup_error_then_close(
    host: str, code: str
) -> None:
    log: list[Any] = []
    sock = net.connect(80, host)
    sock.on("lookup", lambda err, *_: log.append(("lookup", err.code)))
    sock.on("error", lambda err: log.append(("error", err.code, err.syscall, err.hostname)))
    (had_error,) = await wait_for(next_event(sock, "close"))
    assert had_error is True
    assert log == [("lookup", code), ("error", code, "getaddrinfo", host)]
    assert not sock.connecting and sock.destroyed
    assert isinstance(sock.errored, OSError)
    str(sock.errored).encode("ascii")  # the message is printable whatever the name


@pytest.mark.parametrize(("host", "code"), BAD_HOSTS.items(), ids=IDS)
async def test_await_connect_raises_the_coded_error(host: str, code: str) -> None:
    with pytest.raises(OSError) as info:
        await wait_for(net.connect(80, host))
    assert info.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize(("host", "code"), BAD_HOSTS.items(), ids=IDS)
async def test_listen_on_a_name_the_resolver_refuses_emits_error(host: str, code: str) -> None:
    server = net.create_server()
    server.listen(0, host)
    (err,) = await wait_event(server, "error", error_rejects=False)
    assert err.code == code and err.syscall == "getaddrinfo"
    assert not server.listening
    # the server is usable afterwards
    await server.listen(0, "127.0.0.1")
    server.close()
    await wait_event(server, "close")


async def test_a_host_that_is_not_a_str_raises_at_the_call() -> None:
    for call in (
        lambda: net.connect(80, 123),
        lambda: net.connect(80, b"localhost"),
        lambda: net.connect(80, "localhost", local_address=1),
        lambda: net.create_server().listen(0, 123),
    ):
        with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
            call()


@pytest.mark.parametrize(("host", "code"), BAD_HOSTS.items(), ids=IDS)
async def test_dgram_send_to_a_refused_name_calls_back_then_sends_on(host: str, code: str) -> None:
    receiver = dgram.create_socket("udp4")
    await receiver.bind(0, "127.0.0.1")
    got = next_event(receiver, "message")
    sock = dgram.create_socket("udp4")
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sock.send(b"x", 9, host, lambda err=None, n=None: result.set_result(err))
    err = await wait_for(result)
    assert err.code == code and err.syscall == "getaddrinfo" and err.hostname == host
    # without a callback: 'error' on the socket
    sock.send(b"x", 9, host)
    (err2,) = await wait_event(sock, "error")
    assert err2.code == code
    sock.send(b"good", receiver.address().port, "127.0.0.1")
    assert (await wait_for(got))[0] == b"good"
    await sock.close()
    await receiver.close()


@pytest.mark.parametrize(("host", "code"), BAD_HOSTS.items(), ids=IDS)
async def test_dgram_bind_and_connect_to_a_refused_name_are_coded_errors(
    host: str, code: str
) -> None:
    sock = dgram.create_socket("udp4")
    sock.bind(0, host)
    (err,) = await wait_event(sock, "error")
    assert err.code == code and err.syscall == "getaddrinfo"
    await sock.bind(0, "127.0.0.1")  # and it can bind again
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sock.connect(9, host, lambda err=None: result.set_result(err))
    assert (await wait_for(result)).code == code
    await sock.close()


async def test_listen_on_an_empty_host_binds_every_interface_as_node() -> None:
    # Node v20: server.listen(0, '') listens on '::' (or 0.0.0.0), like no host at all
    server = net.create_server()
    await server.listen(0, "")
    assert server.address().address in ("::", "0.0.0.0")
    server.close()
    await wait_event(server, "close")
