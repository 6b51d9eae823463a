"""Duplex, Transform, PassThrough: Node's rules (test-stream-duplex-*, test-stream-transform-*)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import wait_for

from nodish import errors
from nodish.stream import Duplex, PassThrough, Readable, Transform, Writable


def when(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    emitter.once(name, lambda *args: fut.done() or fut.set_result(args))
    return fut


async def wait_event(emitter: Any, name: str) -> tuple[Any, ...]:
    return await wait_for(when(emitter, name))


async def next_turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class Pair(Duplex):
    """A Duplex whose readable side is fed by the test and whose writes are recorded."""

    __slots__ = ("written",)

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.written: list[bytes] = []

    def _read(self, size: int) -> None:
        pass

    def _write(self, chunk: Any, encoding: str, callback: Any) -> None:
        self.written.append(chunk)
        callback()


# ---------------------------------------------------------------- Duplex


async def test_duplex_is_readable_and_writable() -> None:
    d = Pair()
    assert isinstance(d, Readable) and isinstance(d, Writable)
    assert d.readable and d.writable and d.allow_half_open
    d.write(b"out")
    d.push(b"in")
    assert d.written == [b"out"] and d.read() == b"in"


async def test_allow_half_open_false_ends_writable_side_after_end() -> None:
    # Node's onReadableEnd: end() is called on the writable side
    d = Pair(allow_half_open=False)
    order: list[str] = []
    d.on("end", lambda: order.append("end"))
    d.on("finish", lambda: order.append("finish"))
    closed = when(d, "close")
    d.resume()
    d.push(None)
    await wait_for(closed)
    assert order == ["end", "finish"]
    assert d.writable_ended and d.destroyed


async def test_allow_half_open_true_keeps_writing_after_end() -> None:
    d = Pair()
    d.resume()
    d.push(None)
    await wait_event(d, "end")
    await next_turns()
    assert d.writable and not d.destroyed
    d.write(b"still")
    assert d.written == [b"still"]


async def test_auto_destroy_waits_for_both_sides() -> None:
    d = Pair()
    d.end()
    await wait_event(d, "finish")
    await next_turns()
    assert not d.destroyed  # the readable side has not ended yet
    closed = when(d, "close")
    d.resume()
    d.push(None)
    await wait_for(closed)
    assert d.readable_ended and d.writable_finished


async def test_side_specific_high_water_marks_and_object_modes() -> None:
    d = Pair(readable_high_water_mark=5, writable_high_water_mark=7)
    assert d.readable_high_water_mark == 5 and d.writable_high_water_mark == 7
    d2 = Pair(high_water_mark=3, readable_high_water_mark=5)
    assert d2.readable_high_water_mark == 3 and d2.writable_high_water_mark == 3
    d3 = Pair(readable_object_mode=True)
    assert d3.readable_object_mode and not d3.writable_object_mode
    assert d3.readable_high_water_mark == 16 and d3.writable_high_water_mark == 16384


async def test_readable_false_and_writable_false() -> None:
    d = Pair(readable=False)
    assert not d.readable and d.writable
    d2 = Pair(writable=False)
    assert d2.readable and not d2.writable and d2.writable_finished


async def test_duplex_error_is_emitted_once_for_both_sides() -> None:
    d = Pair()
    errs: list[Any] = []
    d.on("error", errs.append)
    closed = when(d, "close")
    d.destroy(ValueError("one"))
    await wait_for(closed)
    assert [str(e) for e in errs] == ["one"]
    assert not d.readable and not d.writable


async def test_duplex_keyword_hooks() -> None:
    written: list[bytes] = []
    d = Duplex(
        read=lambda self, n: self.push(None),
        write=lambda self, c, e, cb: (written.append(c), cb()),
    )
    d.end(b"w")
    chunks = [c async for c in d]
    assert chunks == [] and written == [b"w"]


async def test_emit_close_false_duplex_lets_subclass_emit_close() -> None:
    # net.Socket's contract: error then nothing; the subclass emits 'close' itself
    d = Pair(emit_close=False)
    seen: list[str] = []
    d.on("error", lambda e: seen.append("error"))
    d.on("close", lambda *a: seen.append("close"))
    errored = when(d, "error")
    d.destroy(ValueError("x"))
    await wait_for(errored)
    await next_turns()
    assert seen == ["error"]


# ---------------------------------------------------------------- Transform


def upper() -> Transform:
    return Transform(transform=lambda self, chunk, enc, cb: cb(None, chunk.upper()))


async def test_transform_output_from_input() -> None:
    t = upper()
    t.end(b"abc")
    assert [c async for c in t] == [b"ABC"]


async def test_transform_flush_pushes_last_piece_before_end() -> None:
    def transform(self: Transform, chunk: bytes, enc: str, cb: Any) -> None:
        cb()  # swallow

    t = Transform(transform=transform, flush=lambda self, cb: cb(None, b"summary"))
    t.write(b"x")
    t.end()
    assert [c async for c in t] == [b"summary"]


async def test_transform_may_push_several_times_per_chunk() -> None:
    def split(self: Transform, chunk: bytes, enc: str, cb: Any) -> None:
        for byte in chunk:
            self.push(bytes([byte]))
        cb()

    t = Transform(transform=split)
    t.end(b"abc")
    assert b"".join([c async for c in t]) == b"abc"


async def test_transform_error_destroys_with_it() -> None:
    t = Transform(transform=lambda self, c, e, cb: cb(ValueError("bad chunk")))
    errs: list[Any] = []
    t.on("error", errs.append)
    closed = when(t, "close")
    t.write(b"x")
    await wait_for(closed)
    assert [str(e) for e in errs] == ["bad chunk"]


async def test_flush_error_destroys_with_it() -> None:
    t = Transform(
        transform=lambda self, c, e, cb: cb(None, c),
        flush=lambda self, cb: cb(KeyError("flush")),
    )
    errs: list[Any] = []
    t.on("error", errs.append)
    closed = when(t, "close")
    t.resume()
    t.end(b"x")
    await wait_for(closed)
    assert [type(e) for e in errs] == [KeyError]


async def test_missing_transform_is_ERR_METHOD_NOT_IMPLEMENTED() -> None:
    t = Transform()
    with pytest.raises(errors.NodeError) as info:
        t.write(b"x")
    assert info.value.code == "ERR_METHOD_NOT_IMPLEMENTED"


async def test_transform_backpressure_holds_writes_until_read() -> None:
    # The readable side is full: the write's callback waits for _read. Node 20 gives
    # exactly this sequence for a PassThrough with highWaterMark 2.
    t = PassThrough(high_water_mark=2)
    acks: list[int] = []
    results = [
        t.write(c, callback=lambda err, i=i: acks.append(i))
        for i, c in enumerate([b"ab", b"cd", b"ef"], 1)
    ]
    assert results == [False, False, False]
    await next_turns()
    assert (t.readable_length, t.writable_length, acks) == (2, 6, [])
    assert t.read() == b"abcd"  # _read releases 'ab', then 'cd' is transformed at once
    await next_turns()
    assert (t.readable_length, t.writable_length, acks) == (2, 2, [1, 2])
    assert t.read() == b"ef"
    await next_turns()
    assert (t.readable_length, t.writable_length, acks) == (0, 0, [1, 2, 3])


async def test_transform_subclass_with_flush_method() -> None:
    class Counter(Transform):
        __slots__ = ("n",)

        def __init__(self) -> None:
            super().__init__(readable_object_mode=True)
            self.n = 0

        def _transform(self, chunk: Any, encoding: str, callback: Any) -> None:
            self.n += len(chunk)
            callback()

        def _flush(self, callback: Any) -> None:
            callback(None, self.n)

    c = Counter()
    c.write(b"abc")
    c.end(b"de")
    assert [x async for x in c] == [5]


async def test_passthrough_passes_everything_and_respects_object_mode() -> None:
    p = PassThrough(object_mode=True)
    for item in (1, "two", [3]):
        p.write(item)
    p.end()
    assert [x async for x in p] == [1, "two", [3]]


async def test_transform_readable_mark_zero_disables_writable_buffering() -> None:
    t = PassThrough(readable_high_water_mark=0)
    assert t.readable_high_water_mark == 0 and t.writable_high_water_mark == 0


async def test_transform_with_encoding_emits_strings() -> None:
    t = PassThrough(encoding="utf8")
    data = "é".encode()
    t.write(data[:1])
    t.end(data[1:])
    assert [c async for c in t] == ["é"]
