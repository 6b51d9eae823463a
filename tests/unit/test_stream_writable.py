"""Writable: Node's rules, after test/parallel/test-stream-writable-*.js.

Every async test runs on a fresh uvloop (tests/conftest.py); waits are on events with
a deadline, never sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import wait_for

from nodish import errors, runtime
from nodish.stream import Writable


def when(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    """A future for the next ``name`` event, listening from now on ('error' is not special)."""
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    emitter.once(name, lambda *args: fut.done() or fut.set_result(args))
    return fut


async def wait_event(emitter: Any, name: str) -> tuple[Any, ...]:
    """The arguments of the next ``name`` event, with the suite's deadline."""
    return await wait_for(when(emitter, name))


def sink(**opts: Any) -> tuple[Writable, list[Any]]:
    """A Writable that records chunks and calls back at once."""
    got: list[Any] = []

    def write(self: Writable, chunk: Any, encoding: str, callback: Any) -> None:
        got.append(chunk)
        callback()

    return Writable(write=write, **opts), got


class Deferred(Writable):
    """A Writable whose _write calls back only when the test says so."""

    __slots__ = ("chunks", "pending", "vectors")

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.chunks: list[Any] = []
        self.pending: list[Any] = []
        self.vectors: list[list[tuple[Any, str]]] = []

    def _write(self, chunk: Any, encoding: str, callback: Any) -> None:
        self.chunks.append(chunk)
        self.pending.append(callback)

    def release(self, err: BaseException | None = None) -> None:
        cb = self.pending.pop(0)
        cb(err) if err is not None else cb()


class DeferredV(Deferred):
    """Deferred with a _writev that records the batches."""

    __slots__ = ()

    def _writev(self, chunks: list[tuple[Any, str]], callback: Any) -> None:
        self.vectors.append(chunks)
        self.pending.append(callback)


async def next_turns(n: int = 3) -> None:
    """Let already-scheduled callbacks run (used only to show that nothing happens)."""
    for _ in range(n):
        await asyncio.sleep(0)


# ---------------------------------------------------------------- write / drain


async def test_write_returns_false_at_high_water_mark_and_drain_follows() -> None:
    w = Deferred(high_water_mark=10)
    assert w.write(b"12345") is True  # in flight: 5 < 10
    assert w.write(b"1234") is True  # 9 < 10
    assert w.write(b"1") is False  # 10: at the mark
    assert w.writable_need_drain is True
    assert w.writable_length == 10
    drained = when(w, "drain")
    w.release()
    w.release()
    assert not drained.done()
    w.release()
    await wait_for(drained)
    assert w.writable_length == 0
    assert w.writable_need_drain is False


async def test_write_true_while_queue_empty_even_with_mark_zero() -> None:
    # Node v20: length < hwm || length === 0
    w, got = sink(high_water_mark=0)
    assert w.write(b"abc") is True
    assert got == [b"abc"]


async def test_sync_write_without_callback_schedules_nothing() -> None:
    # the fast path: _write called at once, and nothing queued on the tick queue
    w, got = sink()
    st = runtime.loop_state(asyncio.get_running_loop())
    ticks_before = len(st.ticks)
    for _ in range(100):
        assert w.write(b"x" * 100) is True
    assert len(got) == 100
    assert len(st.ticks) == ticks_before
    assert w.writable_length == 0


async def test_write_callback_is_async_even_when_write_completes_synchronously() -> None:
    w, _ = sink()
    calls: list[Any] = []
    w.write(b"a", callback=calls.append)
    w.write(b"b", callback=calls.append)
    assert calls == []
    await wait_for(asyncio.sleep(0))
    assert calls == [None, None]


async def test_drain_emitted_once_after_queue_empties() -> None:
    w = Deferred(high_water_mark=3)
    drains: list[int] = []
    w.on("drain", lambda: drains.append(w.writable_length))
    w.write(b"abc")
    w.write(b"d")
    w.release()
    w.release()
    await next_turns()
    assert drains == [0]


async def test_drain_awaitable_returns_at_once_when_no_drain_pending() -> None:
    w, _ = sink()
    await wait_for(w.drain())


async def test_drain_awaitable_waits_for_drain() -> None:
    w = Deferred(high_water_mark=2)
    assert w.write(b"abc") is False
    waiter = asyncio.ensure_future(w.drain())
    await next_turns()
    assert not waiter.done()
    w.release()
    await wait_for(waiter)


async def test_drain_awaitable_raises_when_stream_errors_first() -> None:
    w = Deferred(high_water_mark=2)
    w.on("error", lambda e: None)
    assert w.write(b"abc") is False
    waiter = asyncio.ensure_future(w.drain())
    await next_turns(1)
    w.destroy(ValueError("boom"))
    with pytest.raises(ValueError):
        await wait_for(waiter)


async def test_drain_awaitable_raises_premature_close_when_destroyed_without_error() -> None:
    w = Deferred(high_water_mark=2)
    assert w.write(b"abc") is False
    waiter = asyncio.ensure_future(w.drain())
    await next_turns(1)
    w.destroy()
    with pytest.raises(errors.NodeError) as info:
        await wait_for(waiter)
    assert info.value.code == "ERR_STREAM_PREMATURE_CLOSE"


async def test_writes_during_pending_write_are_buffered_in_order() -> None:
    w = Deferred()
    w.write(b"1")
    w.write(b"2")
    w.write(b"3")
    assert w.chunks == [b"1"]
    w.release()
    assert w.chunks == [b"1", b"2"]
    w.release()
    w.release()
    assert w.chunks == [b"1", b"2", b"3"]


# ---------------------------------------------------------------- input checking


async def test_write_null_raises_ERR_STREAM_NULL_VALUES() -> None:
    w, got = sink()
    with pytest.raises(errors.NodeError) as info:
        w.write(None)
    assert info.value.code == "ERR_STREAM_NULL_VALUES"
    assert isinstance(info.value, TypeError)
    assert w.write(b"still fine") is True
    assert got == [b"still fine"]


async def test_write_bad_type_raises_ERR_INVALID_ARG_TYPE() -> None:
    w, got = sink()
    with pytest.raises(errors.NodeError) as info:
        w.write(42)
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    w.write(b"ok")
    assert got == [b"ok"]


async def test_write_bad_encoding_raises_ERR_UNKNOWN_ENCODING() -> None:
    w, got = sink()
    with pytest.raises(errors.NodeError) as info:
        w.write("abc", "no-such-encoding")
    assert info.value.code == "ERR_UNKNOWN_ENCODING"
    w.write("ok")
    assert got == [b"ok"]


async def test_strings_are_encoded_utf8_by_default_and_with_given_encoding() -> None:
    w, got = sink()
    w.write("héllo")
    w.write("68656c6c6f", "hex")
    w.write("aGVsbG8=", "base64")
    w.write("é", "latin1")
    w.write("hi", "utf16le")
    assert got == [b"h\xc3\xa9llo", b"hello", b"hello", b"\xe9", b"h\x00i\x00"]


async def test_default_encoding_option_applies_to_strings() -> None:
    w, got = sink(default_encoding="hex")
    w.write("ff00")
    w.set_default_encoding("latin1")
    w.write("é")
    assert got == [b"\xff\x00", b"\xe9"]


async def test_decode_strings_false_passes_str_and_encoding_to_write() -> None:
    seen: list[tuple[Any, str]] = []
    w = Writable(
        decode_strings=False,
        write=lambda self, chunk, enc, cb: (seen.append((chunk, enc)), cb()),
    )
    w.write("abc")
    w.write("ff", "hex")
    w.write(b"raw")
    assert seen == [("abc", "utf8"), ("ff", "hex"), (b"raw", "buffer")]


async def test_bytearray_and_memoryview_accepted_and_copied_only_when_buffered() -> None:
    w = Deferred()
    first = bytearray(b"abc")
    w.write(first)
    assert w.chunks[0] is first  # handed over as is
    second = bytearray(b"def")
    w.write(memoryview(second))
    second[0] = ord("X")  # the caller reuses its buffer: the queued copy is unaffected
    w.release()
    assert bytes(w.chunks[1]) == b"def"
    assert w.writable_length == 3


async def test_object_mode_counts_objects_and_accepts_anything_but_none() -> None:
    w = Deferred(object_mode=True)
    assert w.writable_high_water_mark == 16
    for i in range(15):
        assert w.write({"n": i}) is True
    assert w.write([1, 2]) is False
    assert w.writable_length == 16
    with pytest.raises(errors.NodeError) as info:
        w.write(None)
    assert info.value.code == "ERR_STREAM_NULL_VALUES"


async def test_invalid_high_water_mark_raises_ERR_INVALID_ARG_VALUE() -> None:
    for bad in (-1, 1.5, "10", True):
        with pytest.raises(errors.NodeError) as info:
            Writable(high_water_mark=bad)
        assert info.value.code == "ERR_INVALID_ARG_VALUE"
    assert Writable(high_water_mark=0).writable_high_water_mark == 0
    assert Writable().writable_high_water_mark == 16384


# ---------------------------------------------------------------- errors


async def test_write_error_calls_back_then_error_then_close() -> None:
    # test-stream-writable-write-error.js: sync error -> cb, then 'error', then 'close'
    order: list[str] = []
    w = Writable(write=lambda self, c, e, cb: cb(ValueError("boom")))
    w.on("error", lambda e: order.append(f"error:{e}"))
    w.on("close", lambda: order.append("close"))
    w.write(b"x", callback=lambda err: order.append(f"cb:{err}"))
    order.append("sync")
    await wait_event(w, "close")
    assert order == ["sync", "cb:boom", "error:boom", "close"]
    assert w.destroyed and isinstance(w.errored, ValueError)


async def test_async_write_error_fails_buffered_writes_too() -> None:
    order: list[str] = []
    w = Deferred()
    w.on("error", lambda e: order.append(f"error:{e}"))
    w.on("close", lambda: order.append("close"))
    w.write(b"1", callback=lambda err: order.append(f"cb1:{err}"))
    w.write(b"2", callback=lambda err: order.append(f"cb2:{err}"))
    w.release(ValueError("late"))
    await wait_event(w, "close")
    assert order == ["cb1:late", "cb2:late", "error:late", "close"]


async def test_write_after_end_is_ERR_STREAM_WRITE_AFTER_END_to_callback_then_error() -> None:
    # Node: the write's callback (next tick), the end callback, then 'error', then 'close'
    order: list[str] = []
    w, got = sink()
    w.on("error", lambda e: order.append(f"error:{e.code}"))
    w.on("close", lambda: order.append("close"))
    w.end(b"a", callback=lambda err: order.append(f"endcb:{getattr(err, 'code', err)}"))
    ret = w.write(b"b", callback=lambda err: order.append(f"writecb:{err.code}"))
    assert ret is False
    assert order == []
    await wait_event(w, "close")
    assert order == [
        "writecb:ERR_STREAM_WRITE_AFTER_END",
        "endcb:ERR_STREAM_WRITE_AFTER_END",
        "error:ERR_STREAM_WRITE_AFTER_END",
        "close",
    ]
    assert got == [b"a"]


async def test_write_after_destroy_calls_back_ERR_STREAM_DESTROYED() -> None:
    w, got = sink()
    w.destroy()
    results: list[Any] = []
    assert w.write(b"x", callback=results.append) is False
    await wait_event(w, "close")
    await next_turns(1)
    assert [r.code for r in results] == ["ERR_STREAM_DESTROYED"]
    assert got == []


async def test_multiple_write_callback_calls_are_ERR_MULTIPLE_CALLBACK() -> None:
    w = Writable(write=lambda self, c, e, cb: (cb(), cb()))
    seen: list[str] = []
    w.on("error", lambda e: seen.append(e.code))
    w.write(b"x")
    await wait_event(w, "close")
    assert seen == ["ERR_MULTIPLE_CALLBACK"]


async def test_missing_write_implementation_raises_ERR_METHOD_NOT_IMPLEMENTED() -> None:
    w = Writable()
    with pytest.raises(errors.NodeError) as info:
        w.write(b"x")
    assert info.value.code == "ERR_METHOD_NOT_IMPLEMENTED"


async def test_writable_cannot_pipe_ERR_STREAM_CANNOT_PIPE() -> None:
    w, _ = sink()
    other, _ = sink()
    seen: list[str] = []
    w.on("error", lambda e: seen.append(e.code))
    w.pipe(other)
    await wait_event(w, "close")
    assert seen == ["ERR_STREAM_CANNOT_PIPE"]


async def test_auto_destroy_false_emits_error_without_close() -> None:
    w = Writable(auto_destroy=False, write=lambda self, c, e, cb: cb(ValueError("x")))
    seen: list[str] = []
    w.on("error", lambda e: seen.append("error"))
    w.on("close", lambda: seen.append("close"))
    errored = when(w, "error")
    w.write(b"a")
    await wait_for(errored)
    await next_turns()
    assert seen == ["error"]
    assert not w.destroyed
    assert w.errored is not None and not w.writable


# ---------------------------------------------------------------- end / finish


async def test_end_callback_after_finish_and_finish_before_close() -> None:
    order: list[str] = []
    w, got = sink()
    w.on("finish", lambda: order.append("finish"))
    w.on("close", lambda: order.append("close"))
    w.end(b"last", callback=lambda err: order.append(f"endcb:{err}"))
    assert w.writable_ended and not w.writable_finished
    await wait_event(w, "close")
    assert order == ["endcb:None", "finish", "close"]
    assert got == [b"last"]
    assert w.writable_finished and w.closed and w.destroyed


async def test_finish_waits_for_pending_writes() -> None:
    w = Deferred()
    w.write(b"1")
    w.end()
    finished = when(w, "finish")
    await next_turns()
    assert not finished.done()
    w.release()
    await wait_for(finished)


async def test_final_runs_before_prefinish_and_finish() -> None:
    order: list[str] = []

    def final(self: Writable, cb: Any) -> None:
        order.append("final")
        asyncio.get_running_loop().call_soon(cb)

    w = Writable(write=lambda self, c, e, cb: cb(), final=final)
    w.on("prefinish", lambda: order.append("prefinish"))
    w.on("finish", lambda: order.append("finish"))
    w.end(b"x")
    await wait_event(w, "close")
    assert order == ["final", "prefinish", "finish"]


async def test_final_error_is_emitted_then_close_then_end_callback() -> None:
    # Node v20 order for a _final that fails synchronously: 'error', 'close', end cb.
    order: list[str] = []
    w = Writable(
        write=lambda self, c, e, cb: cb(),
        final=lambda self, cb: cb(ValueError("fin")),
    )
    w.on("error", lambda e: order.append(f"error:{e}"))
    w.on("finish", lambda: order.append("finish"))
    w.on("close", lambda: order.append("close"))
    ended = asyncio.get_running_loop().create_future()
    w.end(callback=lambda err: (order.append(f"endcb:{err}"), ended.set_result(None)))
    await wait_for(ended)
    assert order == ["error:fin", "close", "endcb:fin"]


async def test_end_twice_after_finish_calls_back_ERR_STREAM_ALREADY_FINISHED() -> None:
    w, _ = sink(auto_destroy=False)
    w.end()
    await wait_event(w, "finish")
    results: list[Any] = []
    w.end(callback=results.append)
    await next_turns(1)
    assert [r.code for r in results] == ["ERR_STREAM_ALREADY_FINISHED"]


async def test_end_after_destroy_calls_back_ERR_STREAM_DESTROYED() -> None:
    w, _ = sink()
    w.destroy()
    results: list[Any] = []
    w.end(callback=results.append)
    await wait_event(w, "close")
    await next_turns(1)
    assert [getattr(r, "code", r) for r in results] == ["ERR_STREAM_DESTROYED"]


async def test_end_with_string_and_encoding() -> None:
    w, got = sink()
    w.end("414243", "hex")
    await wait_event(w, "finish")
    assert got == [b"ABC"]


# ---------------------------------------------------------------- destroy


async def test_destroy_with_error_emits_error_then_close_once() -> None:
    order: list[str] = []
    w, _ = sink()
    w.on("error", lambda e: order.append(f"error:{e}"))
    w.on("close", lambda: order.append("close"))
    w.destroy(ValueError("a"))
    w.destroy(ValueError("b"))  # second call: nothing
    assert w.destroyed and not w.writable
    assert order == []  # both on the next tick
    await wait_event(w, "close")
    assert order == ["error:a", "close"]
    assert str(w.errored) == "a"


async def test_destroy_fails_queued_write_callbacks_with_ERR_STREAM_DESTROYED() -> None:
    w = Deferred()
    results: list[Any] = []
    w.cork()
    w.write(b"1", callback=results.append)
    w.write(b"2", callback=results.append)
    w.destroy()
    await wait_event(w, "close")
    assert [getattr(r, "code", r) for r in results] == [
        "ERR_STREAM_DESTROYED",
        "ERR_STREAM_DESTROYED",
    ]
    assert w.chunks == []


async def test_destroy_fails_a_waiting_end_callback_before_close_and_one_given_after() -> None:
    # Node's order (checked against Node 20): the waiting end() callback's error, 'close',
    # then the error of an end() called after destroy().
    w = Writable(
        write=lambda self, chunk, encoding, callback: callback(),
        final=lambda self, callback: None,  # never finishes
    )
    order: list[str] = []
    w.on("close", lambda: order.append("close"))
    w.end(callback=lambda err: order.append(f"before:{err.code}"))
    w.destroy()
    w.end(callback=lambda err: order.append(f"after:{err.code}"))
    await wait_event(w, "close")
    await next_turns(1)
    assert order == ["before:ERR_STREAM_DESTROYED", "close", "after:ERR_STREAM_DESTROYED"]


async def test_destroy_leaves_callbacks_behind_an_unfinished_write_uncalled() -> None:
    # Node: the write in flight never called back, so the queue behind it is not failed
    w = Deferred()
    results: list[Any] = []
    w.write(b"1")
    w.write(b"2", callback=results.append)
    w.destroy()
    await wait_event(w, "close")
    await next_turns()
    assert results == []


async def test_destroy_hook_gets_error_and_may_replace_it() -> None:
    seen: list[Any] = []

    def destroy(self: Writable, err: Any, cb: Any) -> None:
        seen.append(err)
        cb(KeyError("replaced"))

    w = Writable(write=lambda self, c, e, cb: cb(), destroy=destroy)
    errs: list[Any] = []
    w.on("error", errs.append)
    w.destroy()
    await wait_event(w, "close")
    assert seen == [None]
    assert [type(e) for e in errs] == [KeyError]


async def test_emit_close_false_never_emits_close() -> None:
    w, _ = sink(emit_close=False)
    seen: list[str] = []
    w.on("close", lambda: seen.append("close"))
    w.on("error", lambda e: seen.append("error"))
    w.destroy(ValueError("x"))
    await wait_event(w, "error")
    await next_turns()
    assert seen == ["error"]
    assert w.closed


async def test_error_without_listener_goes_to_uncaught_path_and_close_still_emitted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w, _ = sink()
    w.destroy(ValueError("nobody listens"))
    await wait_event(w, "close")
    assert any("nobody listens" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# ---------------------------------------------------------------- cork / writev


async def test_cork_buffers_and_uncork_hands_all_to_writev() -> None:
    w = DeferredV()
    w.cork()
    w.write(b"a")
    w.write("b")
    w.write(b"c", callback=lambda err: None)
    assert w.writable_corked == 1
    assert w.chunks == [] and w.vectors == []
    assert w.writable_buffer == [(b"a", "buffer"), (b"b", "buffer"), (b"c", "buffer")]
    w.uncork()
    assert w.vectors == [[(b"a", "buffer"), (b"b", "buffer"), (b"c", "buffer")]]
    assert w.writable_length == 3
    w.release()
    assert w.writable_length == 0


async def test_nested_cork_needs_as_many_uncorks() -> None:
    w = DeferredV()
    w.cork()
    w.cork()
    w.write(b"a")
    w.write(b"b")
    w.uncork()
    assert w.vectors == []
    w.uncork()
    assert len(w.vectors) == 1


async def test_writes_queued_behind_a_slow_write_go_to_writev_together() -> None:
    w = DeferredV()
    w.write(b"1")
    w.write(b"2")
    w.write(b"3")
    assert w.chunks == [b"1"]
    w.release()
    assert w.vectors == [[(b"2", "buffer"), (b"3", "buffer")]]


async def test_writev_callback_settles_every_queued_write_callback() -> None:
    w = DeferredV()
    results: list[Any] = []
    w.cork()
    w.write(b"1", callback=lambda err: results.append(("1", err)))
    w.write(b"2", callback=lambda err: results.append(("2", err)))
    w.uncork()
    w.release()
    await next_turns(1)
    assert results == [("1", None), ("2", None)]


async def test_single_queued_write_uses_write_not_writev() -> None:
    w = DeferredV()
    w.cork()
    w.write(b"only")
    w.uncork()
    assert w.chunks == [b"only"] and w.vectors == []


async def test_end_uncorks() -> None:
    w = DeferredV()
    w.cork()
    w.write(b"a")
    w.write(b"b")
    w.end()
    assert w.writable_corked == 0
    assert len(w.vectors) == 1
    w.release()
    await wait_event(w, "finish")


async def test_writev_keyword_implementation() -> None:
    batches: list[list[tuple[Any, str]]] = []
    w = Writable(writev=lambda self, chunks, cb: (batches.append(chunks), cb()))
    w.write(b"solo")  # no _write: a single chunk goes to _writev as a batch of one
    w.cork()
    w.write(b"x")
    w.write(b"y")
    w.uncork()
    assert batches == [[(b"solo", "buffer")], [(b"x", "buffer"), (b"y", "buffer")]]


# ---------------------------------------------------------------- hooks, construct


async def test_keyword_hooks_are_bound_like_methods() -> None:
    seen: list[Any] = []
    w = Writable(write=lambda self, chunk, enc, cb: (seen.append(self), cb()))
    w.write(b"x")
    assert seen == [w]


async def test_construct_delays_writes_until_it_calls_back() -> None:
    started: list[Any] = []
    w = Writable(
        construct=lambda self, cb: started.append(cb),
        write=lambda self, c, e, cb: (got.append(c), cb()),
    )
    got: list[bytes] = []
    w.write(b"early")
    w.end()
    await next_turns(1)
    assert len(started) == 1 and got == []
    started[0]()
    await wait_event(w, "finish")
    assert got == [b"early"]


async def test_construct_error_destroys_with_it() -> None:
    w = Writable(construct=lambda self, cb: cb(ValueError("no")), write=lambda s, c, e, cb: cb())
    errs: list[Any] = []
    w.on("error", errs.append)
    await wait_event(w, "close")
    assert [str(e) for e in errs] == ["no"]


async def test_destroy_during_construct_waits_for_it() -> None:
    started: list[Any] = []
    destroyed: list[Any] = []
    w = Writable(
        construct=lambda self, cb: started.append(cb),
        destroy=lambda self, err, cb: (destroyed.append(err), cb(err)),
        write=lambda s, c, e, cb: cb(),
    )
    await next_turns(1)
    w.destroy()
    assert w.destroyed and destroyed == []
    started[0]()
    await wait_event(w, "close")
    assert destroyed == [None]


# ---------------------------------------------------------------- properties


async def test_writable_state_properties_through_the_lifecycle() -> None:
    w = Deferred(high_water_mark=4)
    assert w.writable and not w.writable_ended and not w.writable_finished
    assert not w.destroyed and w.errored is None and not w.closed
    assert w.writable_object_mode is False
    w.write(b"12345")
    assert w.writable_need_drain and w.writable_length == 5
    w.end()
    assert not w.writable and w.writable_ended and not w.writable_need_drain
    finished, closed = when(w, "finish"), when(w, "close")
    w.release()
    await wait_for(finished)
    assert w.writable_finished
    await wait_for(closed)
    assert w.closed and w.destroyed and not w.writable_aborted


async def test_writable_aborted_when_destroyed_before_finish() -> None:
    w, _ = sink()
    w.write(b"x")
    w.destroy()
    assert w.writable_aborted
