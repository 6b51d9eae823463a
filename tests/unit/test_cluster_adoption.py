"""cluster's worker steps each connect_accepted_socket coroutine from callbacks instead
of a task per connection (child._Adoption): it must resume as a task would, and always
release its hold on the process."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from nodish import runtime
from nodish.cluster.child import _Adoption


class Sock:
    closed = False

    def close(self) -> None:
        self.closed = True


def _adoption(coro: Any) -> tuple[_Adoption, runtime.HandleRef, Sock]:
    loop = asyncio.get_running_loop()
    hold = runtime.HandleRef(loop)
    hold.open()
    sock = Sock()
    return _Adoption(loop, hold, sock, coro), hold, sock  # type: ignore[arg-type]


async def test_resumes_after_each_awaited_future_and_bare_yield() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    seen: list[Any] = []

    async def adopt() -> None:
        seen.append(await first)
        await asyncio.sleep(0)  # a bare yield
        seen.append(await second)

    adoption, hold, sock = _adoption(adopt())
    adoption.step()
    assert seen == [] and hold.active
    first.set_result(1)
    await asyncio.sleep(0)
    loop.call_soon(second.set_result, 2)
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == [1, 2]
    assert not hold.active and not sock.closed


async def test_an_os_error_closes_the_socket_quietly() -> None:
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    async def adopt() -> None:
        await waiter

    adoption, hold, sock = _adoption(adopt())
    adoption.step()
    waiter.set_exception(ConnectionResetError(104, "reset"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sock.closed and not hold.active


async def test_another_error_is_logged_and_the_socket_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def adopt() -> None:
        raise ValueError("bug")

    adoption, hold, sock = _adoption(adopt())
    with caplog.at_level(logging.ERROR, logger="nodish"):
        adoption.step()
    assert sock.closed and not hold.active
    assert "adopting a connection failed" in caplog.text


async def test_a_real_accepted_socket_becomes_the_servers() -> None:
    from nodish import net
    from nodish.cluster.child import _adopt

    got = asyncio.get_running_loop().create_future()
    server = net.Server(lambda s: got.set_result(s))
    a, b = socket.socketpair()
    a.setblocking(False)
    _adopt(server, a)
    sock = await asyncio.wait_for(got, 5)
    b.sendall(b"hi")
    (data,) = await asyncio.wait_for(_next(sock, "data"), 5)
    assert data == b"hi"
    sock.destroy()
    b.close()


def _next(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    from nodish import events

    return events.once(emitter, name)
