"""readable.pipe(): backpressure, unpipe, 'pipe'/'unpipe', errors (test-stream-pipe-*.js)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import wait_for

from nodish.stream import PassThrough, Readable, Writable


def when(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    emitter.once(name, lambda *args: fut.done() or fut.set_result(args))
    return fut


async def wait_event(emitter: Any, name: str) -> tuple[Any, ...]:
    return await wait_for(when(emitter, name))


async def next_turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class Source(Readable):
    __slots__ = ()

    def _read(self, size: int) -> None:
        pass


class Slow(Writable):
    """Calls back only when released by the test."""

    __slots__ = ("chunks", "pending")

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.chunks: list[bytes] = []
        self.pending: list[Any] = []

    def _write(self, chunk: Any, encoding: str, callback: Any) -> None:
        self.chunks.append(chunk)
        self.pending.append(callback)

    def release_all(self) -> None:
        while self.pending:
            self.pending.pop(0)()


def collector() -> tuple[Writable, list[bytes]]:
    got: list[bytes] = []
    return Writable(write=lambda self, c, e, cb: (got.append(c), cb())), got


async def test_pipe_delivers_everything_and_ends_the_destination() -> None:
    src = Readable.from_([b"a", b"b", b"c"], object_mode=False)
    dst, got = collector()
    assert src.pipe(dst) is dst
    await wait_event(dst, "finish")
    assert got == [b"a", b"b", b"c"]


async def test_pipe_pauses_on_false_write_and_resumes_on_drain() -> None:
    src = Source()
    dst = Slow(high_water_mark=4)
    src.pipe(dst)
    await wait_event(src, "resume")
    paused = when(src, "pause")
    src.push(b"12")  # in flight, 2 < 4
    src.push(b"345")  # buffered, 5 >= 4: write() returns False
    await wait_for(paused)
    assert src.is_paused() and src.readable_flowing is False
    src.push(b"6")  # the source keeps it while paused
    assert src.readable_length == 1
    assert dst.chunks == [b"12"]
    resumed = when(src, "resume")
    dst.release_all()  # drains: 'drain' -> resume
    await wait_for(resumed)
    await next_turns()
    dst.release_all()
    assert b"".join(dst.chunks) == b"123456"


async def test_pipe_end_false_leaves_destination_open() -> None:
    src = Readable.from_([b"x"], object_mode=False)
    dst, got = collector()
    src.pipe(dst, end=False)
    await wait_event(src, "end")
    await next_turns()
    assert got == [b"x"] and dst.writable and not dst.writable_ended


async def test_pipe_and_unpipe_events_on_the_destination() -> None:
    src = Source()
    dst, _ = collector()
    seen: list[Any] = []
    dst.on("pipe", lambda s: seen.append(("pipe", s)))
    dst.on("unpipe", lambda s: seen.append(("unpipe", s)))
    src.pipe(dst)
    src.unpipe(dst)
    assert seen == [("pipe", src), ("unpipe", src)]
    assert src.readable_flowing is False  # no pipe left: paused


async def test_unpipe_stops_the_flow_to_that_destination_only() -> None:
    src = Source()
    a, got_a = collector()
    b, got_b = collector()
    src.pipe(a)
    src.pipe(b)
    await wait_event(src, "resume")
    src.push(b"1")
    src.unpipe(a)
    src.push(b"2")
    await next_turns()
    assert got_a == [b"1"] and got_b == [b"1", b"2"]


async def test_unpipe_all() -> None:
    src = Source()
    a, got_a = collector()
    b, got_b = collector()
    src.pipe(a)
    src.pipe(b)
    unpiped: list[Any] = []
    a.on("unpipe", unpiped.append)
    b.on("unpipe", unpiped.append)
    src.unpipe()
    assert unpiped == [src, src]
    src.push(b"x")
    await next_turns()
    assert got_a == [] and got_b == []


async def test_two_destinations_wait_for_both_drains() -> None:
    src = Source()
    fast, got = collector()
    slow = Slow(high_water_mark=1)
    src.pipe(fast)
    src.pipe(slow)
    await wait_event(src, "resume")
    paused = when(src, "pause")
    src.push(b"ab")
    await wait_for(paused)
    src.push(b"cd")
    await next_turns()
    assert got == [b"ab"]  # the slow one holds the source
    resumed = when(src, "resume")
    slow.release_all()
    await wait_for(resumed)
    await next_turns()
    slow.release_all()
    assert got == [b"ab", b"cd"] and slow.chunks == [b"ab", b"cd"]


async def test_destination_error_unpipes_and_is_emitted() -> None:
    src = Source()
    dst = Writable(write=lambda self, c, e, cb: cb(ValueError("dst failed")))
    errs: list[Any] = []
    dst.on("error", errs.append)
    unpiped, closed = when(dst, "unpipe"), when(dst, "close")
    src.pipe(dst)
    await wait_event(src, "resume")
    src.push(b"x")
    await wait_for(unpiped)
    await wait_for(closed)
    assert [str(e) for e in errs] == ["dst failed"]
    assert src.readable_flowing is False and not src.destroyed
    good, got = collector()  # the source still works for another destination
    src.pipe(good)
    src.push(b"y")
    src.push(None)
    await wait_event(good, "finish")
    assert got == [b"y"]


async def test_destination_close_unpipes() -> None:
    src = Source()
    dst, _ = collector()
    src.pipe(dst)
    unpiped = when(dst, "unpipe")
    dst.destroy()
    await wait_for(unpiped)
    assert src._r_pipes == ()


async def test_pipe_into_a_destination_that_needs_drain_waits() -> None:
    src = Source()
    dst = Slow(high_water_mark=1)
    dst.write(b"busy")
    assert dst.writable_need_drain
    src.pipe(dst)
    src.push(b"x")
    await next_turns()
    assert dst.chunks == [b"busy"]
    dst.release_all()
    await next_turns()
    assert dst.chunks == [b"busy", b"x"]


async def test_pipe_after_end_ends_destination_on_next_tick() -> None:
    src = Source()
    src.resume()
    src.push(None)
    await wait_event(src, "end")
    dst, _ = collector()
    src.pipe(dst)
    await wait_event(dst, "finish")


async def test_chain_of_pipes_through_passthrough() -> None:
    src = Readable.from_([b"1", b"2", b"3"], object_mode=False)
    dst, got = collector()
    src.pipe(PassThrough()).pipe(dst)
    await wait_event(dst, "finish")
    assert got == [b"1", b"2", b"3"]
