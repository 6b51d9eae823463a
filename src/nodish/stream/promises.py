"""``nodish.stream.promises``: awaitable ``pipeline`` and ``finished`` (``node:stream/promises``).

from nodish.stream import promises

await promises.pipeline(source, transform, destination)
await promises.finished(stream)
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import _eos
from .pipeline import pipeline_impl

__all__ = ["finished", "pipeline"]


async def pipeline(*streams: Any) -> Any:
    """Run :func:`nodish.stream.pipeline` and wait for it.

    Returns:
        The value of a last stage that is an async function, else None.

    Raises:
        The first error of the pipeline (every stream has been destroyed by then).
        Cancelling the wait destroys every stream of the pipeline.
    """
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(err: BaseException | None, value: Any) -> None:
        if fut.done():
            return
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(value)

    pipeline_impl(streams, done)
    try:
        return await fut
    except asyncio.CancelledError:
        for s in streams:
            destroy = getattr(s, "destroy", None)
            if destroy is not None and not getattr(s, "destroyed", True):
                destroy()
        raise


async def finished(
    stream: Any,
    *,
    readable: bool | None = None,
    writable: bool | None = None,
    error: bool = True,
    cleanup: bool = False,
) -> None:
    """Wait until ``stream`` is done (Node's ``stream/promises`` ``finished``).

    Args:
        readable, writable, error: as for :func:`nodish.stream.finished`.
        cleanup: remove the listeners once done (Node's ``cleanup`` option).

    Raises:
        The stream's error, or ``ERR_STREAM_PREMATURE_CLOSE`` if it closed early.
    """
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done(err: BaseException | None = None) -> None:
        if fut.done():
            return
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(None)

    remove = _eos.finished(stream, callback=done, readable=readable, writable=writable, error=error)
    try:
        await fut
    finally:
        if cleanup or not fut.done():
            remove()
