"""``Readable.from_()``: a Readable fed by an iterable or async iterable.

Theory of operation
-------------------
A port of Node v20's ``lib/internal/streams/from.js``. ``_read`` pulls items until
``push()`` returns False (a full buffer) and stops; the next ``_read`` continues. A sync
iterator is pulled inline; an async iterator by a task, one ``__anext__`` at a time.
An item that is awaitable, from a sync iterator, switches to awaiting each item (Node
does the same for promises). None is not a valid item (``ERR_STREAM_NULL_VALUES``);
an exception from the iterator destroys the stream with it.

Pulls run as :func:`nodish.runtime.spawn` tasks: a pending pull keeps ``nodish.run()``
alive, as a pending read would. Destroying the stream closes the iterator: a task
waiting on ``__anext__`` is cancelled, then ``aclose()`` (async generators) or
``close()`` (generators) runs. Node throws the destroy error into the iterator first;
Python's generators are closed instead.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from .. import runtime
from ..errors import ERR_INVALID_ARG_TYPE, ERR_STREAM_NULL_VALUES
from ._base import Callback
from .readable import Readable

__all__ = ["readable_from"]

_WHOLE = (str, bytes, bytearray, memoryview)


class _IterReadable(Readable):
    """A Readable pulling from an iterator."""

    __slots__ = ("_busy", "_is_async", "_it", "_task")

    def __init__(self, it: Any, is_async: bool, **options: Any) -> None:
        super().__init__(**options)
        self._it = it
        self._is_async = is_async
        self._busy = False  # a pull is in progress: _read must not start another
        self._task: asyncio.Task[None] | None = None

    def _read(self, size: int) -> None:
        if not self._busy:
            self._busy = True
            if self._is_async:
                self._task = runtime.spawn(self._next_async(), self)
            else:
                self._next_sync()

    def _next_sync(self) -> None:
        it = self._it
        while True:
            try:
                value = next(it)
            except StopIteration:
                self.push(None)
                return
            except Exception as exc:
                self.destroy(exc)
                return
            if inspect.isawaitable(value):
                self._is_async = True  # from now on every item may need awaiting
                self._task = runtime.spawn(self._next_sync_awaiting(value), self)
                return
            if not self._deliver(value):
                return

    def _deliver(self, value: Any) -> bool:
        """Push ``value``; True to keep pulling."""
        if value is None:
            self._busy = False
            self.destroy(ERR_STREAM_NULL_VALUES())
            return False
        try:
            if self.push(value):
                return True
        except Exception as exc:  # a 'data' listener raised: Node destroys with it
            self.destroy(exc)
            return False
        self._busy = False
        return False

    async def _next_sync_awaiting(self, first: Any) -> None:
        try:
            value = await first
        except Exception as exc:
            self.destroy(exc)
            return
        it = self._it
        while self._deliver(value):
            try:
                value = next(it)
                if inspect.isawaitable(value):
                    value = await value
            except StopIteration:
                self.push(None)
                return
            except Exception as exc:
                self.destroy(exc)
                return

    async def _next_async(self) -> None:
        it = self._it
        while True:
            try:
                if self._is_async and hasattr(it, "__anext__"):
                    value = await it.__anext__()
                else:  # a sync iterator whose items are awaitables
                    value = next(it)
                    if inspect.isawaitable(value):
                        value = await value
            except (StopAsyncIteration, StopIteration):
                self.push(None)
                return
            except Exception as exc:
                self.destroy(exc)
                return
            if not self._deliver(value):
                return

    def _destroy(self, err: BaseException | None, callback: Callback) -> None:
        task = self._task
        self._task = None
        it = self._it

        async def close() -> None:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()

        if hasattr(it, "aclose") or (task is not None and not task.done()):

            def closed(t: asyncio.Task[None]) -> None:
                exc = None if t.cancelled() else t.exception()
                self._tick(callback, exc if exc is not None else err)

            runtime.spawn(close(), self).add_done_callback(closed)
            return
        close_sync = getattr(it, "close", None)
        if close_sync is not None:
            try:
                close_sync()
            except Exception as exc:
                self._tick(callback, exc)
                return
        self._tick(callback, err)


def readable_from(
    iterable: Any,
    *,
    object_mode: bool = True,
    high_water_mark: int | None = None,
    encoding: str | None = None,
) -> Readable:
    """See :meth:`Readable.from_`."""
    if isinstance(iterable, _WHOLE):
        whole = iterable

        def read(self: Readable, size: int) -> None:
            self.push(whole)
            self.push(None)

        return Readable(
            object_mode=object_mode,
            high_water_mark=high_water_mark,
            encoding=encoding,
            read=read,
        )
    if hasattr(iterable, "__aiter__"):
        it, is_async = iterable.__aiter__(), True
    elif hasattr(iterable, "__iter__"):
        it, is_async = iter(iterable), False
    else:
        raise ERR_INVALID_ARG_TYPE(
            "iterable", "an iterable or async iterable", type(iterable).__name__
        )
    return _IterReadable(
        it,
        is_async,
        object_mode=object_mode,
        high_water_mark=1 if high_water_mark is None else high_water_mark,
        encoding=encoding,
    )
