"""``pipeline()`` and ``finished()``: connecting streams with error handling and cleanup.

Theory of operation
-------------------
A port of Node v20's ``lib/internal/streams/pipeline.js``. ``pipeline(a, b, c)`` pipes
each stream into the next and watches every one of them with :func:`finished`. Each
connection counts two completions (the source's readable side, the destination's
writable side). The first error (a premature close only if nothing better comes)
destroys every stream that has not completed, with that error; the callback runs
once every completion is in, on the next tick, with that error or None.

Besides streams, the first item may be an iterable or async iterable (its items are
written to the next stream) or a function returning one; later items may be functions
taking the previous stage as an async iterable and returning an async iterable
(a transform), or, last, returning an awaitable whose result is the pipeline's value.
Such a last function is wrapped in an object-mode PassThrough, so ``pipeline`` always
returns a stream.

Design choice: ``pipeline(..., callback=fn)`` returns the last stream, as Node's; the
awaitable form is :func:`nodish.stream.promises.pipeline`. Without a callback a
failure goes to the uncaught-exception path (as an unhandled error would in Node).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from .. import runtime
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_RETURN_VALUE,
    ERR_MISSING_ARGS,
    ERR_STREAM_DESTROYED,
    ERR_STREAM_PREMATURE_CLOSE,
    AbortError,
    validate_callback,
)
from ._base import Stream
from ._eos import (
    destroyer,
    finished,
    is_readable,
    is_readable_finished,
    is_readable_stream,
)
from .readable import Readable
from .transform import PassThrough
from .writable import Writable

__all__ = ["finished", "pipeline"]

_PREMATURE = "ERR_STREAM_PREMATURE_CLOSE"
_WHOLE = (str, bytes, bytearray, memoryview)


def pipeline(*streams: Any, callback: Callable[..., Any] | None = None) -> Any:
    """Pipe ``streams`` into each other; destroy them all if one fails.

    Mirrors Node's ``stream.pipeline(source[, ...transforms], destination, callback)``;
    the callback is the keyword ``callback=``. See the module documentation for the
    iterables and functions accepted besides streams.

    Args:
        *streams: at least two: a source, transforms, a destination.
        callback: called once with None when everything completed, or with the
            first error once every stream has been destroyed.

    Returns:
        The last stream.

    Raises:
        ERR_MISSING_ARGS: fewer than two streams.
        ERR_INVALID_ARG_TYPE / ERR_INVALID_RETURN_VALUE: an item is not usable, or
            ``callback`` is not callable.
    """
    validate_callback(callback)

    def done(err: BaseException | None, value: Any) -> None:
        if callback is not None:
            callback(err)
        elif err is not None:
            runtime.report_uncaught(err)

    return pipeline_impl(streams, done)


def _is_async_iterable(obj: Any) -> bool:
    return hasattr(obj, "__aiter__")


def _is_iterable(obj: Any) -> bool:
    return hasattr(obj, "__aiter__") or hasattr(obj, "__iter__")


async def _aiter_sync(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _as_async_iterable(val: Any) -> Any:
    if isinstance(val, Readable):
        return val.iterator()
    if _is_async_iterable(val):
        return val
    if isinstance(val, _WHOLE):
        return _aiter_sync([val])
    if _is_iterable(val):
        return _aiter_sync(val)
    raise ERR_INVALID_ARG_TYPE("val", "a Readable, iterable or async iterable", type(val).__name__)


def _stage_destroyer(
    stream: Stream, reading: bool, writing: bool
) -> tuple[Callable[[BaseException | None], None], Callable[[], None]]:
    completed = False

    def on_close(*_: Any) -> None:
        nonlocal completed
        completed = True

    stream.on("close", on_close)

    def on_done(err: BaseException | None = None) -> None:
        nonlocal completed
        completed = err is None

    cleanup = finished(stream, callback=on_done, readable=reading, writable=writing)

    def destroy(err: BaseException | None) -> None:
        nonlocal completed
        if completed:
            return
        completed = True
        destroyer(stream, err if err is not None else ERR_STREAM_DESTROYED("pipe"))

    return destroy, cleanup


def pipeline_impl(
    items: tuple[Any, ...] | list[Any], callback: Callable[[BaseException | None, Any], Any]
) -> Any:
    """The engine of :func:`pipeline`: ``callback(err, value)`` once done."""
    streams = list(items)
    if len(streams) == 1 and isinstance(streams[0], (list, tuple)):
        streams = list(streams[0])
    if len(streams) < 2:
        raise ERR_MISSING_ARGS("streams")

    error: BaseException | None = None
    value: Any = None
    destroys: list[Callable[[BaseException | None], None]] = []
    last_cleanup: list[Callable[[], None]] = []
    finish_count = 0
    called = False

    def finish(err: BaseException | None = None) -> None:
        nonlocal finish_count
        finish_count -= 1
        finish_impl(err, finish_count == 0)

    def finish_impl(err: BaseException | None, final: bool) -> None:
        nonlocal error, called
        if err is not None and (error is None or getattr(error, "code", None) == _PREMATURE):
            error = err
        if error is None and not final:
            return
        while destroys:
            destroys.pop(0)(error)
        if final and not called:
            called = True
            if error is None:
                for fn in last_cleanup:
                    fn()
            runtime.next_tick(callback, error, value)

    def spawn(coro: Any) -> None:
        # a running pump keeps nodish.run() alive, like the data it moves
        runtime.spawn(coro)

    ret: Any = None
    n = len(streams)
    for i, stream in enumerate(streams):
        reading = i < n - 1
        writing = i > 0
        is_last = i == n - 1

        if isinstance(stream, Stream):
            destroy, cleanup = _stage_destroyer(stream, reading, writing)
            destroys.append(destroy)
            if is_readable(stream) and is_last:
                last_cleanup.append(cleanup)

            def on_error(err: BaseException, _s: Stream = stream) -> None:
                # errors that arrive after the pipe itself has completed
                if (
                    err is not None
                    and not isinstance(err, AbortError)
                    and getattr(err, "code", None) != _PREMATURE
                ):
                    finish(err)

            stream.on("error", on_error)
            if is_readable(stream) and is_last:
                last_cleanup.append(
                    lambda _s=stream, _f=on_error: _s.remove_listener("error", _f)  # type: ignore[misc]
                )

        if i == 0:
            if isinstance(stream, Stream):
                if not is_readable_stream(stream):
                    raise ERR_INVALID_ARG_TYPE(
                        "streams[0]", "a readable stream", type(stream).__name__
                    )
                ret = stream
            elif callable(stream):
                ret = stream()
                if not _is_iterable(ret):
                    raise ERR_INVALID_RETURN_VALUE(
                        "Iterable, AsyncIterable or Stream", "source", type(ret).__name__
                    )
            elif _is_iterable(stream):
                ret = [stream] if isinstance(stream, _WHOLE) else stream
            else:
                raise ERR_INVALID_ARG_TYPE(
                    "streams[0]", "a stream, iterable or function", type(stream).__name__
                )
        elif callable(stream) and not isinstance(stream, Stream):
            ret = stream(_as_async_iterable(ret))
            if reading:
                if not _is_async_iterable(ret):
                    raise ERR_INVALID_RETURN_VALUE(
                        "AsyncIterable", f"transform[{i - 1}]", type(ret).__name__
                    )
            else:
                pt = PassThrough(object_mode=True)
                if inspect.isawaitable(ret):
                    finish_count += 1

                    async def settle(aw: Any = ret, pt: PassThrough = pt) -> None:
                        nonlocal value
                        try:
                            val = await aw
                        except Exception as exc:
                            pt.destroy(exc)
                            runtime.next_tick(finish, exc)
                            return
                        value = val
                        if val is not None:
                            pt.write(val)
                        pt.end()
                        runtime.next_tick(finish)

                    spawn(settle())
                elif _is_async_iterable(ret):
                    finish_count += 1
                    spawn(_pump_to_node(ret, pt, finish, True))
                else:
                    raise ERR_INVALID_RETURN_VALUE(
                        "AsyncIterable or awaitable", "destination", type(ret).__name__
                    )
                ret = pt
                destroy, cleanup = _stage_destroyer(pt, False, True)
                destroys.append(destroy)
                if is_last:
                    last_cleanup.append(cleanup)
        elif isinstance(stream, Stream):
            if not isinstance(stream, Writable):
                raise ERR_INVALID_ARG_TYPE(
                    f"streams[{i}]", "a writable stream", type(stream).__name__
                )
            if isinstance(ret, Readable) and is_readable_stream(ret):
                finish_count += 2
                cleanup = _pipe(ret, stream, finish, True)
                if is_readable(stream) and is_last:
                    last_cleanup.append(cleanup)
            elif _is_iterable(ret):
                finish_count += 1
                spawn(_pump_to_node(ret, stream, finish, True))
            else:
                raise ERR_INVALID_ARG_TYPE(
                    "val", "a Readable, iterable or async iterable", type(ret).__name__
                )
            ret = stream
        else:
            raise ERR_INVALID_ARG_TYPE(
                f"streams[{i}]", "a stream or function", type(stream).__name__
            )
    return ret


def _pipe(
    src: Readable, dst: Writable, finish: Callable[..., None], end: bool
) -> Callable[[], None]:
    ended = False

    def on_dst_close(*_: Any) -> None:
        if not ended:
            # the destination closed before the source completed
            finish(ERR_STREAM_PREMATURE_CLOSE())

    dst.on("close", on_dst_close)
    src.pipe(dst, end=False)  # we end dst ourselves, below

    if end:

        def end_fn(*_: Any) -> None:
            nonlocal ended
            ended = True
            dst.end()

        if is_readable_finished(src):
            src._tick(end_fn)
        else:
            src.once("end", end_fn)
    else:
        finish()

    def on_src_done(err: BaseException | None = None) -> None:
        if (
            err is not None
            and getattr(err, "code", None) == _PREMATURE
            and src._r_ended
            and src._errored is None
            and not src._error_emitted
        ):
            # closed before 'end' although ended: 'end' (or 'error') still comes
            src.once("end", finish).once("error", finish)
        else:
            finish(err)

    finished(src, callback=on_src_done, readable=True, writable=False)
    return finished(dst, callback=finish, readable=False, writable=True)


async def _pump_to_node(
    iterable: Any, writable: Writable, finish: Callable[..., None], end: bool
) -> None:
    loop = asyncio.get_running_loop()
    error: BaseException | None = None
    waiter: asyncio.Future[None] | None = None

    def resume(err: BaseException | None = None) -> None:
        nonlocal error, waiter
        if err is not None:
            error = err
        w = waiter
        if w is not None:
            waiter = None
            if not w.done():
                w.set_result(None)

    async def wait() -> None:
        nonlocal waiter
        if error is not None:
            raise error
        waiter = loop.create_future()
        await waiter
        if error is not None:
            raise error

    writable.on("drain", resume)
    cleanup = finished(writable, callback=resume, readable=False)
    try:
        if writable.writable_need_drain:
            await wait()
        if _is_async_iterable(iterable):
            async for chunk in iterable:
                if not writable.write(chunk):
                    await wait()
        else:
            for chunk in iterable:
                if not writable.write(chunk):
                    await wait()
        if end:
            writable.end()
            await wait()
        finish()
    except Exception as exc:
        finish(exc)
    finally:
        cleanup()
        writable.remove_listener("drain", resume)
