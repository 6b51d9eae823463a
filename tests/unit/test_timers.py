"""Timers: each test is one rule of Node's timers documentation (v20), in seconds."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from nodish import process, runtime, timers
from nodish.errors import NodeError
from nodish.timers import TIMEOUT_MAX, TimeoutOverflowWarning


def refs() -> int:
    return runtime.loop_state(asyncio.get_running_loop()).refs


def future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


async def settle(fut: asyncio.Future[Any]) -> Any:
    return await asyncio.wait_for(fut, 5)


# -- delays ------------------------------------------------------------------------


async def test_a_delay_below_one_millisecond_becomes_one_millisecond() -> None:
    for delay in (0, 0.0002, -5, float("nan"), None):
        t = timers.set_timeout(lambda: None, delay)
        assert t.delay == 0.001
        t.close()


async def test_a_delay_above_timeout_max_warns_and_becomes_one_millisecond() -> None:
    with pytest.warns(TimeoutOverflowWarning):
        t = timers.set_timeout(lambda: None, TIMEOUT_MAX + 1)
    assert t.delay == 0.001
    t.close()
    t = timers.set_timeout(lambda: None, TIMEOUT_MAX)
    assert t.delay == TIMEOUT_MAX
    t.close()


async def test_a_delay_that_is_not_a_number_raises_err_invalid_arg_type() -> None:
    for bad in ("50", b"1", [1], True):
        with pytest.raises(TypeError) as info:
            timers.set_timeout(lambda: None, bad)  # type: ignore[arg-type]
        assert info.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]
    assert refs() == 0


async def test_a_callback_that_is_not_callable_raises_err_invalid_arg_type() -> None:
    for make in (timers.set_timeout, timers.set_interval, timers.set_immediate, timers.next_tick):
        with pytest.raises(NodeError) as info:
            make("not a function")  # type: ignore[operator]
        assert info.value.code == "ERR_INVALID_ARG_TYPE"


# -- set_timeout -------------------------------------------------------------------


async def test_set_timeout_calls_the_callback_once_with_its_arguments_after_the_delay() -> None:
    loop = asyncio.get_running_loop()
    fired = future()
    start = loop.time()
    t = timers.set_timeout(lambda a, b: fired.set_result((a, b, loop.time())), 0.02, "a", 2)
    assert t.pending
    a, b, at = await settle(fired)
    assert (a, b) == ("a", 2)
    assert at - start >= 0.02 - 0.002  # the loop's clock has about a millisecond of slack
    assert not t.pending


async def test_a_pending_timeout_is_a_referenced_handle_until_it_fires() -> None:
    fired = future()
    timers.set_timeout(lambda: fired.set_result(None), 0.001)
    assert refs() == 1
    await settle(fired)
    assert refs() == 0


async def test_clear_timeout_cancels_a_pending_timeout() -> None:
    calls: list[int] = []
    t = timers.set_timeout(lambda: calls.append(1), 0.001)
    timers.clear_timeout(t)
    assert refs() == 0
    assert not t.pending
    done = future()
    timers.set_timeout(lambda: done.set_result(None), 0.01)
    await settle(done)
    assert calls == []


async def test_clear_of_none_does_nothing() -> None:
    timers.clear_timeout(None)
    timers.clear_interval(None)
    timers.clear_immediate(None)


async def test_timeout_close_is_clear_timeout() -> None:
    t = timers.set_timeout(lambda: None, 1)
    assert t.close() is t
    assert not t.pending and refs() == 0


async def test_timeouts_fire_in_deadline_order() -> None:
    order: list[str] = []
    done = future()
    timers.set_timeout(lambda: (order.append("late"), done.set_result(None)), 0.03)
    timers.set_timeout(lambda: order.append("early"), 0.01)
    await settle(done)
    assert order == ["early", "late"]


# -- set_interval ------------------------------------------------------------------


async def test_set_interval_repeats_until_cleared_from_its_own_callback() -> None:
    ticks: list[int] = []
    done = future()

    def tick(tag: str) -> None:
        ticks.append(len(ticks) + 1)
        if len(ticks) == 3:
            timers.clear_interval(interval)
            timers.set_timeout(lambda: done.set_result(tag), 0.02)

    interval = timers.set_interval(tick, 0.001, "tag")
    assert await settle(done) == "tag"
    assert ticks == [1, 2, 3]
    assert refs() == 0


async def test_an_interval_is_a_referenced_handle_between_ticks() -> None:
    first = future()
    interval = timers.set_interval(lambda: first.done() or first.set_result(None), 0.001)
    await settle(first)
    assert interval.pending and refs() == 1
    interval.close()
    assert refs() == 0


# -- refresh -----------------------------------------------------------------------


async def test_refresh_restarts_the_timer_from_now() -> None:
    loop = asyncio.get_running_loop()
    fired = future()
    start = loop.time()
    t = timers.set_timeout(lambda: fired.set_result(loop.time()), 0.05)
    refreshed_at = future()

    def refresh() -> None:
        t.refresh()
        refreshed_at.set_result(loop.time())

    timers.set_timeout(refresh, 0.03)
    at = await settle(fired)
    r = await refreshed_at
    assert at - r >= 0.05 - 0.002
    assert at - start >= 0.08 - 0.002


async def test_refresh_rearms_a_timeout_that_already_fired() -> None:
    calls: list[int] = []
    fired = [future(), future()]
    t = timers.set_timeout(lambda: fired[len(calls)].set_result(calls.append(1)), 0.001)
    await settle(fired[0])
    assert not t.pending and refs() == 0
    assert t.refresh() is t
    assert t.pending and refs() == 1
    await settle(fired[1])
    assert calls == [1, 1]


async def test_refresh_does_nothing_to_a_cleared_timer() -> None:
    t = timers.set_timeout(lambda: pytest.fail("fired after clear"), 0.001)
    timers.clear_timeout(t)
    t.refresh()
    assert not t.pending and refs() == 0


# -- ref / unref / has_ref ---------------------------------------------------------


async def test_unref_stops_a_timer_from_keeping_the_loop_alive_and_ref_restores_it() -> None:
    t = timers.set_timeout(lambda: None, 10)
    assert t.has_ref() and refs() == 1
    assert t.unref() is t
    assert not t.has_ref() and refs() == 0
    assert t.ref() is t
    assert t.has_ref() and refs() == 1
    t.close()
    assert refs() == 0


async def test_an_unrefd_timer_still_fires() -> None:
    fired = future()
    timers.set_timeout(lambda: fired.set_result(None), 0.001).unref()
    assert refs() == 0
    await settle(fired)


async def test_an_unrefd_immediate_still_runs_and_has_ref_tells() -> None:
    ran = future()
    imm = timers.set_immediate(lambda: ran.set_result(None))
    assert imm.has_ref() and refs() == 1
    imm.unref()
    assert not imm.has_ref() and refs() == 0
    imm.ref()
    assert refs() == 1
    await settle(ran)
    assert refs() == 0


# -- set_immediate -------------------------------------------------------------


async def test_set_immediate_runs_after_the_current_callback_with_its_arguments() -> None:
    seen: list[Any] = []
    done = future()
    timers.set_immediate(lambda *a: (seen.append(a), done.set_result(None)), 1, "two")
    seen.append("after set_immediate")
    await settle(done)
    assert seen == ["after set_immediate", (1, "two")]


async def test_immediates_run_in_the_order_queued() -> None:
    seen: list[int] = []
    done = future()
    for i in range(5):
        timers.set_immediate(seen.append, i)
    timers.set_immediate(done.set_result, None)
    await settle(done)
    assert seen == [0, 1, 2, 3, 4]


async def test_an_immediate_queued_by_an_immediate_runs_on_the_next_turn() -> None:
    seen: list[str] = []
    done = future()

    def first() -> None:
        seen.append("first")
        # a plain loop callback queued before the new immediate runs before it: the
        # new immediate waits for the next batch instead of joining this one
        asyncio.get_running_loop().call_soon(seen.append, "next turn")
        timers.set_immediate(lambda: (seen.append("queued by first"), done.set_result(None)))

    timers.set_immediate(first)
    timers.set_immediate(seen.append, "second")
    await settle(done)
    assert seen == ["first", "second", "next turn", "queued by first"]


async def test_clear_immediate_cancels_it() -> None:
    done = future()
    imm = timers.set_immediate(lambda: pytest.fail("cleared immediate ran"))
    timers.clear_immediate(imm)
    assert refs() == 0
    timers.set_immediate(done.set_result, None)
    await settle(done)


# -- next_tick -------------------------------------------------------------------


async def test_next_tick_runs_before_an_immediate_queued_earlier() -> None:
    seen: list[str] = []
    done = future()
    timers.set_immediate(lambda: (seen.append("immediate"), done.set_result(None)))
    timers.next_tick(seen.append, "tick")
    await settle(done)
    assert seen == ["tick", "immediate"]


async def test_next_tick_in_a_timer_callback_runs_right_after_it() -> None:
    seen: list[str] = []
    done = future()

    def in_timer() -> None:
        # queued on the loop before the tick, yet the tick runs first: nodish drains
        # the tick queue as soon as the timer callback returns
        asyncio.get_running_loop().call_soon(seen.append, "loop callback")
        timers.set_immediate(lambda: (seen.append("immediate"), done.set_result(None)))
        timers.next_tick(seen.append, "tick")
        seen.append("timer")

    timers.set_timeout(in_timer, 0.001)
    await settle(done)
    assert seen == ["timer", "tick", "loop callback", "immediate"]


async def test_ticks_queued_by_ticks_run_before_immediates() -> None:
    seen: list[str] = []
    done = future()
    timers.set_immediate(lambda: (seen.append("immediate"), done.set_result(None)))
    timers.next_tick(lambda: (seen.append("tick 1"), timers.next_tick(seen.append, "tick 2")))
    await settle(done)
    assert seen == ["tick 1", "tick 2", "immediate"]


async def test_process_next_tick_is_timers_next_tick() -> None:
    done = future()
    process.next_tick(done.set_result, "via process")
    assert await settle(done) == "via process"


# -- exceptions in callbacks ---------------------------------------------------


async def test_a_raising_timer_callback_is_logged_and_the_next_timer_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done = future()

    def boom() -> None:
        raise ValueError("timer callback failed")

    with caplog.at_level(logging.ERROR, logger="nodish"):
        timers.set_timeout(boom, 0.001)
        timers.set_timeout(done.set_result, 0.01, "still runs")
        assert await settle(done) == "still runs"
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


async def test_an_interval_whose_callback_raised_is_cleared(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def boom() -> None:
        calls.append(1)
        raise ValueError("interval failed")

    with caplog.at_level(logging.ERROR, logger="nodish"):
        interval = timers.set_interval(boom, 0.001)
        done = future()
        timers.set_timeout(done.set_result, 0.02, None)
        await settle(done)
    assert calls == [1]
    assert not interval.pending and refs() == 0


async def test_raising_immediates_and_ticks_go_to_uncaught_exception_and_others_run() -> None:
    got: list[tuple[str, str]] = []
    done = future()

    def on_uncaught(exc: BaseException, origin: str) -> None:
        got.append((str(exc), origin))

    def fail(msg: str) -> None:
        raise RuntimeError(msg)

    process.on("uncaughtException", on_uncaught)
    try:
        timers.next_tick(fail, "tick")
        timers.set_immediate(fail, "immediate")
        timers.set_immediate(done.set_result, None)
        await settle(done)
    finally:
        process.off("uncaughtException", on_uncaught)
    assert got == [("tick", "uncaughtException"), ("immediate", "uncaughtException")]


async def test_keyboard_interrupt_in_a_timer_callback_is_not_swallowed() -> None:
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        raise KeyboardInterrupt

    # asyncio re-raises KeyboardInterrupt from a callback out of the loop; run the
    # callback as the loop would and check it comes out of the runtime's guard.
    t = timers.set_timeout(interrupt, 10)
    with pytest.raises(KeyboardInterrupt):
        t._fire()
    t.close()
    assert loop.is_running()
