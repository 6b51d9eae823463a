"""pipeline(), finished(), stream.promises and stream.consumers (test-stream-pipeline-*.js,
test-stream-finished.js, test-stream-consumers.js)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.helpers import wait_for

from nodish import errors
from nodish.stream import (
    Duplex,
    PassThrough,
    Readable,
    Transform,
    Writable,
    consumers,
    finished,
    pipeline,
    promises,
)


def when(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    emitter.once(name, lambda *args: fut.done() or fut.set_result(args))
    return fut


async def next_turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def callback_future() -> tuple[asyncio.Future[Any], Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    calls: list[Any] = []

    def cb(err: Any = None) -> None:
        calls.append(err)
        if not fut.done():
            fut.set_result(err)

    cb.calls = calls  # type: ignore[attr-defined]
    return fut, cb


def collector(**opts: Any) -> tuple[Writable, list[Any]]:
    got: list[Any] = []
    return Writable(write=lambda self, c, e, cb: (got.append(c), cb()), **opts), got


class Source(Readable):
    __slots__ = ()

    def _read(self, size: int) -> None:
        pass


# ---------------------------------------------------------------- pipeline


async def test_pipeline_connects_streams_and_calls_back_once_done() -> None:
    src = Readable.from_([b"a", b"b"], object_mode=False)
    up = Transform(transform=lambda self, c, e, cb: cb(None, c.upper()))
    dst, got = collector()
    done, cb = callback_future()
    assert pipeline(src, up, dst, callback=cb) is dst
    assert await wait_for(done) is None
    assert got == [b"A", b"B"]
    await next_turns()
    assert cb.calls == [None]


async def test_pipeline_error_destroys_every_stream_and_reports_it_once() -> None:
    src = Source()
    mid = PassThrough()
    dst = Writable(write=lambda self, c, e, cb: cb(ValueError("sink broke")))
    done, cb = callback_future()
    pipeline(src, mid, dst, callback=cb)
    src.push(b"x")
    err = await wait_for(done)
    assert isinstance(err, ValueError) and str(err) == "sink broke"
    assert src.destroyed and mid.destroyed and dst.destroyed
    await next_turns()
    assert len(cb.calls) == 1


async def test_pipeline_source_error_propagates_to_the_callback() -> None:
    src = Source()
    dst, _ = collector()
    done, cb = callback_future()
    pipeline(src, dst, callback=cb)
    src.destroy(KeyError("source broke"))
    err = await wait_for(done)
    assert isinstance(err, KeyError)
    assert dst.destroyed


async def test_pipeline_premature_close_of_the_destination() -> None:
    src = Source()
    dst, _ = collector()
    done, cb = callback_future()
    pipeline(src, dst, callback=cb)
    dst.destroy()
    err = await wait_for(done)
    assert getattr(err, "code", None) == "ERR_STREAM_PREMATURE_CLOSE"
    assert src.destroyed


async def test_pipeline_needs_two_streams() -> None:
    with pytest.raises(errors.NodeError) as info:
        pipeline(Source(), callback=lambda err: None)
    assert info.value.code == "ERR_MISSING_ARGS"


async def test_pipeline_rejects_non_streams() -> None:
    with pytest.raises(errors.NodeError) as info:
        pipeline(Source(), 42, callback=lambda err: None)
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


async def test_pipeline_without_callback_reports_failure_on_uncaught_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    src = Source()
    dst, _ = collector()
    pipeline(src, dst)
    closed = when(dst, "close")
    src.destroy(ValueError("nobody waits"))
    await wait_for(closed)
    await next_turns()
    assert any(r.exc_info and "nobody waits" in str(r.exc_info[1]) for r in caplog.records)


async def test_pipeline_with_async_generator_transform_and_iterable_source() -> None:
    async def double(source: Any) -> Any:
        async for item in source:
            yield item * 2

    dst, got = collector(object_mode=True)
    await wait_for(promises.pipeline([1, 2, 3], double, dst))
    assert got == [2, 4, 6]


async def test_pipeline_last_async_function_value_is_returned() -> None:
    async def total(source: Any) -> int:
        n = 0
        async for chunk in source:
            n += len(chunk)
        return n

    src = Readable.from_([b"abc", b"de"], object_mode=False)
    assert await wait_for(promises.pipeline(src, total)) == 5


async def test_pipeline_generator_error_destroys_the_rest() -> None:
    async def broken(source: Any) -> Any:
        async for item in source:
            yield item
            raise ValueError("transform broke")

    dst, _ = collector(object_mode=True)
    with pytest.raises(ValueError, match="transform broke"):
        await wait_for(promises.pipeline([1, 2], broken, dst))
    assert dst.destroyed


async def test_promises_pipeline_raises_the_first_error() -> None:
    src = Source()
    t = Transform(transform=lambda self, c, e, cb: cb(ValueError("t")))
    dst, _ = collector()
    task = asyncio.ensure_future(promises.pipeline(src, t, dst))
    await next_turns(1)
    src.push(b"x")
    with pytest.raises(ValueError, match="t"):
        await wait_for(task)
    assert src.destroyed and t.destroyed and dst.destroyed


async def test_promises_pipeline_cancel_destroys_the_streams() -> None:
    src = Source()
    dst, _ = collector()
    task = asyncio.ensure_future(promises.pipeline(src, dst))
    await next_turns(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert src.destroyed and dst.destroyed


async def test_pipeline_backpressure_with_slow_destination() -> None:
    pending: list[Any] = []
    got: list[bytes] = []

    def write(self: Writable, c: bytes, e: str, cb: Any) -> None:
        got.append(c)
        asyncio.get_running_loop().call_soon(cb)
        pending.append(self.writable_length)

    data = [bytes([i]) * 1000 for i in range(50)]
    dst = Writable(write=write, high_water_mark=2000)
    await wait_for(promises.pipeline(Readable.from_(data, object_mode=False), dst))
    assert got == data
    assert max(pending) <= 2000 + 1000


# ---------------------------------------------------------------- finished


async def test_finished_on_readable_end() -> None:
    r = Readable.from_([b"x"], object_mode=False)
    done, cb = callback_future()
    finished(r, callback=cb)
    r.resume()
    assert await wait_for(done) is None


async def test_finished_on_writable_finish() -> None:
    w, _ = collector()
    done, cb = callback_future()
    finished(w, callback=cb)
    w.end(b"x")
    assert await wait_for(done) is None


async def test_finished_reports_the_error() -> None:
    w, _ = collector()
    done, cb = callback_future()
    finished(w, callback=cb)
    w.destroy(ValueError("e"))
    err = await wait_for(done)
    assert isinstance(err, ValueError)


async def test_finished_premature_close() -> None:
    r = Source()
    done, cb = callback_future()
    finished(r, callback=cb)
    r.destroy()
    err = await wait_for(done)
    assert getattr(err, "code", None) == "ERR_STREAM_PREMATURE_CLOSE"


async def test_finished_on_an_already_finished_stream_calls_back_next_tick() -> None:
    w, _ = collector()
    w.end()
    await wait_for(when(w, "close"))
    done, cb = callback_future()
    finished(w, callback=cb)
    assert not done.done()
    assert await wait_for(done) is None


async def test_finished_waits_for_close_when_the_stream_will_emit_it() -> None:
    order: list[str] = []
    w, _ = collector()
    w.on("finish", lambda: order.append("finish"))
    w.on("close", lambda: order.append("close"))
    done, cb = callback_future()
    finished(w, callback=lambda err: (order.append("finished"), cb(err)))
    w.end()
    await wait_for(done)
    assert order == ["finish", "close", "finished"]


async def test_finished_duplex_needs_both_sides() -> None:
    d = Duplex(read=lambda self, n: None, write=lambda self, c, e, cb: cb())
    done, cb = callback_future()
    finished(d, callback=cb)
    d.end()
    await wait_for(when(d, "finish"))
    await next_turns()
    assert not done.done()
    d.push(None)
    d.resume()
    assert await wait_for(done) is None


async def test_finished_cleanup_removes_listeners() -> None:
    w, _ = collector()
    before = {name: w.listener_count(name) for name in ("finish", "end", "error", "close")}
    cleanup = finished(w, callback=lambda err: None)
    cleanup()
    after = {name: w.listener_count(name) for name in ("finish", "end", "error", "close")}
    assert before == after


async def test_finished_rejects_non_streams() -> None:
    with pytest.raises(errors.NodeError) as info:
        finished(object(), callback=lambda err: None)
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


async def test_promises_finished_resolves_and_raises() -> None:
    w, _ = collector()
    w.end()
    await wait_for(promises.finished(w))
    r = Source()
    task = asyncio.ensure_future(promises.finished(r))
    await next_turns(1)
    r.destroy(ValueError("r"))
    with pytest.raises(ValueError):
        await wait_for(task)


# ---------------------------------------------------------------- consumers


async def test_consumers_text_json_buffer() -> None:
    payload = {"a": [1, "é"]}
    raw = json.dumps(payload, ensure_ascii=False).encode()
    pieces = [raw[i : i + 1] for i in range(len(raw))]  # split inside 'é' too
    assert await consumers.json(Readable.from_(pieces, object_mode=False)) == payload
    assert await consumers.text(Readable.from_(pieces, object_mode=False)) == raw.decode()
    assert await consumers.buffer(Readable.from_(pieces, object_mode=False)) == raw
    assert await consumers.bytes_(Readable.from_(["a", b"b"])) == b"ab"


async def test_consumers_raise_the_stream_error() -> None:
    r = Source()
    r.push(b"partial")
    asyncio.get_running_loop().call_soon(r.destroy, ValueError("cut"))
    with pytest.raises(ValueError, match="cut"):
        await wait_for(consumers.text(r))


async def test_consumers_accept_any_async_iterable() -> None:
    async def gen() -> Any:
        yield b"x"
        yield "y"

    assert await consumers.text(gen()) == "xy"
