"""Property tests: pipes deliver every byte once, in order, within the marks.

Each example runs on a fresh uvloop. The Writable is slow (its ``_write`` calls back
later, from ``call_soon``), so backpressure is exercised on every run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from nodish.stream import PassThrough, Readable, Writable

CHUNK_SIZES = st.lists(st.integers(min_value=0, max_value=3000), min_size=0, max_size=40)
MARKS = st.integers(min_value=0, max_value=5000)


class Source(Readable):
    """Pushes the given chunks, from _read, synchronously or from the loop."""

    __slots__ = ("chunks", "later")

    def __init__(self, chunks: list[bytes], later: bool, **opts: Any) -> None:
        super().__init__(**opts)
        self.chunks = chunks
        self.later = later

    def _read(self, size: int) -> None:
        if self.later:
            asyncio.get_running_loop().call_soon(self._push_next)
        else:
            self._push_next()

    def _push_next(self) -> None:
        if self.destroyed:
            return
        self.push(self.chunks.pop(0) if self.chunks else None)


class SlowSink(Writable):
    """Calls back from the loop; records what it got and the queued length seen."""

    __slots__ = ("got", "worst")

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.got: list[bytes] = []
        self.worst = 0  # max of (length after a write) - (that chunk): must stay < mark

    def _write(self, chunk: Any, encoding: str, callback: Any) -> None:
        self.got.append(bytes(chunk))
        asyncio.get_running_loop().call_soon(callback)


def make_chunks(sizes: list[int]) -> list[bytes]:
    out, n = [], 0
    for size in sizes:
        out.append(bytes((n + i) % 251 for i in range(size)))
        n += size
    return out


def run(coro: Any) -> Any:
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, 2))
    finally:
        loop.close()


def watch_writes(src: Readable, sink: SlowSink, mark: int) -> list[int]:
    """Record, after every write the pipe makes, how far over the mark the sink went."""
    excess: list[int] = []

    def after_data(chunk: bytes) -> None:
        before = sink.writable_length - len(chunk)
        # write() is only called while the previous one said True: length < mark,
        # or the queue was empty (Node's rule), so at most one chunk goes over.
        excess.append(before if before >= max(mark, 1) else 0)

    src.on("data", after_data)  # after pipe's own 'data' listener
    return excess


@settings(max_examples=60, deadline=None)
@given(sizes=CHUNK_SIZES, mark=MARKS, readable_mark=MARKS, later=st.booleans())
def test_pipe_to_slow_writable_delivers_every_byte_once_in_order_within_one_chunk(
    sizes: list[int], mark: int, readable_mark: int, later: bool
) -> None:
    chunks = make_chunks(sizes)

    async def scenario() -> None:
        src = Source(list(chunks), later, high_water_mark=readable_mark)
        sink = SlowSink(high_water_mark=mark)
        finished = asyncio.get_running_loop().create_future()
        sink.on("finish", lambda: finished.set_result(None))
        src.pipe(sink)
        excess = watch_writes(src, sink, mark)
        await finished
        assert b"".join(sink.got) == b"".join(chunks)
        assert excess == [] or max(excess) == 0

    run(scenario())


@settings(max_examples=40, deadline=None)
@given(sizes=CHUNK_SIZES, mark=MARKS, middle_mark=MARKS)
def test_pipe_through_passthrough_keeps_bytes_and_order(
    sizes: list[int], mark: int, middle_mark: int
) -> None:
    chunks = make_chunks(sizes)

    async def scenario() -> None:
        src = Source(list(chunks), True)
        sink = SlowSink(high_water_mark=mark)
        finished = asyncio.get_running_loop().create_future()
        sink.on("finish", lambda: finished.set_result(None))
        src.pipe(PassThrough(high_water_mark=middle_mark)).pipe(sink)
        await finished
        assert b"".join(sink.got) == b"".join(chunks)

    run(scenario())


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=3000), max_size=40),
    size=st.integers(min_value=1, max_value=4000),
)
def test_read_n_in_paused_mode_returns_the_stream_in_order(sizes: list[int], size: int) -> None:
    # No empty chunks here: push(b'') from _read does not ask for more (Node stalls too).
    chunks = make_chunks(sizes)

    async def scenario() -> None:
        src = Source(list(chunks), False)
        out: list[bytes] = []
        ended = asyncio.get_running_loop().create_future()
        src.on("end", lambda: ended.set_result(None))

        def on_readable() -> None:
            while (piece := src.read(size)) is not None:
                assert len(piece) == size or src._r_ended
                out.append(piece)

        src.on("readable", on_readable)
        await ended
        assert b"".join(out) == b"".join(chunks)

    run(scenario())
