"""``socket.set_timeout``: ``'timeout'`` once per idle period, Node's argument checks.

Node's oracle for the event sequence: tests/interop/test_net_node_oracle.py.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.helpers import wait_event, wait_for

from nodish import errors, net, timers


async def pause_for(seconds: float) -> None:
    """Let ``seconds`` of loop time pass (on nodish's own timer)."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    timers.set_timeout(lambda: fut.set_result(None), seconds)
    await wait_for(fut)


async def test_timeout_comes_once_per_idle_period_and_activity_rearms_it() -> None:
    server = net.create_server(lambda s: s.pipe(s))
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    fired: list[float] = []
    sock.on("timeout", lambda: fired.append(asyncio.get_running_loop().time()))
    sock.set_timeout(0.05)
    await wait_event(sock, "timeout")
    await pause_for(0.4)  # eight more periods of idleness
    assert len(fired) == 1
    sock.write(b"activity")  # a write and the echoed read start a new period
    await wait_event(sock, "data")
    await wait_event(sock, "timeout")
    await pause_for(0.3)
    assert len(fired) == 2
    sock.destroy()
    await wait_event(sock, "close")
    server.close()
    await wait_event(server, "close")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, -0.5])
async def test_set_timeout_out_of_range_is_ERR_OUT_OF_RANGE(value: float) -> None:
    sock = net.Socket()
    with pytest.raises(errors.ERR_OUT_OF_RANGE) as info:
        sock.set_timeout(value)
    assert isinstance(info.value, ValueError)
    assert sock.timeout is None


@pytest.mark.parametrize("value", ["1", None, True, b"1"])
async def test_set_timeout_not_a_number_is_ERR_INVALID_ARG_TYPE(value: object) -> None:
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        net.Socket().set_timeout(value)  # type: ignore[arg-type]
