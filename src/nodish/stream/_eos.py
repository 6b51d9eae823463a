"""``finished()``: one callback when a stream is done, whatever way it ends.

Theory of operation
-------------------
A port of Node v20's ``lib/internal/streams/end-of-stream.js``. A stream is done when
each side that is watched has completed (``'end'`` for the readable side, ``'finish'``
for the writable side), or when it errors (``'error'``), or when it closes
(``'close'``): closing before completing is ``ERR_STREAM_PREMATURE_CLOSE``. When the
stream will emit ``'close'`` itself after completing (``auto_destroy`` and
``emit_close``), the callback waits for that ``'close'``, so that the resources are
released when it runs. A stream already done when ``finished()`` is called gets its
callback on the next tick.

The callback is called once, with the error or None. Its listeners stay attached
afterwards (as in Node), so a later ``'error'`` is not unhandled; the returned cleanup
function removes them.

Only nodish streams are understood (anything built on :class:`Stream`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ERR_INVALID_ARG_TYPE, ERR_STREAM_PREMATURE_CLOSE, AbortError
from ._base import Stream

__all__ = ["destroyer", "finished"]


def _check(stream: Any) -> Stream:
    if not isinstance(stream, Stream):
        raise ERR_INVALID_ARG_TYPE("stream", "a nodish stream", type(stream).__name__)
    return stream


def is_readable_stream(s: Stream) -> bool:
    """Has a readable side that is enabled (Node's ``isReadableNodeStream``)."""
    return s._has_readable and (not s._has_writable or s._r_enabled)


def is_writable_stream(s: Stream) -> bool:
    """Has a writable side that is enabled (Node's ``isWritableNodeStream``)."""
    return s._has_writable and (not s._has_readable or s._w_enabled)


def is_readable_finished(s: Stream, relaxed: bool = False) -> bool:
    """``'end'`` was emitted (``relaxed``: or the buffer is empty after ``push(None)``)."""
    if s._errored is not None:
        return False
    return s._r_end_emitted or (relaxed and s._r_ended and s._r_length == 0)


def is_writable_finished(s: Stream, relaxed: bool = False) -> bool:
    """``'finish'`` was emitted (``relaxed``: or ``end()`` was called and nothing is queued)."""
    if s._w_finished:
        return True
    if s._errored is not None:
        return False
    return relaxed and s._w_ended and s._w_length == 0


def is_readable(s: Stream) -> bool:
    """The readable side can still produce data."""
    if s._destroyed or not is_readable_stream(s):
        return False
    return bool(getattr(s, "readable", False)) and not is_readable_finished(s)


def is_writable(s: Stream) -> bool:
    """The writable side can still take data."""
    if s._destroyed or not is_writable_stream(s):
        return False
    return bool(getattr(s, "writable", False)) and not s._w_ending


def is_finished(s: Stream) -> bool:
    """Nothing more can happen on either side (Node's ``isFinished``)."""
    if s._destroyed:
        return True
    return not (is_readable(s) or is_writable(s))


def will_emit_close(s: Stream) -> bool:
    """The stream will emit ``'close'`` on its own once done."""
    return s._auto_destroy and s._emit_close and not s._closed


def destroyer(stream: Stream, err: BaseException | None) -> None:
    """Destroy ``stream`` unless it already is; unfinished without ``err``: ``AbortError``."""
    if stream._destroyed:
        return
    if err is None and not is_finished(stream):
        err = AbortError()
    stream.destroy(err)


def finished(
    stream: Any,
    *,
    callback: Callable[..., Any],
    readable: bool | None = None,
    writable: bool | None = None,
    error: bool = True,
) -> Callable[[], None]:
    """Call ``callback(err)`` once ``stream`` is done: ended, finished, errored or closed.

    Mirrors Node's ``stream.finished(stream[, options], callback)``.

    Args:
        stream: a Readable, Writable or Duplex.
        callback: called once, with None on success or the error
            (``ERR_STREAM_PREMATURE_CLOSE`` when it closed before completing).
        readable: watch the readable side (default: when the stream has one).
        writable: watch the writable side (default: when the stream has one).
        error: with False, an ``'error'`` event alone does not complete.

    Returns:
        A function that removes every listener ``finished`` added.

    Raises:
        ERR_INVALID_ARG_TYPE: ``stream`` is not a stream, ``callback`` not callable.
    """
    s = _check(stream)
    if not callable(callback):
        raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
    done = False
    user_cb: Callable[..., Any] = callback

    def call(err: BaseException | None = None) -> None:
        nonlocal done
        if not done:
            done = True
            user_cb(err)

    r_watch = is_readable_stream(s) if readable is None else readable
    w_watch = is_writable_stream(s) if writable is None else writable
    emits_close = (
        will_emit_close(s) and is_readable_stream(s) == r_watch and is_writable_stream(s) == w_watch
    )
    w_finished = s._has_writable and is_writable_finished(s, True)
    r_finished = s._has_readable and is_readable_finished(s, True)

    def onfinish(*_: Any) -> None:
        nonlocal w_finished, emits_close
        w_finished = True
        if s._destroyed:  # user land did something unusual: don't wait for 'close'
            emits_close = False
        if emits_close and (not getattr(s, "readable", False) or r_watch):
            return
        if not r_watch or r_finished:
            call()

    def onend(*_: Any) -> None:
        nonlocal r_finished, emits_close
        r_finished = True
        if s._destroyed:
            emits_close = False
        if emits_close and (not getattr(s, "writable", False) or w_watch):
            return
        if not w_watch or w_finished:
            call()

    def onerror(err: BaseException) -> None:
        call(err)

    def onclose(*_: Any) -> None:
        if s._errored is not None:
            call(s._errored)
            return
        if (
            r_watch
            and not r_finished
            and is_readable_stream(s)
            and not is_readable_finished(s, True)
        ):
            call(ERR_STREAM_PREMATURE_CLOSE())
            return
        if w_watch and not w_finished and not is_writable_finished(s, True):
            call(ERR_STREAM_PREMATURE_CLOSE())
            return
        call()

    def onclosed() -> None:
        err = s._errored
        call(err)

    s.on("end", onend)
    s.on("finish", onfinish)
    if error:
        s.on("error", onerror)
    s.on("close", onclose)

    if s._closed:
        s._tick(onclose)
    elif s._error_emitted:
        if not emits_close:
            s._tick(onclosed)
    elif (
        not r_watch
        and (not emits_close or is_readable(s))
        and (w_finished or not is_writable(s))
        and (not s._has_writable or s._w_pending_cb == 0)
    ) or (
        not w_watch and (not emits_close or is_writable(s)) and (r_finished or not is_readable(s))
    ):
        s._tick(onclosed)

    def cleanup() -> None:
        nonlocal user_cb
        user_cb = _nop
        s.remove_listener("finish", onfinish)
        s.remove_listener("end", onend)
        s.remove_listener("error", onerror)
        s.remove_listener("close", onclose)

    return cleanup


def _nop(*_: Any) -> None:
    pass
