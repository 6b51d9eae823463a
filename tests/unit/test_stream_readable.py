"""Readable: Node's rules, after test/parallel/test-stream-readable-*.js and friends."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from tests.helpers import wait_for

from nodish import errors, runtime
from nodish.stream import Readable


def when(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    """A future for the next ``name`` event, listening from now on ('error' is not special)."""
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    emitter.once(name, lambda *args: fut.done() or fut.set_result(args))
    return fut


async def wait_event(emitter: Any, name: str) -> tuple[Any, ...]:
    return await wait_for(when(emitter, name))


async def next_turns(n: int = 3) -> None:
    """Let already-scheduled callbacks run (used only to show that nothing happens)."""
    for _ in range(n):
        await asyncio.sleep(0)


class Source(Readable):
    """A Readable fed by the test (push from outside); counts _read calls."""

    __slots__ = ("reads",)

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.reads: list[int] = []

    def _read(self, size: int) -> None:
        self.reads.append(size)


# ---------------------------------------------------------------- flowing mode


async def test_data_listener_starts_flowing_on_next_tick() -> None:
    r = Source()
    got: list[bytes] = []
    r.push(b"a")
    r.on("data", got.append)
    assert r.readable_flowing is True
    assert got == []  # Node resumes on the next tick
    await next_turns()
    assert got == [b"a"]


async def test_flowing_push_emits_data_synchronously_and_schedules_nothing() -> None:
    # the fast path net.Socket relies on (Node's addChunk)
    r = Source()
    got: list[bytes] = []
    r.on("data", got.append)
    await wait_event(r, "resume")
    await next_turns(1)
    st = runtime.loop_state(asyncio.get_running_loop())
    ticks = len(st.ticks)
    for i in range(50):
        assert r.push(b"x%d" % i) is True
        assert got[-1] == b"x%d" % i  # emitted inside push()
    assert len(st.ticks) == ticks
    assert r.readable_length == 0


async def test_read_is_called_when_the_consumer_wants_more() -> None:
    r = Source(high_water_mark=4)
    assert r.push(b"12") is True
    assert r.push(b"345") is False  # at/over the mark: stop producing
    reads_before = len(r.reads)
    got: list[bytes] = []
    r.on("data", got.append)
    await next_turns()
    assert got == [b"12", b"345"]
    assert len(r.reads) > reads_before  # drained: _read asked for more
    assert r.reads[-1] == 4


async def test_pull_source_is_read_again_after_each_asynchronous_push() -> None:
    counter = iter(range(5))

    def read(self: Readable, size: int) -> None:
        n = next(counter, None)
        asyncio.get_running_loop().call_soon(self.push, None if n is None else b"%d" % n)

    r = Readable(read=read)
    got: list[bytes] = []
    r.on("data", got.append)
    await wait_event(r, "end")
    assert got == [b"0", b"1", b"2", b"3", b"4"]


async def test_end_only_after_every_data_event() -> None:
    r = Source()
    order: list[Any] = []
    for chunk in (b"1", b"2", b"3"):
        r.push(chunk)
    r.push(None)
    r.on("end", lambda: order.append("end"))
    r.on("data", order.append)
    await wait_event(r, "close")
    assert order == [b"1", b"2", b"3", "end"]
    assert r.readable_ended and r.destroyed


async def test_end_after_data_when_eof_pushed_during_flow() -> None:
    r = Source()
    order: list[Any] = []
    r.on("data", lambda d: order.append(d))
    r.on("end", lambda: order.append("end"))
    await wait_event(r, "resume")
    ended = when(r, "end")
    r.push(b"a")
    r.push(None)
    assert order == [b"a"]  # 'end' comes on a later tick
    await wait_for(ended)
    assert order == [b"a", "end"]


async def test_pause_and_resume_emit_events_and_set_flowing_state() -> None:
    r = Source()
    events: list[str] = []
    r.on("pause", lambda: events.append("pause"))
    r.on("resume", lambda: events.append("resume"))
    assert r.readable_flowing is None and not r.is_paused()
    r.pause()
    assert r.readable_flowing is False and r.is_paused()
    resumed = when(r, "resume")
    r.resume()
    assert r.readable_flowing is True and not r.is_paused()
    await wait_for(resumed)
    assert events == ["pause", "resume"]


async def test_pause_stops_data_and_buffers_until_resume() -> None:
    r = Source()
    got: list[bytes] = []
    r.on("data", got.append)
    await wait_event(r, "resume")
    r.pause()
    r.push(b"held")
    assert got == [] and r.readable_length == 4
    r.resume()
    await next_turns()
    assert got == [b"held"]


async def test_data_listener_after_explicit_pause_does_not_resume() -> None:
    r = Source()
    r.pause()
    r.push(b"x")
    got: list[bytes] = []
    r.on("data", got.append)
    await next_turns()
    assert got == [] and r.readable_flowing is False


class Overridden(Source):
    """pause()/resume() overridden by a subclass that calls super() (as net.Socket does)."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def pause(self) -> Overridden:
        self.calls.append("pause")
        super().pause()
        return self

    def resume(self) -> Overridden:
        self.calls.append("resume")
        super().resume()
        return self


async def test_pause_resume_are_overridable_and_used_by_pipe_and_data() -> None:
    r = Overridden()
    r.on("data", lambda d: None)
    r.pause()
    assert r.calls == ["resume", "pause"]


# ---------------------------------------------------------------- push / backpressure


async def test_push_returns_false_at_high_water_mark() -> None:
    r = Source(high_water_mark=5)
    assert r.push(b"1234") is True
    assert r.push(b"5") is False
    assert r.readable_length == 5
    assert r.push(b"678") is False  # still buffered: the producer should stop


async def test_object_mode_counts_items() -> None:
    r = Source(object_mode=True, high_water_mark=2)
    assert r.readable_high_water_mark == 2 and r.readable_object_mode
    assert r.push({"a": 1}) is True
    assert r.push([2]) is False
    got: list[Any] = []
    r.on("data", got.append)
    r.push(None)
    await wait_event(r, "end")
    assert got == [{"a": 1}, [2]]


async def test_push_after_eof_is_ERR_STREAM_PUSH_AFTER_EOF() -> None:
    r = Source()
    errs: list[Any] = []
    r.on("error", errs.append)
    r.push(None)
    assert r.push(b"late") is False
    await wait_event(r, "close")
    assert [e.code for e in errs] == ["ERR_STREAM_PUSH_AFTER_EOF"]


async def test_push_bad_type_is_ERR_INVALID_ARG_TYPE() -> None:
    r = Source()
    errs: list[Any] = []
    r.on("error", errs.append)
    assert r.push(12) is False
    await wait_event(r, "close")
    assert [e.code for e in errs] == ["ERR_INVALID_ARG_TYPE"]
    good = Source()
    got: list[bytes] = []
    good.on("data", got.append)
    good.push(bytearray(b"ok"))
    good.push(None)
    await wait_event(good, "end")
    assert got == [b"ok"]


async def test_push_str_is_encoded_and_empty_chunks_are_ignored() -> None:
    r = Source()
    r.push("é")
    r.push("ff", "hex")
    r.push(b"")
    r.push("")
    r.push(None)
    got: list[bytes] = []
    r.on("data", got.append)
    await wait_event(r, "end")
    assert got == [b"\xc3\xa9", b"\xff"]


async def test_missing_read_implementation_is_ERR_METHOD_NOT_IMPLEMENTED() -> None:
    r = Readable()
    errs: list[Any] = []
    r.on("error", errs.append)
    r.on("data", lambda d: None)
    await wait_event(r, "close")
    assert [e.code for e in errs] == ["ERR_METHOD_NOT_IMPLEMENTED"]


async def test_read_raising_destroys_with_the_error() -> None:
    def read(self: Readable, size: int) -> None:
        raise KeyError("bad read")

    r = Readable(read=read)
    errs: list[Any] = []
    r.on("error", errs.append)
    r.resume()
    await wait_event(r, "close")
    assert [type(e) for e in errs] == [KeyError]


# ---------------------------------------------------------------- paused mode: read()


async def test_read_n_returns_exactly_n_bytes_or_none() -> None:
    r = Source()
    r.push(b"hello ")
    r.push(b"world")
    assert r.read(3) == b"hel"
    assert r.read(5) == b"lo wo"
    assert r.read(10) is None  # not enough yet
    assert r.readable_length == 3
    r.push(None)
    assert r.read(10) == b"rld"  # after the end: the rest
    assert r.read() is None


async def test_read_without_size_returns_everything_buffered() -> None:
    r = Source()
    r.push(b"a")
    r.push(b"b")
    assert r.read() == b"ab"
    assert r.read() is None


async def test_read_more_than_high_water_mark_raises_the_mark() -> None:
    r = Source(high_water_mark=4)
    assert r.read(100) is None
    assert r.readable_high_water_mark == 128
    with pytest.raises(errors.NodeError) as info:
        r.read(2**31)
    assert info.value.code == "ERR_OUT_OF_RANGE"


async def test_readable_event_then_read_loop() -> None:
    r = Source()
    got: list[bytes] = []

    def on_readable() -> None:
        while (chunk := r.read()) is not None:
            got.append(chunk)

    r.on("readable", on_readable)
    assert r.readable_flowing is False
    r.push(b"1")
    r.push(b"2")
    await next_turns()
    assert got == [b"12"]
    r.push(None)
    await wait_event(r, "end")


async def test_read_emits_data_too() -> None:
    r = Source()
    seen: list[bytes] = []
    r.pause()
    r.on("data", seen.append)
    r.push(b"abc")
    assert r.read() == b"abc"
    assert seen == [b"abc"]


async def test_unshift_puts_data_back_in_front() -> None:
    r = Source()
    r.push(b"world")
    head = r.read(2)
    assert head == b"wo"
    r.unshift(b"hello ")
    r.unshift(head)
    assert r.read() == b"wohello rld"


async def test_unshift_after_end_is_ERR_STREAM_UNSHIFT_AFTER_END_EVENT() -> None:
    r = Source(auto_destroy=False)
    errs: list[Any] = []
    r.on("error", errs.append)
    r.resume()
    r.push(None)
    await wait_event(r, "end")
    r.unshift(b"late")
    assert [e.code for e in errs] == ["ERR_STREAM_UNSHIFT_AFTER_END_EVENT"]


# ---------------------------------------------------------------- set_encoding


@pytest.mark.parametrize("cut", range(len("深入浅出Nodejs".encode()) + 1))
async def test_set_encoding_never_splits_a_character_at_any_cut(cut: int) -> None:
    data = "深入浅出Nodejs".encode()
    r = Source()
    r.set_encoding("utf8")
    got: list[str] = []
    r.on("data", got.append)
    r.push(data[:cut])
    r.push(data[cut:])
    r.push(None)
    await wait_event(r, "end")
    assert "".join(got) == "深入浅出Nodejs"
    assert all("\ufffd" not in piece for piece in got)
    assert r.readable_encoding == "utf8"


async def test_set_encoding_one_byte_at_a_time_while_flowing() -> None:
    data = "深入浅出Nodejs".encode()
    r = Source()
    r.set_encoding("utf-8")
    got: list[str] = []
    r.on("data", got.append)
    await wait_event(r, "resume")
    for i in range(len(data)):
        r.push(data[i : i + 1])
    r.push(None)
    await wait_event(r, "end")
    assert got == list("深入浅出Nodejs")


async def test_set_encoding_converts_what_is_already_buffered() -> None:
    r = Source()
    r.push(b"\xe6\xb7")
    r.push(b"\xb1x")
    r.set_encoding("utf8")
    assert r.readable_length == 2  # characters now
    assert r.read() == "深x"


async def test_encoding_option_and_hex() -> None:
    r = Source(encoding="hex")
    r.push(b"\x01\xff")
    assert r.read() == "01ff"
    with pytest.raises(errors.NodeError) as info:
        r.set_encoding("bogus")
    assert info.value.code == "ERR_UNKNOWN_ENCODING"


# ---------------------------------------------------------------- destroy


async def test_destroy_stops_data_and_emits_close() -> None:
    r = Source()
    got: list[bytes] = []
    r.on("data", got.append)
    await wait_event(r, "resume")
    r.pause()
    r.push(b"buffered")
    r.destroy()
    await wait_event(r, "close")
    r.resume()
    await next_turns()
    assert got == [] and r.destroyed and r.closed and not r.readable
    assert r.push(b"more") is False


async def test_data_already_scheduled_still_flows_before_close_as_node() -> None:
    # Node: the resume tick queued by on('data') runs before destroy's 'close' tick
    r = Source()
    got: list[bytes] = []
    r.on("data", got.append)
    r.push(b"buffered")
    r.destroy()
    await wait_event(r, "close")
    assert got == [b"buffered"]


async def test_destroy_with_error_emits_error_then_close() -> None:
    r = Source()
    order: list[str] = []
    r.on("error", lambda e: order.append(f"error:{e}"))
    r.on("close", lambda: order.append("close"))
    r.destroy(ValueError("x"))
    await wait_event(r, "close")
    assert order == ["error:x", "close"]
    assert r.readable_aborted and isinstance(r.errored, ValueError)


async def test_data_listener_raising_from_the_loop_goes_to_uncaught_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = Source()
    r.push(b"x")

    def boom(chunk: bytes) -> None:
        raise RuntimeError("listener failed")

    r.on("data", boom)
    await wait_event(r, "close")  # the stream whose listener raised is destroyed
    assert any(r2.exc_info and "listener failed" in str(r2.exc_info[1]) for r2 in caplog.records)


# ---------------------------------------------------------------- async iteration


async def test_async_for_reads_to_the_end() -> None:
    r = Readable.from_([b"a", b"b", b"c"])
    closed = when(r, "close")
    assert [c async for c in r] == [b"a", b"b", b"c"]
    await wait_for(closed)
    assert r.destroyed


async def test_async_for_raises_the_stream_error() -> None:
    r = Source()
    r.push(b"1")
    asyncio.get_running_loop().call_soon(r.destroy, ValueError("broken"))
    got: list[bytes] = []
    with pytest.raises(ValueError, match="broken"):
        async for chunk in r:
            got.append(chunk)
    assert got == [b"1"]


async def test_break_out_of_async_for_destroys_the_stream_as_node() -> None:
    r = Source()
    r.push(b"1")
    r.push(b"2")
    closed = when(r, "close")
    async for _ in r:
        break
    await wait_for(closed)
    assert r.destroyed
    assert isinstance(r.errored, errors.AbortError) and r.errored.code == "ABORT_ERR"


async def test_aclosing_the_iterator_destroys_at_once() -> None:
    r = Source()
    r.push(b"1")
    async with contextlib.aclosing(r.iterator()) as it:
        async for _ in it:
            break
    assert r.destroyed


async def test_iterator_destroy_on_return_false_keeps_the_stream() -> None:
    r = Source()
    r.push(b"1")
    r.push(b"2")
    async with contextlib.aclosing(r.iterator(destroy_on_return=False)) as it:
        async for chunk in it:
            assert chunk == b"12"
            break
    assert not r.destroyed
    r.push(b"3")
    r.push(None)
    assert [c async for c in r] == [b"3"]


async def test_cancelled_iteration_destroys_without_error() -> None:
    r = Source()
    started = asyncio.get_running_loop().create_future()

    async def consume() -> None:
        async with contextlib.aclosing(r.iterator()) as it:
            started.set_result(None)
            async for _ in it:
                pass

    task = asyncio.ensure_future(consume())
    await wait_for(started)
    await next_turns(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert r.destroyed and r.errored is None


# ---------------------------------------------------------------- from_


async def test_from_list_is_object_mode_with_mark_1() -> None:
    r = Readable.from_([1, "two", {"three": 3}])
    assert r.readable_object_mode and r.readable_high_water_mark == 1
    assert [x async for x in r] == [1, "two", {"three": 3}]


async def test_from_bytes_and_str_are_one_chunk() -> None:
    assert [c async for c in Readable.from_(b"whole")] == [b"whole"]
    assert [c async for c in Readable.from_("whole")] == ["whole"]


async def test_from_async_generator() -> None:
    async def gen() -> Any:
        for i in range(3):
            await asyncio.sleep(0)
            yield i

    assert [x async for x in Readable.from_(gen())] == [0, 1, 2]


async def test_from_sync_iterable_of_awaitables() -> None:
    async def value(v: int) -> int:
        return v

    assert [x async for x in Readable.from_(value(i) for i in range(3))] == [0, 1, 2]


async def test_from_none_item_is_ERR_STREAM_NULL_VALUES() -> None:
    r = Readable.from_([1, None, 2])
    with pytest.raises(errors.NodeError) as info:
        async for _ in r:
            pass
    assert info.value.code == "ERR_STREAM_NULL_VALUES"


async def test_from_iterator_error_destroys_with_it() -> None:
    def gen() -> Any:
        yield 1
        raise KeyError("gen failed")

    with pytest.raises(KeyError):
        async for _ in Readable.from_(gen()):
            pass


async def test_from_not_iterable_is_ERR_INVALID_ARG_TYPE() -> None:
    with pytest.raises(errors.NodeError) as info:
        Readable.from_(42)
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


async def test_destroying_a_from_stream_closes_the_async_generator() -> None:
    closed = asyncio.get_running_loop().create_future()

    async def gen() -> Any:
        try:
            yield 1
            await asyncio.get_running_loop().create_future()  # never resolves
            yield 2
        finally:
            closed.set_result(True)

    r = Readable.from_(gen())
    r.on("data", lambda d: None)
    await next_turns(5)
    r.destroy()
    await wait_for(closed)
    await wait_event(r, "close")


# ---------------------------------------------------------------- properties


async def test_readable_properties() -> None:
    r = Source(high_water_mark=10)
    assert r.readable and not r.readable_ended and r.readable_length == 0
    assert r.readable_encoding is None and not r.readable_object_mode
    assert r.readable_high_water_mark == 10 and not r.readable_did_read
    r.push(b"abc")
    assert r.readable_length == 3 and r.readable_buffer == [b"abc"]
    r.push(None)
    r.resume()
    await wait_event(r, "end")
    assert r.readable_ended and not r.readable and r.readable_did_read
    assert Readable().readable_high_water_mark == 16384
    assert Readable(object_mode=True).readable_high_water_mark == 16
