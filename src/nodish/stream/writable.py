"""``Writable``: Node's writable stream, with its backpressure, buffering and lifecycle.

Theory of operation
-------------------
A port of Node v20's ``lib/internal/streams/writable.js``; the state lives in slots on
the stream (see ``_base.py``). One write is in flight at a time:

* ``write()`` with nothing in flight, not corked, constructed and not errored calls
  ``_write(chunk, encoding, onwrite)`` at once (the fast path). Otherwise the write is
  queued in ``_w_buffer``.
* ``onwrite(err=None)`` is the callback handed to ``_write``. It subtracts the write's
  length, starts the next buffered write (or hands the whole buffer to ``_writev`` when
  the class has one), and settles the user's callback and ``'drain'``: right away when
  ``_write`` called back later (asynchronously), on the next tick when it called back
  synchronously. A synchronous completion with no user callback and no ``'drain'`` due
  schedules nothing at all, as Node does (it merely counts).
* ``write()`` returns ``writable_length < writable_high_water_mark`` after queueing, or
  True when our own queue is empty (Node v20's ``length < hwm || length === 0``).
  ``writable_length`` is a property a subclass may override (net.Socket adds its
  transport's buffer); the ``length == 0`` rule uses our own count, so a False return
  always has a ``'drain'`` to come: it is emitted when our own queue has emptied.
* ``end()`` marks the stream ending; once every write has called back, ``_final(cb)``
  runs (the socket sends its FIN there), then ``'prefinish'``, then on the next tick
  ``'finish'`` and, with ``auto_destroy``, ``destroy()`` → ``'close'``.
* Errors: a write after ``end()`` gives ``ERR_STREAM_WRITE_AFTER_END`` to the write's
  callback (next tick) and destroys the stream with it (``'error'``, then ``'close'``);
  an error passed to ``onwrite`` goes to the write's callback first, then ``'error'``.

Callbacks given to ``write``/``end`` receive one argument: the error, or None.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_METHOD_NOT_IMPLEMENTED,
    ERR_MULTIPLE_CALLBACK,
    ERR_STREAM_ALREADY_FINISHED,
    ERR_STREAM_CANNOT_PIPE,
    ERR_STREAM_DESTROYED,
    ERR_STREAM_NULL_VALUES,
    ERR_STREAM_PREMATURE_CLOSE,
    ERR_STREAM_WRITE_AFTER_END,
    validate_callback,
)
from ..runtime import check_thread, on_loop
from ._base import Callback, Stream
from ._encoding import encode, normalize_encoding

__all__ = ["DEFAULT_HIGH_WATER_MARK", "DEFAULT_OBJECT_HIGH_WATER_MARK", "Writable"]

_on_loop = on_loop

DEFAULT_HIGH_WATER_MARK = 16384
"""Node v20's default mark for byte streams (``getDefaultHighWaterMark(false)``)."""
DEFAULT_OBJECT_HIGH_WATER_MARK = 16
"""Node's default mark for object-mode streams."""

_BYTES_LIKE = (bytes, bytearray, memoryview)


def high_water_mark(value: Any, object_mode: bool, name: str) -> int:
    """Validate a ``high_water_mark`` option (None → Node's default)."""
    if value is None:
        return DEFAULT_OBJECT_HIGH_WATER_MARK if object_mode else DEFAULT_HIGH_WATER_MARK
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ERR_INVALID_ARG_VALUE(name, repr(value))
    if isinstance(value, float) and value != value // 1:
        raise ERR_INVALID_ARG_VALUE(name, repr(value))
    return int(value)


class Writable(Stream):
    """A destination for data: Node's ``stream.Writable``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/stream.html#class-streamwritable.
    Events: ``'drain'``, ``'finish'``, ``'prefinish'``, ``'pipe'``, ``'unpipe'``,
    ``'error'``, ``'close'``.

    Subclass and implement ``_write(chunk, encoding, callback)`` (and optionally
    ``_writev``, ``_final``, ``_destroy``, ``_construct``), or pass those functions as
    keywords; keyword functions receive the stream first, like methods:
    ``Writable(write=lambda self, chunk, encoding, callback: callback())``.

    Args:
        high_water_mark: ``write()`` returns False once this many bytes (objects in
            object mode) are queued. Default 16384 (16 objects).
        object_mode: accept any Python object except None as a chunk.
        decode_strings: encode ``str`` chunks to ``bytes`` before ``_write`` (default);
            when False, ``_write`` gets the ``str`` and its encoding.
        default_encoding: encoding of ``str`` written without one (default ``'utf8'``).
        emit_close: emit ``'close'`` after destroy (default True).
        auto_destroy: call ``destroy()`` after ``'finish'`` (default True).
        write, writev, final, destroy, construct: implementations of the hooks.
        capture_rejections: see :class:`~nodish.events.EventEmitter`.
    """

    __slots__ = ()

    _has_writable = True

    def __init__(
        self,
        *,
        high_water_mark: int | None = None,
        object_mode: bool = False,
        decode_strings: bool = True,
        default_encoding: str = "utf8",
        emit_close: bool = True,
        auto_destroy: bool = True,
        write: Callback | None = None,
        writev: Callback | None = None,
        final: Callback | None = None,
        destroy: Callback | None = None,
        construct: Callback | None = None,
        capture_rejections: bool | None = None,
    ) -> None:
        hooks = _hooks(
            write=write, writev=writev, final=final, destroy=destroy, construct=construct
        )
        Stream.__init__(
            self,
            emit_close=emit_close,
            auto_destroy=auto_destroy,
            hooks=hooks,
            capture_rejections=capture_rejections,
        )
        self._init_writable(
            object_mode,
            high_water_mark,
            "options.highWaterMark",
            decode_strings,
            default_encoding,
        )
        self._start_construct()

    def _init_writable(
        self,
        object_mode: bool,
        hwm: int | None,
        hwm_name: str,
        decode_strings: bool,
        default_encoding: str,
    ) -> None:
        self._w_object_mode = object_mode
        self._w_hwm = (
            DEFAULT_HIGH_WATER_MARK
            if hwm is None and not object_mode
            else high_water_mark(hwm, object_mode, hwm_name)
        )
        self._w_decode_strings = decode_strings
        self._w_default_encoding = (
            "utf8" if default_encoding == "utf8" else normalize_encoding(default_encoding)
        )
        self._w_length = 0
        self._w_corked = 0
        self._w_writing = False
        self._w_sync = True
        self._w_expect_cb = False
        self._w_writecb = None
        self._w_writelen = 0
        self._w_buffer = None
        self._w_all_noop = True
        self._w_pending_cb = 0
        self._w_need_drain = False
        self._w_ending = False
        self._w_ended = False
        self._w_finished = False
        self._w_final_called = False
        self._w_prefinished = False
        self._w_after_write_pending = False
        self._w_after_write_info = None
        self._w_on_finished = None
        self._w_buffer_processing = False
        self._w_enabled = True
        # Bound once: handing a fresh bound method to every _write() would allocate.
        self._w_onwrite = self._onwrite
        cls = type(self)
        self._w_has_writev = cls._writev is not Writable._writev or self._hook("writev") is not None
        self._w_has_final = cls._final is not Writable._final or self._hook("final") is not None

    def _on_constructed(self) -> None:
        # Writes queued while _construct ran go out now; so does a pending end().
        if not self._w_writing:
            self._clear_buffer()
        if self._w_ending:
            self._finish_maybe(False)
        super()._on_constructed()

    # ------------------------------------------------------------------ hooks

    def _write(self, chunk: Any, encoding: str, callback: Callback) -> None:
        """Implementer hook: write one chunk, then ``callback()`` or ``callback(err)``.

        ``encoding`` is ``'buffer'`` for bytes-like chunks. The callback may be called
        synchronously or later; until then, further writes are queued.
        """
        fn = self._hook("write")
        if fn is not None:
            fn(self, chunk, encoding, callback)
        elif self._w_has_writev:
            self._writev([(chunk, encoding)], callback)
        else:
            raise ERR_METHOD_NOT_IMPLEMENTED("_write()")

    def _writev(self, chunks: list[tuple[Any, str]], callback: Callback) -> None:
        """Implementer hook (optional): write several queued chunks at once.

        ``chunks`` is a list of ``(chunk, encoding)`` tuples. Used when more than one
        write is queued (after ``uncork()``, or while a previous write was in flight).
        """
        fn = self._hook("writev")
        if fn is None:  # pragma: no cover - only called when defined
            raise ERR_METHOD_NOT_IMPLEMENTED("_writev()")
        fn(self, chunks, callback)

    def _final(self, callback: Callback) -> None:
        """Implementer hook (optional): called after the last write, before ``'finish'``."""
        fn = self._hook("final")
        if fn is None:  # pragma: no cover - only called when defined
            callback()
            return
        fn(self, callback)

    # ------------------------------------------------------------------ write

    def write(
        self, chunk: Any, encoding: str | None = None, *, callback: Callback | None = None
    ) -> bool:
        """Write ``chunk``; returns False when the caller should wait for ``'drain'``.

        Mirrors Node's ``writable.write(chunk[, encoding][, callback])``.

        Args:
            chunk: ``bytes``, ``bytearray``, ``memoryview`` or ``str`` (encoded with
                ``encoding``); any object but None in object mode.
            encoding: the encoding of a ``str`` chunk (default: ``default_encoding``).
            callback: called with None once the chunk is handled, or with the error.

        Returns:
            False once the queued length reaches the high water mark (or the stream
            is destroyed/errored); keep writing only after ``'drain'``.

        Raises:
            ERR_STREAM_NULL_VALUES: ``chunk`` is None.
            ERR_INVALID_ARG_TYPE: ``chunk`` is not bytes-like or ``str``, or
                ``callback`` is not callable (nothing is written).
            ERR_INVALID_THREAD: called from a thread other than the running loop's
                (see :func:`nodish.call_from_thread`).
            ERR_UNKNOWN_ENCODING: bad ``encoding``.

        Writing after ``end()`` or ``destroy()`` does not raise: the callback gets
        ``ERR_STREAM_WRITE_AFTER_END`` / ``ERR_STREAM_DESTROYED`` on the next tick and
        the stream is destroyed with it.
        """
        if not _on_loop(self._loop):
            check_thread(self._loop, f"{type(self).__name__}.write()")
        if callback is not None and not callable(callback):
            validate_callback(callback)
        # Fast path: bytes, nothing in flight or queued, a healthy stream. Same steps as
        # _write_chunk's, minus the checks that cannot apply.
        if (
            type(chunk) is bytes
            and encoding is None
            and not (
                self._w_writing
                or self._w_corked
                or self._w_ending
                or self._destroyed
                or self._w_object_mode
            )
            and self._errored is None
            and self._constructed
        ):
            n = len(chunk)
            self._w_pending_cb += 1
            self._w_length += n
            self._w_writelen = n
            self._w_writecb = callback
            self._w_writing = self._w_sync = self._w_expect_cb = True
            self._write(chunk, "buffer", self._w_onwrite)
            self._w_sync = False
            if self._w_length == 0 or self.writable_length < self._w_hwm:
                return not self._destroyed and self._errored is None
            self._w_need_drain = True
            return False
        return self._write_chunk(chunk, encoding, callback) is True

    def _write_chunk(self, chunk: Any, encoding: str | None, cb: Callback | None) -> Any:
        # Node's _write(): validate, then writeOrBuffer. Returns a bool, or the error
        # of a write after end/destroy (end() needs to tell them apart).
        if not self._w_object_mode:
            tp = type(chunk)
            if tp is bytes:
                if encoding is not None and encoding != "buffer":
                    normalize_encoding(encoding)
                encoding = "buffer"
            elif tp is str:
                enc = self._w_default_encoding if encoding is None else normalize_encoding(encoding)
                if self._w_decode_strings:
                    chunk = encode(chunk, enc)
                    encoding = "buffer"
                else:
                    encoding = enc
            elif chunk is None:
                raise ERR_STREAM_NULL_VALUES()
            elif isinstance(chunk, _BYTES_LIKE):
                if isinstance(chunk, memoryview) and (chunk.ndim != 1 or chunk.itemsize != 1):
                    chunk = chunk.cast("B")
                encoding = "buffer"
            else:
                raise ERR_INVALID_ARG_TYPE(
                    "chunk", "of type str, bytes, bytearray or memoryview", tp.__name__
                )
        elif chunk is None:
            raise ERR_STREAM_NULL_VALUES()
        elif encoding is None:
            encoding = self._w_default_encoding

        if self._w_ending:
            err: BaseException = ERR_STREAM_WRITE_AFTER_END()
        elif self._destroyed:
            err = ERR_STREAM_DESTROYED("write")
        else:
            self._w_pending_cb += 1
            # -- writeOrBuffer
            n = 1 if self._w_object_mode else len(chunk)
            self._w_length += n
            if (
                self._w_writing
                or self._w_corked
                or self._errored is not None
                or not self._constructed
            ):
                buf = self._w_buffer
                if buf is None:
                    buf = self._w_buffer = deque()
                if type(chunk) is not bytes and not self._w_object_mode and encoding == "buffer":
                    chunk = bytes(chunk)  # kept: the caller may reuse its buffer
                buf.append((chunk, encoding, cb))
                if cb is not None:
                    self._w_all_noop = False
            else:
                self._w_writelen = n
                self._w_writecb = cb
                self._w_writing = True
                self._w_sync = True
                self._w_expect_cb = True
                self._write(chunk, encoding, self._w_onwrite)
                self._w_sync = False
            ret = self._w_length == 0 or self.writable_length < self._w_hwm
            if not ret:
                self._w_need_drain = True
            return ret and not self._destroyed and self._errored is None

        if cb is not None:
            self._tick(cb, err)
        self._error_or_destroy(err, True)
        return err

    def _onwrite(self, er: BaseException | None = None) -> None:
        """The callback given to ``_write``/``_writev`` (Node's ``onwrite``)."""
        if not self._w_expect_cb:
            self._error_or_destroy(ERR_MULTIPLE_CALLBACK())
            return
        sync = self._w_sync  # read first: _clear_buffer below starts other writes
        self._w_writing = self._w_expect_cb = False
        self._w_length -= self._w_writelen
        cb = self._w_writecb
        if cb is not None:
            self._w_writecb = None

        if er is not None:
            if self._errored is None:
                self._errored = er
            if sync:
                self._tick(self._onwrite_error, er, cb)
            else:
                self._onwrite_error(er, cb)
            return

        if self._w_buffer:
            self._clear_buffer()

        if not sync:
            self._after_write(1, cb)
        elif cb is None:
            # Called back synchronously, no user callback: nothing to schedule unless
            # a 'drain' is due (or the stream was destroyed meanwhile).
            if not self._w_after_write_pending and (
                (self._w_need_drain and self._w_length == 0) or self._destroyed
            ):
                self._w_after_write_pending = True
                self._tick(self._after_write, 1, None)
            else:
                self._w_pending_cb -= 1
                if self._w_ending:
                    self._finish_maybe(True)
        else:
            # The same callback for consecutive writes is counted, not scheduled again.
            info = self._w_after_write_info
            if info is not None and info[1] is cb:
                info[0] += 1
            else:
                info = self._w_after_write_info = [1, cb]
                self._w_after_write_pending = True
                self._tick(self._after_write_tick, info)

    def _onwrite_error(self, er: BaseException, cb: Callback | None) -> None:
        self._w_pending_cb -= 1
        if cb is not None:
            cb(er)
        # Settle the queued writes too (also when auto_destroy is off); the error
        # belongs to this write, the others get the stream's error.
        self._error_buffer()
        self._error_or_destroy(er)

    def _after_write_tick(self, info: list[Any]) -> None:
        if self._w_after_write_info is info:
            self._w_after_write_info = None
        self._after_write(info[0], info[1])

    def _after_write(self, count: int, cb: Callback | None) -> None:
        self._w_after_write_pending = False
        if (
            self._w_need_drain
            and self._w_length == 0
            and not self._w_ending
            and not self._destroyed
        ):
            self._w_need_drain = False
            self.emit("drain")
        while count > 0:
            count -= 1
            self._w_pending_cb -= 1
            if cb is not None:
                cb(None)
        if self._destroyed:
            self._error_buffer()
        if self._w_ending:
            self._finish_maybe(True)

    def _error_buffer(self) -> None:
        # Node's errorBuffer: fail every queued write and end() callback.
        if self._w_writing:
            return
        buf = self._w_buffer
        if buf:
            err = self._errored
            obj = self._w_object_mode
            while buf:
                chunk, _, callback = buf.popleft()
                self._w_length -= 1 if obj else len(chunk)
                if callback is not None:
                    callback(err if err is not None else ERR_STREAM_DESTROYED("write"))
        if self._w_on_finished:
            err2 = self._errored
            self._call_finished_callbacks(err2 if err2 is not None else ERR_STREAM_DESTROYED("end"))
        self._w_buffer = None
        self._w_all_noop = True

    def _clear_buffer(self) -> None:
        # Node's clearBuffer: hand queued writes to _writev (all at once) or _write.
        buf = self._w_buffer
        if (
            not buf
            or self._destroyed
            or self._w_buffer_processing
            or self._w_corked
            or not self._constructed
        ):
            return
        obj = self._w_object_mode
        self._w_buffer_processing = True
        if len(buf) > 1 and self._w_has_writev:
            count = len(buf)
            self._w_pending_cb -= count - 1
            entries = list(buf)
            self._w_buffer = None
            all_noop = self._w_all_noop
            self._w_all_noop = True
            callback: Callback | None
            if all_noop:
                callback = None
            else:

                def callback(err: BaseException | None = None) -> None:
                    for _, _, fn in entries:
                        if fn is not None:
                            fn(err)

            self._w_writelen = self._w_length
            self._w_writecb = callback
            self._w_writing = True
            self._w_sync = True
            self._w_expect_cb = True
            self._writev([(c, e) for c, e, _ in entries], self._w_onwrite)
            self._w_sync = False
        else:
            while buf:
                chunk, encoding, callback = buf.popleft()
                self._w_writelen = 1 if obj else len(chunk)
                self._w_writecb = callback
                self._w_writing = True
                self._w_sync = True
                self._w_expect_cb = True
                if self._destroyed:
                    self._w_onwrite(ERR_STREAM_DESTROYED("write"))
                else:
                    self._write(chunk, encoding, self._w_onwrite)
                self._w_sync = False
                if self._w_writing:
                    break
            if not buf and self._w_buffer is buf:
                self._w_buffer = None
                self._w_all_noop = True
        self._w_buffer_processing = False

    # ------------------------------------------------------------------ cork

    def cork(self) -> None:
        """Queue further writes until ``uncork()`` (then ``_writev`` gets them together)."""
        self._w_corked += 1

    def uncork(self) -> None:
        """Undo one ``cork()``; the last one flushes the queue."""
        if self._w_corked:
            self._w_corked -= 1
            if not self._w_writing:
                self._clear_buffer()

    def set_default_encoding(self, encoding: str) -> Writable:
        """Set the encoding of ``str`` chunks written without one."""
        self._w_default_encoding = normalize_encoding(encoding)
        return self

    # ------------------------------------------------------------------ end

    def end(
        self,
        chunk: Any = None,
        encoding: str | None = None,
        *,
        callback: Callback | None = None,
    ) -> Writable:
        """Write ``chunk`` (if given), then signal that no more data will be written.

        Mirrors Node's ``writable.end([chunk[, encoding]][, callback])``.

        Args:
            chunk: a last chunk to write.
            encoding: its encoding, for a ``str``.
            callback: called with None after ``'finish'``, or with the error if the
                stream fails first (``ERR_STREAM_ALREADY_FINISHED`` if it had finished,
                ``ERR_STREAM_DESTROYED`` if destroyed).

        Returns:
            The stream.

        Raises:
            ERR_INVALID_ARG_TYPE: ``callback`` is not callable (nothing is written).
        """
        if not _on_loop(self._loop):
            check_thread(self._loop, f"{type(self).__name__}.end()")
        if callback is not None:
            validate_callback(callback)
        err: BaseException | None = None
        if chunk is not None:
            ret = self._write_chunk(chunk, encoding, None)
            if isinstance(ret, BaseException):
                err = ret
        if self._w_corked:  # end() uncorks fully
            self._w_corked = 1
            self.uncork()
        if err is not None:
            pass
        elif not self._w_ending and self._errored is None:
            self._w_ending = True
            self._finish_maybe(True)
            self._w_ended = True
        elif self._w_finished:
            err = ERR_STREAM_ALREADY_FINISHED("end")
        elif self._destroyed:
            err = ERR_STREAM_DESTROYED("end")
        if callback is not None:
            if err is not None:
                self._tick(callback, err)
            elif self._errored is not None:
                self._tick(callback, self._errored)
            elif self._w_finished:
                self._tick(callback, None)
            elif self._destroyed:
                # Destroyed before this end(): no 'finish' will come. (Node never calls
                # such a callback; nodish tells it the stream was destroyed.)
                self._tick(callback, ERR_STREAM_DESTROYED("end"))
            else:
                if self._w_on_finished is None:
                    self._w_on_finished = []
                self._w_on_finished.append(callback)
        return self

    def _need_finish(self) -> bool:
        return (
            self._w_ending
            and self._w_length == 0
            and self._constructed
            and not self._destroyed
            and not self._w_finished
            and not self._w_writing
            and not self._error_emitted
            and not self._close_emitted
            and self._errored is None
            and not self._w_buffer
        )

    def _finish_maybe(self, sync: bool) -> None:
        if self._need_finish():
            self._prefinish()
            if self._w_pending_cb == 0:
                if sync:
                    self._w_pending_cb += 1
                    self._tick(self._finish_maybe_nt)
                elif self._need_finish():
                    self._w_pending_cb += 1
                    self._finish()

    def _finish_maybe_nt(self) -> None:
        if self._need_finish():
            self._finish()
        else:
            self._w_pending_cb -= 1

    def _prefinish(self) -> None:
        if self._w_prefinished or self._w_final_called:
            return
        if self._w_has_final and not self._destroyed:
            self._w_final_called = True
            self._w_sync = True
            self._w_pending_cb += 1
            try:
                self._final(self._on_final)
            except Exception as exc:
                self._on_final(exc)
            self._w_sync = False
        else:
            self._w_final_called = True
            self._w_prefinished = True
            self.emit("prefinish")

    def _on_final(self, err: BaseException | None = None) -> None:
        # Node's onFinish: the callback handed to _final().
        if self._w_prefinished:
            self._error_or_destroy(err if err is not None else ERR_MULTIPLE_CALLBACK())
            return
        self._w_pending_cb -= 1
        if err is not None:
            self._call_finished_callbacks(err)
            self._error_or_destroy(err, self._w_sync)
        elif self._need_finish():
            self._w_prefinished = True
            self.emit("prefinish")
            # 'finish' always on a later tick than _final's callback (Node compat).
            self._w_pending_cb += 1
            self._tick(self._finish)

    def _finish(self) -> None:
        self._w_pending_cb -= 1
        self._w_finished = True
        self._call_finished_callbacks(None)
        self.emit("finish")
        if self._auto_destroy and self._readable_side_done():
            self.destroy()

    def _readable_side_done(self) -> bool:
        """Whether the readable side (a Duplex's) lets auto-destroy proceed."""
        return True

    def _call_finished_callbacks(self, err: BaseException | None) -> None:
        callbacks = self._w_on_finished
        if callbacks:
            self._w_on_finished = None
            for fn in callbacks:
                fn(err)

    # ------------------------------------------------------------------ destroy, pipe

    def _before_destroy(self) -> None:
        # Node's Writable.prototype.destroy: queued callbacks get the error next tick
        # (an end() callback given after destroy() gets it from end()).
        if not self._destroyed and (self._w_buffer or self._w_on_finished):
            self._tick(self._error_buffer)

    def pipe(self, destination: Any, *, end: bool = True) -> Any:
        """A Writable cannot be piped from: fails with ``ERR_STREAM_CANNOT_PIPE``."""
        self._error_or_destroy(ERR_STREAM_CANNOT_PIPE())
        return destination

    async def drain(self) -> None:
        """Wait until a pending ``'drain'`` (returns at once when none is due).

        Raises:
            The stream's error if it fails first; ``ERR_STREAM_PREMATURE_CLOSE`` if it
            closes (or is destroyed) before draining.
        """
        if self._errored is not None:
            raise self._errored
        if self._destroyed:
            raise ERR_STREAM_DESTROYED("drain")
        if not self.writable_need_drain:
            return
        fut: asyncio.Future[None] = self._loop.create_future()

        def on_drain() -> None:
            if not fut.done():
                fut.set_result(None)

        def on_error(err: BaseException) -> None:
            if not fut.done():
                fut.set_exception(err)

        def on_close(*_: Any) -> None:
            if not fut.done():
                err = self._errored
                fut.set_exception(err if err is not None else ERR_STREAM_PREMATURE_CLOSE())

        self.on("drain", on_drain)
        self.on("error", on_error)
        self.on("close", on_close)
        try:
            await fut
        finally:
            self.remove_listener("drain", on_drain)
            self.remove_listener("error", on_error)
            self.remove_listener("close", on_close)

    # ------------------------------------------------------------------ properties

    @property
    def writable(self) -> bool:
        """``write()`` is safe to call: not ended, destroyed or errored."""
        return (
            self._w_enabled and self._errored is None and not self._w_ending and not self._destroyed
        )

    @property
    def writable_length(self) -> int:
        """Bytes (or objects) written and not yet acknowledged by ``_write``."""
        return self._w_length

    @property
    def writable_high_water_mark(self) -> int:
        """The ``high_water_mark`` of the writable side."""
        return self._w_hwm

    @property
    def writable_ended(self) -> bool:
        """``end()`` has been called."""
        return self._w_ending

    @property
    def writable_finished(self) -> bool:
        """``'finish'`` has been emitted: everything was flushed."""
        return self._w_finished

    @property
    def writable_corked(self) -> int:
        """How many ``uncork()`` calls are needed to uncork."""
        return self._w_corked

    @property
    def writable_need_drain(self) -> bool:
        """``write()`` returned False and ``'drain'`` has not come yet."""
        return self._w_need_drain and not self._destroyed and not self._w_ending

    @property
    def writable_object_mode(self) -> bool:
        """The writable side is in object mode."""
        return self._w_object_mode

    @property
    def writable_aborted(self) -> bool:
        """Destroyed or errored before ``'finish'``."""
        return (
            self._w_enabled
            and (self._destroyed or self._errored is not None)
            and not self._w_finished
        )

    @property
    def writable_buffer(self) -> list[tuple[Any, str]]:
        """The queued writes as ``(chunk, encoding)`` pairs (a copy)."""
        return [(c, e) for c, e, _ in self._w_buffer or ()]


def _hooks(**fns: Callable[..., Any] | None) -> dict[str, Callback] | None:
    """The constructor keywords that were given, checked to be callable."""
    if not any(fns.values()):  # the usual case (a subclass): nothing to check
        return None
    out: dict[str, Callback] = {}
    for name, fn in fns.items():
        if fn is not None:
            if not callable(fn):
                raise ERR_INVALID_ARG_TYPE(name, "a function", type(fn).__name__)
            out[name] = fn
    return out or None
