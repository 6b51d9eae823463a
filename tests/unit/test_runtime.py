"""The runtime's books and its uncaught-exception path, inside a running loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import weakref
from typing import Any

import pytest

from nodish import process, runtime, timers
from nodish.runtime import HandleRef


def state() -> Any:
    return runtime.loop_state(asyncio.get_running_loop())


async def not_done_after_turns(task: asyncio.Future[Any], turns: int = 10) -> bool:
    for _ in range(turns):
        await asyncio.sleep(0)
    return not task.done()


# -- loops -------------------------------------------------------------------------


async def test_get_loop_inside_a_running_loop_is_that_loop() -> None:
    assert runtime.get_loop() is asyncio.get_running_loop()


def test_get_loop_outside_a_loop_is_one_default_loop_per_thread() -> None:
    loop = runtime.get_loop()
    try:
        assert runtime.get_loop() is loop
        assert not loop.is_running()
        other: list[asyncio.AbstractEventLoop] = []
        t = threading.Thread(target=lambda: other.append(runtime.get_loop()))
        t.start()
        t.join()
        assert other[0] is not loop
        other[0].close()
    finally:
        loop.close()
    assert runtime.get_loop() is not loop  # a closed default loop is replaced
    runtime.get_loop().close()


def test_the_books_of_a_loop_do_not_keep_the_loop_alive() -> None:
    loop = runtime.new_event_loop()
    h = HandleRef(loop)
    h.open()
    h.close()
    ref = weakref.ref(loop)
    other = runtime.new_event_loop()
    runtime.loop_state(other)  # move the lookup cache on
    other.close()
    loop.close()
    del loop, h
    gc.collect()
    assert ref() is None


# -- HandleRef ---------------------------------------------------------------------


async def test_an_open_referenced_handle_counts_and_close_releases_it() -> None:
    st = state()
    h = HandleRef(asyncio.get_running_loop())
    assert (h.active, h.refed, st.refs) == (False, True, 0)
    h.open()
    h.open()  # idempotent
    assert (h.active, st.refs) == (True, 1)
    assert h in st.handles
    h.close()
    h.close()
    assert (h.active, st.refs) == (False, 0)
    assert h not in st.handles


async def test_unref_and_ref_move_a_handle_out_of_and_into_the_count() -> None:
    st = state()
    h = HandleRef(asyncio.get_running_loop())
    h.unref()  # before open: remembered
    h.open()
    assert st.refs == 0 and h in st.handles
    h.ref()
    h.ref()
    assert st.refs == 1
    h.unref()
    h.unref()
    assert st.refs == 0
    h.close()
    assert st.refs == 0 and not st.handles


# -- wait_idle ---------------------------------------------------------------------


async def test_wait_idle_stays_while_a_handle_is_referenced_and_returns_once_closed() -> None:
    h = HandleRef(asyncio.get_running_loop())
    h.open()
    waiter = asyncio.ensure_future(runtime.wait_idle())
    assert await not_done_after_turns(waiter)
    h.close()
    await asyncio.wait_for(waiter, 5)


async def test_wait_idle_returns_when_the_last_handle_is_unrefd() -> None:
    h = HandleRef(asyncio.get_running_loop())
    h.open()
    waiter = asyncio.ensure_future(runtime.wait_idle())
    assert await not_done_after_turns(waiter)
    h.unref()
    await asyncio.wait_for(waiter, 5)
    h.close()


async def test_several_waiters_all_wake_and_one_cancelled_does_not_cancel_the_others() -> None:
    h = HandleRef(asyncio.get_running_loop())
    h.open()
    a = asyncio.ensure_future(runtime.wait_idle())
    b = asyncio.ensure_future(runtime.wait_idle())
    c = asyncio.ensure_future(runtime.wait_idle())
    assert await not_done_after_turns(a)
    c.cancel()
    assert await not_done_after_turns(a)
    h.close()
    await asyncio.wait_for(asyncio.gather(a, b), 5)
    assert c.cancelled()


async def test_a_close_listener_that_opens_a_new_handle_keeps_wait_idle_waiting() -> None:
    loop = asyncio.get_running_loop()
    first, second = HandleRef(loop), HandleRef(loop)
    first.open()
    waiter = asyncio.ensure_future(runtime.wait_idle())
    await asyncio.sleep(0)

    def closing() -> None:
        first.close()
        # what a 'close' listener would do, from a callback queued by the close
        loop.call_soon(runtime.call_soon, second.open)

    closing()
    assert await not_done_after_turns(waiter)
    assert second.active
    second.close()
    await asyncio.wait_for(waiter, 5)


async def test_a_chain_of_ticks_keeps_wait_idle_waiting_until_its_last_link() -> None:
    done: list[int] = []
    loop = asyncio.get_running_loop()
    h = HandleRef(loop)

    def link(n: int) -> None:
        if n == 0:
            h.open()
            timers.set_timeout(lambda: (done.append(1), h.close()), 0.001)
        else:
            runtime.next_tick(link, n - 1)

    link(20)
    await asyncio.wait_for(runtime.wait_idle(), 5)
    assert done == [1]


async def test_call_soon_keeps_wait_idle_waiting_but_a_cancelled_one_does_not_hang_it() -> None:
    ran: list[int] = []
    handle = runtime.call_soon(ran.append, 1)
    kept = runtime.call_soon(ran.append, 2)
    handle.cancel()
    assert state().soon == 2
    await asyncio.wait_for(runtime.wait_idle(), 5)
    assert ran == [2] and kept is not None
    assert state().soon == 0


async def test_spawned_tasks_keep_wait_idle_waiting() -> None:
    release = asyncio.get_running_loop().create_future()
    finished: list[str] = []

    async def work() -> None:
        await release
        finished.append("done")

    runtime.spawn(work())
    waiter = asyncio.ensure_future(runtime.wait_idle())
    assert await not_done_after_turns(waiter)
    release.set_result(None)
    await asyncio.wait_for(waiter, 5)
    assert finished == ["done"]


# -- the uncaught path ------------------------------------------------------------


class Owner:
    def __init__(self) -> None:
        self.destroyed = 0

    def destroy(self) -> None:
        self.destroyed += 1


class HookedOwner(Owner):
    def __init__(self) -> None:
        super().__init__()
        self.hooked: list[BaseException] = []

    def _on_uncaught(self, exc: BaseException) -> None:
        self.hooked.append(exc)


def test_without_a_listener_the_traceback_is_logged_and_the_owner_destroyed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = Owner()
    err = ValueError("callback failed")
    with caplog.at_level(logging.ERROR, logger="nodish"):
        runtime.report_uncaught(err, owner)
    (record,) = caplog.records
    assert record.name == "nodish"
    assert record.exc_info is not None and record.exc_info[1] is err
    assert "Owner" in record.getMessage()
    assert owner.destroyed == 1


def test_uncaught_exception_listeners_receive_the_error_and_its_origin() -> None:
    got: list[tuple[BaseException, str]] = []
    listener = lambda exc, origin: got.append((exc, origin))  # noqa: E731
    process.on("uncaughtException", listener)
    try:
        err = ValueError("x")
        owner = Owner()
        runtime.report_uncaught(err, owner)
    finally:
        process.off("uncaughtException", listener)
    assert got == [(err, "uncaughtException")]
    assert owner.destroyed == 1  # its callback stopped half-way: destroyed all the same


def test_an_owner_with_an_on_uncaught_hook_gets_the_hook_instead_of_destroy() -> None:
    owner = HookedOwner()
    err = RuntimeError("x")
    logging.getLogger("nodish").disabled = True
    try:
        runtime.report_uncaught(err, owner)
    finally:
        logging.getLogger("nodish").disabled = False
    assert owner.hooked == [err] and owner.destroyed == 0


def test_keyboard_interrupt_and_system_exit_are_never_swallowed() -> None:
    owner = Owner()
    with pytest.raises(KeyboardInterrupt):
        runtime.report_uncaught(KeyboardInterrupt(), owner)
    with pytest.raises(SystemExit):
        runtime.guarded(owner, lambda: (_ for _ in ()).throw(SystemExit(3)))
    assert owner.destroyed == 0


def test_a_raising_uncaught_exception_listener_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad(exc: BaseException, origin: str) -> None:
        raise LookupError("listener broke")

    process.on("uncaughtException", bad)
    try:
        with caplog.at_level(logging.ERROR, logger="nodish"):
            runtime.report_uncaught(ValueError("x"), None)
    finally:
        process.off("uncaughtException", bad)
    assert any(r.exc_info and r.exc_info[0] is LookupError for r in caplog.records)


def test_a_failing_destroy_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def destroy(self) -> None:
            raise OSError("cannot destroy")

    with caplog.at_level(logging.ERROR, logger="nodish"):
        runtime.report_uncaught(ValueError("x"), Broken())
    assert any(r.exc_info and r.exc_info[0] is OSError for r in caplog.records)


async def test_call_soon_sends_an_exception_down_the_uncaught_path_with_its_owner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = Owner()
    done = asyncio.get_running_loop().create_future()

    def boom() -> None:
        raise ValueError("scheduled callback failed")

    with caplog.at_level(logging.ERROR, logger="nodish"):
        runtime.call_soon(boom, owner=owner)
        runtime.call_soon(done.set_result, "next callback runs")
        assert await asyncio.wait_for(done, 5) == "next callback runs"
    assert owner.destroyed == 1


async def test_a_failing_spawned_task_reports_with_origin_unhandled_rejection() -> None:
    got: list[tuple[str, str]] = []
    owner = Owner()

    async def fail() -> None:
        raise ValueError("task failed")

    listener = lambda exc, origin: got.append((str(exc), origin))  # noqa: E731
    process.on("uncaughtException", listener)
    try:
        runtime.spawn(fail(), owner)
        await asyncio.wait_for(runtime.wait_idle(), 5)
    finally:
        process.off("uncaughtException", listener)
    assert got == [("task failed", "unhandledRejection")]
    assert owner.destroyed == 1


async def test_spawn_on_error_receives_the_failure_instead() -> None:
    got: list[BaseException] = []
    owner = Owner()

    async def fail() -> None:
        raise ValueError("handled")

    runtime.spawn(fail(), owner, on_error=got.append)
    await asyncio.wait_for(runtime.wait_idle(), 5)
    assert [str(e) for e in got] == ["handled"] and owner.destroyed == 0


async def test_run_cannot_be_called_from_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        runtime.run()


async def test_a_failing_async_uncaught_exception_listener_is_logged_once_not_looped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def listener(exc: BaseException, origin: str) -> None:
        calls.append(origin)
        raise RuntimeError("the handler itself fails")

    process.on("uncaughtException", listener)
    try:
        with caplog.at_level(logging.ERROR, logger="nodish"):
            runtime.report_uncaught(ValueError("first"), None)
            await asyncio.wait_for(runtime.wait_idle(), 5)
    finally:
        process.off("uncaughtException", listener)
    assert calls == ["uncaughtException"]
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]
