"""Callbacks of net.Socket and net.Server: refused at the call when not callable, and
always called, even when the socket is destroyed before it connects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import next_event, wait_event, wait_for

from nodish import errors, net


async def test_non_callable_write_callback_raises_and_the_data_all_arrives() -> None:
    got: list[bytes] = []
    ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_connection(s: net.Socket) -> None:
        s.on("data", got.append)
        s.on("end", lambda: ended.set_result(None))

    server = net.create_server(on_connection)
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    closed = next_event(sock, "close")
    errors_seen: list[BaseException] = []
    sock.on("error", errors_seen.append)
    sock.write(b"one ")
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        sock.write(b"never", callback=123)  # type: ignore[arg-type]
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        sock.end(b"never", callback="done")  # type: ignore[arg-type]
    sock.write(b"two ")
    sock.end(b"three")
    await wait_for(ended)
    assert b"".join(got) == b"one two three"
    assert (await wait_for(closed)) == (False,)
    assert errors_seen == []
    server.close()
    await wait_event(server, "close")


async def test_every_net_callback_argument_is_checked_at_the_call() -> None:
    server = net.create_server()
    for call in (
        lambda: server.listen(0, "127.0.0.1", callback=1),
        lambda: server.close(callback=1),
        lambda: server.get_connections(callback=1),
        lambda: net.connect(1, "127.0.0.1", callback=1),
        lambda: net.Socket().connect(1, "127.0.0.1", callback=1),
        lambda: net.Socket().set_timeout(1, callback=1),
    ):
        with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
            call()
    assert not server.listening


def collect(sock: net.Socket, log: list[Any]) -> None:
    def cb(name: str) -> Any:
        return lambda err=None: log.append([name, getattr(err, "code", None)])

    sock.write(b"a", callback=cb("w1"))
    sock.write(b"b", callback=cb("w2"))
    sock.end(b"c", callback=cb("end"))


async def test_destroy_while_connecting_calls_every_write_and_end_callback() -> None:
    # Node v20 (tests/interop/test_net_node_oracle.py runs the same script in Node)
    server = net.create_server()
    await server.listen(0, "127.0.0.1")
    log: list[Any] = []
    sock = net.connect(server.address().port, "127.0.0.1")
    collect(sock, log)
    sock.on("error", lambda e: log.append(["error", e.code]))
    closed = next_event(sock, "close")
    sock.destroy()
    (had_error,) = await wait_for(closed)
    assert log == [
        ["w1", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"],
        ["w2", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"],
        ["end", "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"],
    ]
    assert had_error is False
    server.close()
    await wait_event(server, "close")


async def test_awaiting_a_write_queued_while_connecting_ends_when_destroyed() -> None:
    server = net.create_server()
    await server.listen(0, "127.0.0.1")
    sock = net.connect(server.address().port, "127.0.0.1")
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    sock.write(b"x", callback=lambda err=None: done.set_result(err))
    closed = next_event(sock, "close")
    sock.destroy()
    err = await wait_for(done)
    assert err.code == "ERR_SOCKET_CLOSED_BEFORE_CONNECTION"
    await wait_for(closed)
    server.close()
    await wait_event(server, "close")
