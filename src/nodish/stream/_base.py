"""The state every stream shares: destroy(), errors, construction.

Theory of operation
-------------------
Node keeps a ``ReadableState`` and a ``WritableState`` object per stream. nodish keeps
the same fields directly on the stream object, as ``__slots__`` (one attribute lookup
instead of two on every hot-path access). The slots of *both* sides are declared here,
on :class:`Stream`, so that :class:`~nodish.stream.Duplex` can inherit from both
``Readable`` and ``Writable`` (Python forbids two bases with their own slot layouts);
``Readable`` and ``Writable`` add no slots, and a plain Readable simply never sets the
``_w_*`` ones. ``_has_readable`` / ``_has_writable`` (class attributes) say which sides a
class has, where Node tests ``stream._readableState`` / ``stream._writableState``.

Node's per-side copies of the lifecycle flags (destroyed, closed, errored, errorEmitted,
closeEmitted, emitClose, autoDestroy, constructed) are always set together on both
sides, so they are kept once here.

Next tick. Node's ``process.nextTick(fn)`` is :func:`nodish.runtime.next_tick` (the tick
queue: it runs before anything scheduled later with ``loop.call_soon`` and keeps
``nodish.run()`` alive); a listener that raises there goes to
``report_uncaught(exc, owner=stream)``, which destroys the stream.

destroy(err) (Node's ``lib/internal/streams/destroy.js``): marks the stream destroyed and
errored at once, calls ``_destroy(err, cb)``; when ``cb`` is called, ``'error'`` (if
any, once) then ``'close'`` (if ``emit_close``) follow on the next tick. A second
``destroy()`` does nothing. While ``_construct`` has not called back, destroy waits for it.

Implementer hooks keep Node's names (``_read``, ``_write``, ``_destroy`` ...). The same
functions may be given as constructor keywords (``Writable(write=fn)``); they are stored
in ``_hooks`` and called like methods, with the stream first, as Node's ``this``:
``Writable(write=lambda self, chunk, encoding, callback: callback())``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .. import runtime
from ..errors import ERR_MULTIPLE_CALLBACK
from ..events import EventEmitter

if TYPE_CHECKING:
    from .string_decoder import StringDecoder

__all__ = ["Stream"]

Callback = Callable[..., Any]

_next_tick = runtime.next_tick
_get_ident = threading.get_ident
_on_loop = runtime.on_loop


class Stream(EventEmitter):
    """Base of every stream: an EventEmitter with Node's destroy/error/close lifecycle.

    Not used directly; see :class:`~nodish.stream.Readable`,
    :class:`~nodish.stream.Writable`, :class:`~nodish.stream.Duplex`.
    """

    __slots__ = (
        # -- shared lifecycle ---------------------------------------------------
        "_allow_half_open",  # Duplex: end the writable side after 'end'
        "_auto_destroy",  # destroy() once both sides are done
        "_close_emitted",  # 'close' was emitted (or would have been)
        "_closed",  # _destroy() has called back
        "_constructed",  # False while _construct() has not called back
        "_destroyed",  # destroy() was called
        "_emit_close",  # emit 'close' after destroy
        "_error_emitted",  # 'error' was emitted: never again
        "_errored",  # the first error, or None
        "_hooks",  # constructor-keyword implementations, or None
        "_loop",  # the loop that runs our next-tick work
        "_pending_destroy",  # (err, callback) waiting for construction
        # -- readable side (Node's ReadableState) --------------------------------
        "_r_await_drain",  # None, the dest we wait 'drain' from, or a set of dests
        "_r_buffer",  # deque of chunks, or None while nothing was buffered
        "_r_data_emitted",  # some 'data' was emitted (readable_did_read)
        "_r_decoder",  # StringDecoder after set_encoding, else None
        "_r_default_encoding",  # encoding of str pushed without one
        "_r_emitted_readable",  # a 'readable' emission is scheduled
        "_r_enabled",  # False for Duplex(readable=False)
        "_r_encoding",  # set_encoding's name, or None
        "_r_end_emitted",  # 'end' was emitted
        "_r_ended",  # push(None) was seen
        "_r_flowing",  # None (no consumer yet), True (flowing), False (paused)
        "_r_hwm",  # high water mark (bytes, or objects in object mode)
        "_r_length",  # buffered bytes (characters after set_encoding, objects)
        "_r_need_readable",  # emit 'readable' when data arrives
        "_r_object_mode",
        "_r_paused",  # None, or the legacy paused flag set by pause()/resume()
        "_r_pipes",  # list of destinations
        "_r_readable_listening",  # a 'readable' listener exists
        "_r_reading",  # _read() was called and has not pushed yet
        "_r_reading_more",  # a maybe-read-more tick is scheduled
        "_r_resume_scheduled",  # a resume tick is scheduled
        "_r_sync",  # inside a synchronous _read() call (or before the first read)
        "_r_unpiping",  # [has_unpiped] while unpipe() emits 'unpipe'
        # -- writable side (Node's WritableState) --------------------------------
        "_w_after_write_info",  # [count, callback] of the scheduled after-write tick
        "_w_after_write_pending",  # an after-write tick is scheduled
        "_w_all_noop",  # no buffered write has a callback
        "_w_buffer",  # deque of (chunk, encoding, callback), or None
        "_w_buffer_processing",  # inside _clear_buffer()
        "_w_corked",  # cork() depth
        "_w_decode_strings",  # str written are encoded to bytes
        "_w_default_encoding",
        "_w_enabled",  # False for Duplex(writable=False)
        "_w_ended",  # end() has returned
        "_w_ending",  # end() was called
        "_w_expect_cb",  # the current _write() has not called back
        "_w_final_called",
        "_w_finished",  # 'finish' was emitted
        "_w_has_final",
        "_w_has_writev",
        "_w_hwm",
        "_w_length",  # bytes (or objects) written and not yet acknowledged
        "_w_need_drain",  # write() returned False: emit 'drain' when empty
        "_w_object_mode",
        "_w_on_finished",  # end() callbacks waiting for 'finish', or None
        "_w_onwrite",  # the bound callback handed to _write()
        "_w_pending_cb",  # callbacks owed before 'finish' may be emitted
        "_w_prefinished",
        "_w_sync",  # inside a synchronous _write()/_final() call
        "_w_writecb",  # the user's callback of the current write, or None
        "_w_writelen",  # length of the current write
        "_w_writing",  # a _write()/_writev() is in progress
    )

    _has_readable: ClassVar[bool] = False
    _has_writable: ClassVar[bool] = False

    # Types of the slots (annotations only: the slots above are the storage).
    _allow_half_open: bool
    _auto_destroy: bool
    _close_emitted: bool
    _closed: bool
    _constructed: bool
    _destroyed: bool
    _emit_close: bool
    _error_emitted: bool
    _errored: BaseException | None
    _hooks: dict[str, Callback] | None
    _loop: asyncio.AbstractEventLoop
    _pending_destroy: tuple[BaseException | None, Callback | None] | None
    _r_await_drain: Any
    _r_buffer: deque[Any] | None
    _r_data_emitted: bool
    _r_decoder: StringDecoder | None
    _r_default_encoding: str
    _r_emitted_readable: bool
    _r_enabled: bool
    _r_encoding: str | None
    _r_end_emitted: bool
    _r_ended: bool
    _r_flowing: bool | None
    _r_hwm: int
    _r_length: int
    _r_need_readable: bool
    _r_object_mode: bool
    _r_paused: bool | None
    _r_pipes: tuple[Any, ...]
    _r_readable_listening: bool
    _r_reading: bool
    _r_reading_more: bool
    _r_resume_scheduled: bool
    _r_sync: bool
    _r_unpiping: list[bool] | None
    _w_after_write_info: list[Any] | None
    _w_after_write_pending: bool
    _w_all_noop: bool
    _w_buffer: deque[tuple[Any, str, Callback | None]] | None
    _w_buffer_processing: bool
    _w_corked: int
    _w_decode_strings: bool
    _w_default_encoding: str
    _w_enabled: bool
    _w_ended: bool
    _w_ending: bool
    _w_expect_cb: bool
    _w_final_called: bool
    _w_finished: bool
    _w_has_final: bool
    _w_has_writev: bool
    _w_hwm: int
    _w_length: int
    _w_need_drain: bool
    _w_object_mode: bool
    _w_on_finished: list[Callback] | None
    _w_onwrite: Callback
    _w_pending_cb: int
    _w_prefinished: bool
    _w_sync: bool
    _w_writecb: Callback | None
    _w_writelen: int
    _w_writing: bool

    def __init__(
        self,
        *,
        emit_close: bool = True,
        auto_destroy: bool = True,
        hooks: dict[str, Callback] | None = None,
        capture_rejections: bool | None = None,
    ) -> None:
        EventEmitter.__init__(self, capture_rejections=capture_rejections)
        self._init_stream_state(emit_close, auto_destroy, hooks)

    def _init_stream_state(
        self,
        emit_close: bool = True,
        auto_destroy: bool = True,
        hooks: dict[str, Callback] | None = None,
    ) -> None:
        # The stream's own state without the emitter's: also for an object that is an
        # emitter before it is a stream (http's messages, lazily), whose listeners stay.
        self._loop = runtime.current_loop()
        self._hooks = hooks or None
        self._destroyed = False
        self._closed = False
        self._close_emitted = False
        self._errored = None
        self._error_emitted = False
        self._emit_close = emit_close
        self._auto_destroy = auto_destroy
        self._constructed = True
        self._pending_destroy = None
        self._allow_half_open = True

    # ------------------------------------------------------------------ helpers

    def _tick(self, fn: Callback, *args: Any) -> None:
        """Node's ``process.nextTick(fn, ...args)``; an exception goes to the uncaught path."""
        # runtime.next_tick's fast path inlined: streams queue several ticks per
        # connection. The stream's loop is the running one when run() drives it here.
        loop, st = runtime._last
        if loop is not self._loop or st is None or st.driver != _get_ident():
            _next_tick(fn, *args, owner=self)
            return
        st.ticks.append((fn, args, self))
        if not st.tick_scheduled:
            st.tick_scheduled = True
            loop.call_soon(st.scheduled_ticks)

    def _hook(self, name: str) -> Callback | None:
        hooks = self._hooks
        return None if hooks is None else hooks.get(name)

    def _has_construct(self) -> bool:
        return type(self)._construct is not Stream._construct or self._hook("construct") is not None

    # ------------------------------------------------------------------ construct

    def _construct(self, callback: Callback) -> None:
        """Implementer hook: initialize resources, then ``callback()`` or ``callback(err)``.

        Optional. While it has not called back, ``_read``/``_write``/``_final`` wait and
        ``destroy()`` is deferred.
        """
        fn = self._hook("construct")
        if fn is None:  # pragma: no cover - only called when defined
            callback()
            return
        fn(self, callback)

    def _start_construct(self) -> None:
        # Node's destroyImpl.construct(): run _construct on the next tick.
        if self._hooks is None and type(self)._construct is Stream._construct:
            return  # nothing to construct (the usual case, checked without a call)
        if self._has_construct():
            self._constructed = False
            self._tick(self._construct_nt)

    def _construct_nt(self) -> None:
        called = False

        def on_construct(err: BaseException | None = None) -> None:
            nonlocal called
            if called:
                self._error_or_destroy(err or ERR_MULTIPLE_CALLBACK())
                return
            called = True
            self._constructed = True
            if self._destroyed:
                pending = self._pending_destroy
                self._pending_destroy = None
                if pending is not None:
                    derr, cb = pending
                    self._do_destroy(err if err is not None else derr, cb)
            elif err is not None:
                self._error_or_destroy(err, True)
            else:
                self._on_constructed()

        def callback(err: BaseException | None = None) -> None:
            self._tick(on_construct, err)

        try:
            self._construct(callback)
        except Exception as exc:
            self._tick(on_construct, exc)

    def _on_constructed(self) -> None:
        """Both sides resume what waited for construction (overridden per side)."""

    # ------------------------------------------------------------------ destroy

    def _destroy(self, err: BaseException | None, callback: Callback) -> None:
        """Implementer hook: release resources, then ``callback(err)``.

        The default calls ``callback(err)`` at once.
        """
        fn = self._hook("destroy")
        if fn is None:
            callback(err)
        else:
            fn(self, err, callback)

    def _before_destroy(self) -> None:
        """Side-specific work at the start of ``destroy()`` (the writable side's buffer)."""

    def destroy(self, err: BaseException | None = None, callback: Callback | None = None) -> Any:
        """Destroy the stream: ``'error'`` (when ``err``) then ``'close'`` follow.

        Mirrors Node's ``stream.destroy([error])``. Further writes fail with
        ``ERR_STREAM_DESTROYED``, pending write callbacks get the error, no more
        ``'data'``/``'end'``. Calling it again does nothing.

        Args:
            err: the error to emit as ``'error'``.
            callback: called with the error (or None) once ``_destroy`` is done, before
                ``'error'``/``'close'``; used by subclasses.

        Returns:
            The stream.

        Raises:
            ERR_INVALID_THREAD: called from a thread other than the running loop's.
        """
        if not _on_loop(self._loop):
            runtime.check_thread(self._loop, f"{type(self).__name__}.destroy()")
        self._before_destroy()
        if self._destroyed:
            if callback is not None:
                callback(None)
            return self
        if err is not None and self._errored is None:
            self._errored = err
        self._destroyed = True
        if not self._constructed:
            self._pending_destroy = (err, callback)
        else:
            self._do_destroy(err, callback)
        return self

    def _do_destroy(self, err: BaseException | None, callback: Callback | None) -> None:
        called = False

        def on_destroy(err: BaseException | None = None) -> None:
            nonlocal called
            if called:
                return
            called = True
            if err is not None and self._errored is None:
                self._errored = err
            self._closed = True
            if callback is not None:
                callback(err)
            if err is not None:
                self._tick(self._emit_error_close_nt, err)
            else:
                self._tick(self._emit_close_nt)

        try:
            self._destroy(err, on_destroy)
        except Exception as exc:
            on_destroy(exc)

    def _undestroy(self) -> None:
        """Make a destroyed stream usable again (Node's ``destroyImpl.undestroy``).

        Used by ``net.Socket.connect()`` to reconnect a socket after ``'close'``. The
        buffers and the flowing mode are kept, as in Node.
        """
        self._constructed = True
        self._closed = False
        self._close_emitted = False
        self._destroyed = False
        self._errored = None
        self._error_emitted = False
        if self._has_readable:
            done = not self._r_enabled
            self._r_reading = False
            self._r_ended = done
            self._r_end_emitted = done
        if self._has_writable:
            done = not self._w_enabled
            self._w_final_called = False
            self._w_prefinished = False
            self._w_ended = done
            self._w_ending = done
            self._w_finished = done

    def _emit_error_close_nt(self, err: BaseException) -> None:
        try:
            self._emit_error_nt(err)
        except Exception as exc:
            # No 'error' listener (or one that raised): report it, still emit 'close'.
            runtime.report_uncaught(exc, self)
        self._emit_close_nt()

    def _emit_close_nt(self) -> None:
        self._close_emitted = True
        if self._emit_close:
            self.emit("close")

    def _emit_error_nt(self, err: BaseException) -> None:
        if self._error_emitted:
            return
        self._error_emitted = True
        self.emit("error", err)

    def _error_or_destroy(self, err: BaseException | None, sync: bool = False) -> None:
        """Node's ``errorOrDestroy``: destroy with ``err`` (auto_destroy) or just emit it."""
        if self._destroyed:
            return
        if self._auto_destroy:
            self.destroy(err)
        elif err is not None:
            if self._errored is None:
                self._errored = err
            if sync:
                self._tick(self._emit_error_nt, err)
            else:
                self._emit_error_nt(err)

    # ------------------------------------------------------------------ properties

    @property
    def destroyed(self) -> bool:
        """``destroy()`` has been called."""
        return self._destroyed

    @property
    def errored(self) -> BaseException | None:
        """The error the stream was destroyed or failed with, else None."""
        return self._errored

    @property
    def closed(self) -> bool:
        """The stream is destroyed and ``_destroy`` has completed (``'close'`` is due)."""
        return self._closed

    def __repr__(self) -> str:
        state = "destroyed" if self._destroyed else "open"
        return f"<{type(self).__module__}.{type(self).__qualname__} {state}>"
