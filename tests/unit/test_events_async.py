"""The awaitable side of events: events.once, events.on, coroutine listeners."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from nodish import events, process, runtime
from nodish.errors import NodeError
from nodish.events import EventEmitter

# -- events.once ------------------------------------------------------------------


async def waiting(coro: Any) -> asyncio.Future[Any]:
    """``coro`` started as a task that has run up to its first wait."""
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    return task


async def test_events_once_resolves_with_the_event_arguments_as_a_tuple() -> None:
    e = EventEmitter()
    task = await waiting(events.once(e, "data"))
    e.emit("data", b"x", 2)
    assert await asyncio.wait_for(task, 5) == (b"x", 2)
    assert e.event_names() == []


async def test_events_once_raises_when_error_is_emitted_first() -> None:
    e = EventEmitter()
    err = ConnectionResetError("reset")
    task = await waiting(events.once(e, "data"))
    e.emit("error", err)
    with pytest.raises(ConnectionResetError) as info:
        await asyncio.wait_for(task, 5)
    assert info.value is err
    assert e.event_names() == []


async def test_events_once_of_error_resolves_with_the_error() -> None:
    e = EventEmitter()
    err = ValueError("x")
    task = await waiting(events.once(e, "error"))
    e.emit("error", err)
    assert await asyncio.wait_for(task, 5) == (err,)


async def test_events_once_with_a_non_exception_error_raises_err_unhandled_error() -> None:
    e = EventEmitter()
    task = await waiting(events.once(e, "data"))
    e.emit("error", "text")
    with pytest.raises(NodeError) as info:
        await asyncio.wait_for(task, 5)
    assert info.value.code == "ERR_UNHANDLED_ERROR"


async def test_events_once_cancelled_removes_its_listeners() -> None:
    e = EventEmitter()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(events.once(e, "data"), 0.01)
    assert e.event_names() == []
    task = await waiting(events.once(e, "data"))
    assert e.listener_count("data") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert e.event_names() == []


async def test_events_once_handles_error_so_emit_error_does_not_raise() -> None:
    e = EventEmitter()
    task = await waiting(events.once(e, "data"))
    assert e.emit("error", ValueError("handled by the waiter")) is True
    with pytest.raises(ValueError):
        await task


# -- events.on --------------------------------------------------------------------


async def test_events_on_yields_each_emission_in_order_including_queued_ones() -> None:
    e = EventEmitter()
    it = events.on(e, "data")
    e.emit("data", 1)
    e.emit("data", 2)  # queued while nobody is waiting
    got = [await it.__anext__(), await it.__anext__()]
    asyncio.get_running_loop().call_soon(e.emit, "data", 3)
    got.append(await asyncio.wait_for(it.__anext__(), 5))
    assert got == [(1,), (2,), (3,)]


async def test_events_on_raises_on_error_after_the_events_queued_before_it() -> None:
    e = EventEmitter()
    got: list[Any] = []
    it = events.on(e, "data")
    e.emit("data", 1)
    e.emit("error", ValueError("bad"))
    e.emit("data", 2)  # after the error: not delivered (Node)
    with pytest.raises(ValueError):
        async for (n,) in it:
            got.append(n)
    assert got == [1]
    assert e.event_names() == []


async def test_events_on_close_events_end_the_iteration_after_queued_events() -> None:
    e = EventEmitter()
    got: list[Any] = []

    def produce() -> None:
        e.emit("data", b"a")
        e.emit("data", b"b")
        e.emit("end")
        e.emit("data", b"late")

    asyncio.get_running_loop().call_soon(produce)
    async for (chunk,) in events.on(e, "data", close=("end",)):
        got.append(chunk)
    assert got == [b"a", b"b"]
    assert e.event_names() == []


async def test_leaving_an_events_on_loop_removes_its_listeners() -> None:
    e = EventEmitter()
    asyncio.get_running_loop().call_soon(e.emit, "data", 1)
    async for _ in events.on(e, "data"):
        break
    gc.collect()  # CPython drops the iterator at once; this is for other runtimes
    assert e.event_names() == []
    it = events.on(e, "data")
    assert e.listener_count("data") == 1
    await it.aclose()  # type: ignore[attr-defined]
    assert e.event_names() == []


async def test_events_on_cancelled_while_waiting_leaves_the_emitter_usable() -> None:
    e = EventEmitter()
    it = events.on(e, "data")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(it.__anext__(), 0.01)
    e.emit("data", "after")
    assert await asyncio.wait_for(it.__anext__(), 5) == ("after",)
    await it.aclose()  # type: ignore[attr-defined]


class Pausable(EventEmitter):
    __slots__ = ("log",)

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def pause(self) -> None:
        self.log.append("pause")

    def resume(self) -> None:
        self.log.append("resume")


async def test_events_on_pauses_above_the_high_water_mark_and_resumes_below_the_low() -> None:
    e = Pausable()
    it = events.on(e, "data", high_water_mark=2, low_water_mark=1)
    for i in range(4):
        e.emit("data", i)
    assert e.log == ["pause"]  # paused once, when the queue went above 2
    assert [await it.__anext__() for _ in range(3)] == [(0,), (1,), (2,)]
    assert e.log == ["pause"]  # one left: not below the low water mark yet
    assert await it.__anext__() == (3,)
    assert e.log == ["pause", "resume"]
    await it.aclose()  # type: ignore[attr-defined]


# -- coroutine listeners -------------------------------------------------------


async def test_a_coroutine_listener_is_started_as_a_task_and_keeps_the_loop_busy() -> None:
    e = EventEmitter()
    done = asyncio.get_running_loop().create_future()

    async def listener(x: int) -> None:
        await asyncio.sleep(0)
        done.set_result(x)

    e.on("x", listener)
    assert e.emit("x", 7) is True
    st = runtime.loop_state(asyncio.get_running_loop())
    assert len(st.tasks) == 1
    assert await asyncio.wait_for(done, 5) == 7
    await asyncio.wait_for(runtime.wait_idle(), 5)
    assert not st.tasks


async def test_a_coroutine_listener_is_listed_and_removed_by_its_function() -> None:
    e = EventEmitter()

    async def listener() -> None: ...

    e.on("x", listener).once("y", listener)
    assert e.listeners("x") == [listener]
    assert e.raw_listeners("x") == [listener]
    assert e.raw_listeners("y")[0].listener is listener  # type: ignore[attr-defined]
    e.off("x", listener).off("y", listener)
    assert e.event_names() == []


async def test_a_failing_coroutine_listener_emits_error_with_capture_rejections() -> None:
    e = EventEmitter(capture_rejections=True)
    err = ValueError("rejected")

    async def listener() -> None:
        raise err

    e.on("x", listener)
    waiter = await waiting(events.once(e, "error"))
    e.emit("x")
    assert await asyncio.wait_for(waiter, 5) == (err,)


async def test_capture_rejections_default_comes_from_the_class_attribute() -> None:
    assert EventEmitter().capture_rejections is False
    EventEmitter.capture_rejections = True
    try:
        assert EventEmitter()._capture_rejections is True
    finally:
        EventEmitter.capture_rejections = False


async def test_a_failing_async_error_listener_goes_to_the_uncaught_path_not_a_loop() -> None:
    e = EventEmitter(capture_rejections=True)
    got: list[Any] = []

    async def failing(*_: Any) -> None:
        raise KeyError("again")

    e.on("x", failing)
    e.on("error", failing)
    done = asyncio.get_running_loop().create_future()

    def on_uncaught(exc: BaseException, origin: str) -> None:
        got.append((type(exc), origin))
        done.set_result(None)

    process.on("uncaughtException", on_uncaught)
    try:
        e.emit("x")
        await asyncio.wait_for(done, 5)
        await asyncio.wait_for(runtime.wait_idle(), 5)
    finally:
        process.off("uncaughtException", on_uncaught)
    assert got == [(KeyError, "unhandledRejection")]


async def test_a_failing_coroutine_listener_without_capture_reaches_the_uncaught_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    e = EventEmitter()

    async def listener() -> None:
        raise ValueError("nobody catches me")

    e.on("x", listener)
    with caplog.at_level(logging.ERROR, logger="nodish"):
        e.emit("x")
        await asyncio.wait_for(runtime.wait_idle(), 5)
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


async def test_unhandled_rejection_listener_receives_the_error_and_the_task() -> None:
    e = EventEmitter()
    got: list[Any] = []

    async def listener() -> None:
        raise ValueError("rejected")

    process.on("unhandledRejection", lambda exc, task: got.append((exc, task)))
    try:
        e.on("x", listener)
        e.emit("x")
        await asyncio.wait_for(runtime.wait_idle(), 5)
    finally:
        process.remove_all_listeners("unhandledRejection")
    ((exc, task),) = got
    assert isinstance(exc, ValueError)
    assert isinstance(task, asyncio.Task)


async def test_a_cancelled_coroutine_listener_is_not_an_error() -> None:
    e = EventEmitter(capture_rejections=True)
    started = asyncio.get_running_loop().create_future()

    async def listener() -> None:
        started.set_result(None)
        await asyncio.sleep(3600)

    e.on("x", listener)
    e.on("error", lambda err: pytest.fail(f"cancellation became an error: {err!r}"))
    e.emit("x")
    await asyncio.wait_for(started, 5)
    st = runtime.loop_state(asyncio.get_running_loop())
    for task in list(st.tasks):
        task.cancel()
    await asyncio.wait_for(runtime.wait_idle(), 5)
