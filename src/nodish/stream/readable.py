"""``Readable``: Node's readable stream: flowing and paused modes, pipe, async iteration.

Theory of operation
-------------------
A port of Node v20's ``lib/internal/streams/readable.js``; the state lives in slots on
the stream (see ``_base.py``). Data enters through ``push(chunk)`` (called by ``_read``,
or by whoever feeds the stream) and leaves as ``'data'`` events or ``read()`` results.

* Modes. ``_r_flowing`` is None until a consumer shows up, True while flowing (``'data'``
  listener, ``resume()``, ``pipe()``), False when paused (``pause()``, a ``'readable'``
  listener). Attaching ``'data'`` resumes on the next tick.
* Fast path (Node's ``addChunk``): ``push()`` while flowing, with an empty buffer, a
  ``'data'`` listener and outside a synchronous ``_read`` emits ``'data'`` at once,
  without buffering. Otherwise the chunk is buffered, ``'readable'`` is scheduled when
  someone waits for it, and ``flow()`` drains the buffer chunk by chunk while flowing.
* Asking for more. After data is consumed and the buffer is below the mark, ``_read(hwm)``
  is called (once; ``_r_reading`` stays True until the next ``push``). Node schedules
  that call (``maybeReadMore``) on the next tick after every push; on the fast path we
  make the same call right after the ``'data'`` listeners return, when the stream is
  still empty and not reading, so that a flowing stream costs no scheduling per chunk.
  A source that pushes on its own (a socket) sees a cheap ``_read`` call per chunk; a
  pull source (whose ``_read`` pushes later) is asked again exactly as in Node.
* ``push()`` returns False once the buffer reaches the high water mark: the producer
  should stop until ``_read`` is called again.
* End. ``push(None)`` marks EOF; ``'end'`` is emitted on a later tick once the buffer is
  empty, so it always comes after every ``'data'``. With ``auto_destroy`` the stream is
  then destroyed (``'close'``); a Duplex waits for its writable side as well.
* ``set_encoding()`` runs pushed bytes through a :class:`StringDecoder`, so a multi-byte
  character cut between chunks is emitted whole; buffered lengths then count characters.

Deliberate differences: a ``str`` buffer's length counts code points (Node: UTF-16 code
units); ``unshift(bytes)`` on a stream with an encoding decodes the bytes (Node would mix
Buffers into its string buffer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from typing import Any, TypeVar

from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_METHOD_NOT_IMPLEMENTED,
    ERR_OUT_OF_RANGE,
    ERR_STREAM_PUSH_AFTER_EOF,
    ERR_STREAM_UNSHIFT_AFTER_END_EVENT,
)
from ._base import Callback, Stream
from ._encoding import decode, encode, normalize_encoding
from ._pipe import pipe as _pipe
from .string_decoder import StringDecoder
from .writable import DEFAULT_HIGH_WATER_MARK, _hooks, high_water_mark

__all__ = ["Readable"]

_BYTES_LIKE = (bytes, bytearray, memoryview)
_MAX_HWM = 0x40000000  # Node: never raise the mark above 1 GiB
_PENDING: Any = object()
_R = TypeVar("_R", bound="Readable")


def _compute_new_hwm(n: int) -> int:
    if n > _MAX_HWM:
        raise ERR_OUT_OF_RANGE("size", "<= 1GiB", n)
    # next power of two, so that the mark does not creep up in tiny steps
    return 1 << (n - 1).bit_length()


class Readable(Stream):
    """A source of data: Node's ``stream.Readable``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/stream.html#class-streamreadable.
    Events: ``'data'``, ``'end'``, ``'readable'``, ``'pause'``, ``'resume'``,
    ``'error'``, ``'close'``.

    Subclass and implement ``_read(size)`` (and optionally ``_destroy``,
    ``_construct``), or pass them as keywords, called with the stream first:
    ``Readable(read=lambda self, size: self.push(b'x'))``.

    ``async for chunk in readable`` reads it to the end; an error is raised, leaving the
    loop early destroys the stream (Node's behaviour).

    Args:
        high_water_mark: ``push()`` returns False once this many bytes (objects in
            object mode) are buffered. Default 16384 (16 objects).
        object_mode: chunks are any Python objects except None.
        encoding: decode bytes to ``str`` with this encoding (as ``set_encoding``).
        default_encoding: encoding of ``str`` pushed without one (default ``'utf8'``).
        emit_close: emit ``'close'`` after destroy (default True).
        auto_destroy: call ``destroy()`` after ``'end'`` (default True).
        read, destroy, construct: implementations of the hooks.
        capture_rejections: see :class:`~nodish.events.EventEmitter`.
    """

    __slots__ = ()

    _has_readable = True

    def __init__(
        self,
        *,
        high_water_mark: int | None = None,
        object_mode: bool = False,
        encoding: str | None = None,
        default_encoding: str = "utf8",
        emit_close: bool = True,
        auto_destroy: bool = True,
        read: Callback | None = None,
        destroy: Callback | None = None,
        construct: Callback | None = None,
        capture_rejections: bool | None = None,
    ) -> None:
        Stream.__init__(
            self,
            emit_close=emit_close,
            auto_destroy=auto_destroy,
            hooks=_hooks(read=read, destroy=destroy, construct=construct),
            capture_rejections=capture_rejections,
        )
        self._init_readable(
            object_mode, high_water_mark, "options.highWaterMark", encoding, default_encoding
        )
        self._start_construct()

    def _init_readable(
        self,
        object_mode: bool,
        hwm: int | None,
        hwm_name: str,
        encoding: str | None,
        default_encoding: str,
    ) -> None:
        self._r_object_mode = object_mode
        self._r_hwm = (
            DEFAULT_HIGH_WATER_MARK
            if hwm is None and not object_mode
            else high_water_mark(hwm, object_mode, hwm_name)
        )
        self._r_buffer = None
        self._r_length = 0
        self._r_pipes = ()
        self._r_flowing = None
        self._r_ended = False
        self._r_end_emitted = False
        self._r_reading = False
        self._r_sync = True
        self._r_need_readable = False
        self._r_emitted_readable = False
        self._r_readable_listening = False
        self._r_resume_scheduled = False
        self._r_paused = None
        self._r_await_drain = None
        self._r_reading_more = False
        self._r_data_emitted = False
        self._r_unpiping = None
        self._r_default_encoding = (
            "utf8" if default_encoding == "utf8" else normalize_encoding(default_encoding)
        )
        self._r_enabled = True
        self._r_decoder = None
        self._r_encoding = None
        if encoding:
            self._r_decoder = StringDecoder(encoding)
            self._r_encoding = self._r_decoder.encoding

    def _on_constructed(self) -> None:
        if self._r_need_readable:
            self._maybe_read_more()
        super()._on_constructed()

    # ------------------------------------------------------------------ hook

    def _read(self, size: int) -> None:
        """Implementer hook: produce data by calling ``push()``, now or later.

        ``size`` is a hint (the high water mark). It is not called again until
        ``push()`` has been called.
        """
        fn = self._hook("read")
        if fn is None:
            raise ERR_METHOD_NOT_IMPLEMENTED("_read()")
        fn(self, size)

    # ------------------------------------------------------------------ push

    def push(self, chunk: Any, encoding: str | None = None) -> bool:
        """Add ``chunk`` to the stream (``None`` signals the end). Implementer API.

        Mirrors Node's ``readable.push(chunk[, encoding])``.

        Args:
            chunk: bytes-like or ``str`` (any object but None in object mode); ``None``
                for end of stream.
            encoding: the encoding of a ``str`` chunk (default ``default_encoding``).

        Returns:
            False when the buffer has reached the high water mark (or the stream
            ended): stop producing until ``_read`` is called again.

        A push after ``push(None)`` destroys the stream with ``ERR_STREAM_PUSH_AFTER_EOF``.
        """
        # Fast path (Node's addChunk): bytes into a flowing, empty, healthy stream with a
        # 'data' listener, outside a synchronous _read: emitted at once.
        if (
            type(chunk) is bytes
            and chunk
            and self._r_flowing
            and not (
                self._r_length
                or self._r_sync
                or self._r_ended
                or self._destroyed
                or self._r_object_mode
            )
            and self._errored is None
            and self._r_decoder is None
            and "data" in self._events
        ):
            self._r_reading = False
            if self._r_await_drain is not None:
                self._clear_await_drain()
            self._r_data_emitted = True
            self.emit("data", chunk)
            if self._r_length:
                self._maybe_read_more()
            elif not (
                self._r_reading or self._r_ended or self._r_reading_more or self._destroyed
            ) and (
                self._errored is None and self._constructed and (self._r_hwm or self._r_flowing)
            ):
                # Node's maybeReadMore (a read(0) on the empty buffer), done now instead
                # of on the next tick: see the theory of operation.
                self._r_reading = self._r_sync = self._r_need_readable = True
                try:
                    self._read(self._r_hwm)
                except Exception as exc:
                    self._error_or_destroy(exc)
                self._r_sync = False
                if self._r_length <= self._r_hwm:
                    self._r_need_readable = True
            return not self._r_ended and (self._r_length < self._r_hwm or not self._r_length)

        if self._r_object_mode:
            return self._push_object(chunk, encoding)
        if chunk is None:
            self._r_reading = False
            self._on_eof_chunk()
            return False
        tp = type(chunk)
        if tp is bytes:
            encoding = None
        elif tp is str:
            enc = self._r_default_encoding if not encoding else normalize_encoding(encoding)
            if self._r_encoding != enc:
                chunk = encode(chunk, enc)
                encoding = None
            else:
                encoding = enc
        elif isinstance(chunk, _BYTES_LIKE):
            chunk = bytes(chunk)
            encoding = None
        else:
            self._error_or_destroy(
                ERR_INVALID_ARG_TYPE(
                    "chunk", "of type str, bytes, bytearray or memoryview", tp.__name__
                )
            )
            return False
        if not chunk:
            self._r_reading = False
            self._maybe_read_more()
            return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)
        if self._r_ended:
            self._error_or_destroy(ERR_STREAM_PUSH_AFTER_EOF())
            return False
        if self._destroyed or self._errored is not None:
            return False
        self._r_reading = False
        dec = self._r_decoder
        if dec is not None and not encoding:
            chunk = dec.write(chunk)
            if not chunk:
                self._maybe_read_more()
                return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)

        # -- Node's addChunk, with the flowing fast path inline
        if self._r_flowing and not self._r_length and not self._r_sync and "data" in self._events:
            if self._r_await_drain is not None:
                self._clear_await_drain()
            self._r_data_emitted = True
            self.emit("data", chunk)
            self._read_more_after_data()
            return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)
        self._r_length += len(chunk)
        buf = self._r_buffer
        if buf is None:
            buf = self._r_buffer = deque()
        buf.append(chunk)
        if self._r_need_readable:
            self._emit_readable()
        self._maybe_read_more()
        return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)

    def _read_more_after_data(self) -> None:
        # Node's maybeReadMore (one round of its loop), run right after the 'data'
        # listeners instead of on the next tick; see the theory of operation.
        if self._r_length:
            self._maybe_read_more()
            return
        if (
            self._r_reading
            or self._r_ended
            or self._r_reading_more
            or self._destroyed
            or self._errored is not None
            or not self._constructed
            or not (self._r_hwm or self._r_flowing)
        ):
            return
        # read(0) on an empty buffer: ask _read for more
        self._r_reading = True
        self._r_sync = True
        self._r_need_readable = True
        try:
            self._read(self._r_hwm)
        except Exception as exc:
            self._error_or_destroy(exc)
        self._r_sync = False
        if self._r_length <= self._r_hwm:
            self._r_need_readable = True

    def _push_object(self, chunk: Any, encoding: str | None) -> bool:
        if chunk is None:
            self._r_reading = False
            self._on_eof_chunk()
            return False
        if self._r_ended:
            self._error_or_destroy(ERR_STREAM_PUSH_AFTER_EOF())
            return False
        if self._destroyed or self._errored is not None:
            return False
        self._r_reading = False
        dec = self._r_decoder
        if dec is not None and not encoding and isinstance(chunk, (*_BYTES_LIKE, str)):
            chunk = dec.write(chunk)
        self._add_chunk(chunk, False)
        return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)

    def unshift(self, chunk: Any, encoding: str | None = None) -> bool:
        """Put ``chunk`` back at the front of the buffer (data read too early).

        Mirrors Node's ``readable.unshift(chunk[, encoding])``. After ``'end'`` it
        destroys the stream with ``ERR_STREAM_UNSHIFT_AFTER_END_EVENT``.
        """
        if chunk is None:
            self._r_reading = False
            self._on_eof_chunk()
            return False
        if not self._r_object_mode:
            if isinstance(chunk, str):
                enc = self._r_default_encoding if not encoding else normalize_encoding(encoding)
                target = self._r_encoding
                if target != enc:
                    data = encode(chunk, enc)
                    chunk = decode(data, target) if target else data
            elif isinstance(chunk, _BYTES_LIKE):
                chunk = bytes(chunk)
                if self._r_encoding:
                    chunk = decode(chunk, self._r_encoding)
            else:
                self._error_or_destroy(
                    ERR_INVALID_ARG_TYPE(
                        "chunk", "of type str, bytes, bytearray or memoryview", type(chunk).__name__
                    )
                )
                return False
            if not chunk:
                return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)
        if self._r_end_emitted:
            self._error_or_destroy(ERR_STREAM_UNSHIFT_AFTER_END_EVENT())
        elif self._destroyed or self._errored is not None:
            return False
        else:
            self._add_chunk(chunk, True)
        return not self._r_ended and (self._r_length < self._r_hwm or self._r_length == 0)

    def _add_chunk(self, chunk: Any, front: bool) -> None:
        if self._r_flowing and not self._r_length and not self._r_sync and "data" in self._events:
            if self._r_await_drain is not None:
                self._clear_await_drain()
            self._r_data_emitted = True
            self.emit("data", chunk)
        else:
            self._r_length += 1 if self._r_object_mode else len(chunk)
            buf = self._r_buffer
            if buf is None:
                buf = self._r_buffer = deque()
            if front:
                buf.appendleft(chunk)
            else:
                buf.append(chunk)
            if self._r_need_readable:
                self._emit_readable()
        self._maybe_read_more()

    def _clear_await_drain(self) -> None:
        ad = self._r_await_drain
        if isinstance(ad, set):
            ad.clear()
        else:
            self._r_await_drain = None

    def _on_eof_chunk(self) -> None:
        if self._r_ended:
            return
        dec = self._r_decoder
        if dec is not None:
            rest = dec.end()
            if rest:
                buf = self._r_buffer
                if buf is None:
                    buf = self._r_buffer = deque()
                buf.append(rest)
                self._r_length += 1 if self._r_object_mode else len(rest)
        self._r_ended = True
        if self._r_sync:
            # inside a synchronous _read: let read() return first
            self._emit_readable()
        else:
            self._r_need_readable = False
            self._r_emitted_readable = True
            self._emit_readable_nt()

    def _emit_readable(self) -> None:
        self._r_need_readable = False
        if not self._r_emitted_readable:
            self._r_emitted_readable = True
            self._tick(self._emit_readable_nt)

    def _emit_readable_nt(self) -> None:
        if not self._destroyed and self._errored is None and (self._r_length or self._r_ended):
            self.emit("readable")
            self._r_emitted_readable = False
        # Another 'readable' is wanted when not flowing, not ended, below the mark.
        if not self._r_flowing and not self._r_ended and self._r_length <= self._r_hwm:
            self._r_need_readable = True
        self._flow()

    def _maybe_read_more(self) -> None:
        if not self._r_reading_more and self._constructed:
            self._r_reading_more = True
            self._tick(self._maybe_read_more_nt)

    def _maybe_read_more_nt(self) -> None:
        # Fill the buffer up to the mark (or keep a flowing stream fed) while _read
        # answers synchronously; stop as soon as a read brings nothing.
        while (
            not self._r_reading
            and not self._r_ended
            and (self._r_length < self._r_hwm or (self._r_flowing and not self._r_length))
        ):
            length = self._r_length
            self.read(0)
            if length == self._r_length:
                break
        self._r_reading_more = False

    # ------------------------------------------------------------------ read

    def read(self, size: int | None = None) -> Any:
        """Take data out of the buffer (paused mode). Returns None when not enough.

        Mirrors Node's ``readable.read([size])``: without ``size``, everything buffered
        (one chunk at a time while flowing); with ``size``, exactly that many bytes,
        or None until they are there (or the rest, after the end). Object mode returns
        one object. Data returned is also emitted as ``'data'``.
        """
        if size is None:
            return self._read_next()
        if size == 0 and type(size) is int:
            self._read_zero()
            return None
        if not isinstance(size, int) or isinstance(size, bool):
            raise ERR_INVALID_ARG_TYPE("size", "of type int", type(size).__name__)
        n: int | None = size
        if n is not None and n > self._r_hwm:
            self._r_hwm = _compute_new_hwm(n)
        if n != 0:
            self._r_emitted_readable = False
        if (
            n == 0
            and self._r_need_readable
            and (
                (self._r_length >= self._r_hwm if self._r_hwm else self._r_length > 0)
                or self._r_ended
            )
        ):
            if not self._r_length and self._r_ended:
                self._end_readable()
            else:
                self._emit_readable()
            return None

        n = self._how_much_to_read(n)
        if n == 0 and self._r_ended:
            if not self._r_length:
                self._end_readable()
            return None

        do_read = self._r_need_readable
        if not self._r_length or self._r_length - n < self._r_hwm:
            do_read = True
        if (
            self._r_reading
            or self._r_ended
            or self._destroyed
            or self._errored is not None
            or not self._constructed
        ):
            do_read = False
        elif do_read:
            self._r_reading = True
            self._r_sync = True
            if not self._r_length:
                self._r_need_readable = True
            try:
                self._read(self._r_hwm)
            except Exception as exc:
                self._error_or_destroy(exc)
            self._r_sync = False
            # _read may have pushed synchronously: look again
            if not self._r_reading:
                n = self._how_much_to_read(size)

        ret = self._from_list(n) if n > 0 else None
        if ret is None:
            if self._r_length <= self._r_hwm:
                self._r_need_readable = True
            n = 0
        else:
            self._r_length -= n
            if self._r_await_drain is not None:
                self._clear_await_drain()

        if not self._r_length:
            if not self._r_ended:
                self._r_need_readable = True
            if size != n and self._r_ended:
                self._end_readable()

        if ret is not None and not self._error_emitted and not self._close_emitted:
            self._r_data_emitted = True
            self.emit("data", ret)
        return ret

    def _read_zero(self) -> None:
        # read(0), the general path's steps for n == 0 (several per connection: resume,
        # flow, end of stream). It never returns data: it may call _read, schedule
        # 'readable' or 'end', and sets the same flags.
        length = self._r_length
        ended = self._r_ended
        if self._r_need_readable and (
            (length >= self._r_hwm if self._r_hwm else length > 0) or ended
        ):
            if not length and ended:
                self._end_readable()
            else:
                self._emit_readable()
            return
        if ended:
            if not length:
                self._end_readable()
            return
        if (
            (self._r_need_readable or not length or length < self._r_hwm)
            and not (self._r_reading or self._destroyed)
            and self._errored is None
            and self._constructed
        ):
            self._r_reading = True
            self._r_sync = True
            if not length:
                self._r_need_readable = True
            try:
                self._read(self._r_hwm)
            except Exception as exc:
                self._error_or_destroy(exc)
            self._r_sync = False
        if self._r_length <= self._r_hwm or (not self._r_length and not self._r_ended):
            self._r_need_readable = True

    def _read_next(self) -> Any:
        # read() without a size: read(size) with Node's NaN, specialised (it runs once
        # per chunk in flowing mode). Same steps and flags as the general path.
        self._r_emitted_readable = False
        length = self._r_length
        if not length:
            if self._r_ended:
                self._end_readable()
                return None
            n = 0
        elif self._r_object_mode:
            n = 1
        elif self._r_flowing:
            buf = self._r_buffer
            assert buf is not None
            n = len(buf[0])
        else:
            n = length
        if (
            (self._r_need_readable or not length or length - n < self._r_hwm)
            and not (self._r_reading or self._r_ended or self._destroyed)
            and self._errored is None
            and self._constructed
        ):
            self._r_reading = self._r_sync = True
            if not length:
                self._r_need_readable = True
            try:
                self._read(self._r_hwm)
            except Exception as exc:
                self._error_or_destroy(exc)
            self._r_sync = False
            if not self._r_reading:
                n = self._how_much_to_read(None)

        ret = self._from_list(n) if n > 0 else None
        if ret is None:
            if self._r_length <= self._r_hwm:
                self._r_need_readable = True
        else:
            self._r_length -= n
            if self._r_await_drain is not None:
                self._clear_await_drain()
        if not self._r_length:
            if not self._r_ended:
                self._r_need_readable = True
            else:  # read past the end (Node: nOrig, NaN here, differs from n)
                self._end_readable()
        if ret is not None and not (self._error_emitted or self._close_emitted):
            self._r_data_emitted = True
            self.emit("data", ret)
        return ret

    def _how_much_to_read(self, n: int | None) -> int:
        length = self._r_length
        if (n is not None and n <= 0) or (not length and self._r_ended):
            return 0
        if self._r_object_mode:
            return 1
        if n is None:
            if self._r_flowing and length:
                buf = self._r_buffer
                assert buf is not None
                return len(buf[0])
            return length
        if n <= length:
            return n
        return length if self._r_ended else 0

    def _from_list(self, n: int) -> Any:
        buf = self._r_buffer
        if not buf:
            return None
        if self._r_object_mode:
            return buf.popleft()
        first = buf[0]
        if n >= self._r_length:
            if len(buf) == 1:
                return buf.popleft()
            ret = first[:0].join(buf)
            buf.clear()
            return ret
        flen = len(first)
        if n < flen:
            buf[0] = first[n:]
            return first[:n]
        if n == flen:
            return buf.popleft()
        parts = []
        need = n
        while need:
            chunk = buf[0]
            clen = len(chunk)
            if clen <= need:
                parts.append(buf.popleft())
                need -= clen
            else:
                parts.append(chunk[:need])
                buf[0] = chunk[need:]
                need = 0
        return first[:0].join(parts)

    def _end_readable(self) -> None:
        if not self._r_end_emitted:
            self._r_ended = True
            self._tick(self._end_readable_nt)

    def _end_readable_nt(self) -> None:
        # a last unshift() may have refilled the buffer
        if (
            self._errored is None
            and not self._close_emitted
            and not self._r_end_emitted
            and not self._r_length
        ):
            self._r_end_emitted = True
            self.emit("end")
            self._after_end()

    def _after_end(self) -> None:
        """After ``'end'``: auto-destroy (a Duplex also minds its writable side)."""
        if self._auto_destroy:
            self.destroy()

    # ------------------------------------------------------------------ modes

    def set_encoding(self, encoding: str | None) -> Readable:
        """Emit ``str`` decoded with ``encoding`` instead of bytes.

        Characters cut between chunks are held back until complete (Node's
        ``readable.setEncoding``). Data already buffered is converted.

        Raises:
            ERR_UNKNOWN_ENCODING: bad ``encoding``.
        """
        decoder = StringDecoder(encoding)
        self._r_decoder = decoder
        self._r_encoding = decoder.encoding
        buf = self._r_buffer
        content = "".join(decoder.write(c) for c in buf) if buf else ""
        if buf:
            buf.clear()
            if content:
                buf.append(content)
        self._r_length = len(content)
        return self

    def is_paused(self) -> bool:
        """Paused by ``pause()`` (or a ``'readable'`` listener), Node's ``isPaused()``."""
        return self._r_paused is True or self._r_flowing is False

    def resume(self) -> Readable:
        """Switch to flowing mode: ``'data'`` events follow (from the next tick)."""
        if not self._r_flowing:
            # with a 'readable' listener, resume() does not flow but still reads
            self._r_flowing = not self._r_readable_listening
            if not self._r_resume_scheduled:
                self._r_resume_scheduled = True
                self._tick(self._resume_nt)
        self._r_paused = False
        return self

    def _resume_nt(self) -> None:
        if not self._r_reading:
            self.read(0)
        self._r_resume_scheduled = False
        self.emit("resume")
        self._flow()
        if self._r_flowing and not self._r_reading:
            self.read(0)

    def pause(self) -> Readable:
        """Stop ``'data'`` events; data stays buffered (up to the mark)."""
        if self._r_flowing is not False:
            self._r_flowing = False
            self.emit("pause")
        self._r_paused = True
        return self

    def _flow(self) -> None:
        while self._r_flowing and self.read() is not None:
            pass

    # ------------------------------------------------------------------ listeners

    def _add(
        self, event: Hashable, listener: Callable[..., Any], prepend: bool, once: bool
    ) -> None:
        # Node's Readable.prototype.on: 'data' starts the flow, 'readable' pauses it.
        super()._add(event, listener, prepend, once)
        if event == "data":
            if "readable" in self._events:
                self._r_readable_listening = True
            if self._r_flowing is not False:
                self.resume()
        elif event == "readable" and not (self._r_end_emitted or self._r_readable_listening):
            self._r_readable_listening = True
            self._r_need_readable = True
            self._r_flowing = False
            self._r_emitted_readable = False
            if self._r_length:
                self._emit_readable()
            elif not self._r_reading:
                self._tick(self.read, 0)

    def remove_listener(self: _R, event: Hashable, listener: Callable[..., Any]) -> _R:
        """Remove ``listener`` from ``event`` (see :meth:`EventEmitter.remove_listener`)."""
        super().remove_listener(event, listener)
        if event == "readable":
            # after the current 'readable' emission, before I/O: once('readable') cycles
            self._tick(self._update_readable_listening)
        return self

    off = remove_listener

    def remove_all_listeners(self: _R, event: Hashable | None = None) -> _R:
        """Remove every listener, or every listener of ``event``."""
        super().remove_all_listeners(event)
        if event is None or event == "readable":
            self._tick(self._update_readable_listening)
        return self

    def _update_readable_listening(self) -> None:
        self._r_readable_listening = "readable" in self._events
        if self._r_paused is False and self._r_resume_scheduled:
            # the upcoming resume must flow
            self._r_flowing = True
        elif "data" in self._events:
            self.resume()
        elif not self._r_readable_listening:
            self._r_flowing = None

    # ------------------------------------------------------------------ pipe

    def pipe(self, destination: Any, *, end: bool = True) -> Any:
        """Send all data to ``destination`` (a Writable), honouring its backpressure.

        Mirrors Node's ``readable.pipe(destination[, options])``: the source pauses
        when ``destination.write()`` returns False and resumes on its ``'drain'``;
        ``destination.end()`` is called after ``'end'`` unless ``end=False``. An error
        on the destination unpipes it; errors on the source are not forwarded (use
        :func:`~nodish.stream.pipeline` for that). The destination emits ``'pipe'``.

        Returns:
            ``destination``, for chaining.
        """
        return _pipe(self, destination, end)

    def unpipe(self, destination: Any = None) -> Readable:
        """Stop piping to ``destination`` (to every destination when None).

        The destination emits ``'unpipe'``; the source pauses when no pipe is left.
        """
        pipes = self._r_pipes
        if not pipes:
            return self
        if destination is None:
            self._r_pipes = ()
            self.pause()
            for dest in pipes:
                self._emit_unpipe(dest)
            return self
        for i, dest in enumerate(pipes):  # noqa: B007 - i is used after the loop
            if dest is destination:
                break
        else:
            return self
        self._r_pipes = pipes[:i] + pipes[i + 1 :]
        if not self._r_pipes:
            self.pause()
        self._emit_unpipe(destination)
        return self

    def _emit_unpipe(self, dest: Any) -> None:
        # Node passes {hasUnpiped: false} as a second 'unpipe' argument so that only
        # one of several pipe() registrations cleans up; we keep it on the source for
        # the duration of the emit instead, so listeners get Node's documented (src).
        prev = self._r_unpiping
        self._r_unpiping = [False]
        try:
            dest.emit("unpipe", self)
        finally:
            self._r_unpiping = prev

    # ------------------------------------------------------------------ iteration

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.iterator()

    def iterator(self, *, destroy_on_return: bool = True) -> AsyncIterator[Any]:
        """An async iterator over the chunks (Node's ``readable.iterator()``).

        Args:
            destroy_on_return: destroy the stream when the loop is left early (default,
                as ``async for`` does). With False, the stream stays usable.

        The iterator is an async generator: ``async with contextlib.aclosing(...)``
        makes leaving the loop take effect at once instead of when the generator is
        collected.
        """
        return self._iterate(destroy_on_return)

    async def _iterate(self, destroy_on_return: bool) -> AsyncIterator[Any]:
        from ._eos import destroyer, finished

        loop = self._loop
        waiter: asyncio.Future[None] | None = None
        error: Any = _PENDING  # None: ended cleanly; an exception: failed

        def wake(*_: Any) -> None:
            nonlocal waiter
            w = waiter
            if w is not None:
                waiter = None
                if not w.done():
                    w.set_result(None)

        def on_finished(err: BaseException | None = None) -> None:
            nonlocal error
            error = err
            wake()

        self.on("readable", wake)
        cleanup = finished(self, callback=on_finished, writable=False)
        exit_exc: BaseException | None = None
        try:
            while True:
                chunk = None if self._destroyed else self.read()
                if chunk is not None:
                    yield chunk
                elif error is not _PENDING:
                    if error is not None:
                        raise error
                    return
                else:
                    waiter = loop.create_future()
                    await waiter
        except BaseException as exc:
            exit_exc = exc
            raise
        finally:
            # Node: destroy on an early exit (unless destroy_on_return=False) and after
            # an error; after a clean end only when auto_destroy (then it is a no-op).
            state = error
            if (
                state is _PENDING
                and exit_exc is not None
                and not isinstance(exit_exc, (GeneratorExit, asyncio.CancelledError))
            ):
                state = exit_exc  # thrown into the iterator by its consumer
            failed = state is not _PENDING and state is not None
            if (failed or destroy_on_return) and (state is _PENDING or self._auto_destroy):
                if isinstance(exit_exc, asyncio.CancelledError):
                    self.destroy()  # cancellation is never turned into an 'error' event
                else:
                    destroyer(self, None)
            else:
                self.remove_listener("readable", wake)
                cleanup()

    # ------------------------------------------------------------------ from

    @classmethod
    def from_(
        cls,
        iterable: Iterable[Any] | Any,
        *,
        object_mode: bool = True,
        high_water_mark: int | None = None,
        encoding: str | None = None,
    ) -> Readable:
        """A Readable of the items of ``iterable`` or async iterable (Node's ``Readable.from``).

        ``bytes``/``str`` (and other bytes-like objects) are one chunk, not iterated.
        Object mode by default, with a high water mark of 1 item unless given.

        Raises:
            ERR_INVALID_ARG_TYPE: ``iterable`` is not iterable.
        """
        from ._from import readable_from

        return readable_from(
            iterable, object_mode=object_mode, high_water_mark=high_water_mark, encoding=encoding
        )

    # ------------------------------------------------------------------ properties

    @property
    def readable(self) -> bool:
        """Safe to read: not destroyed, errored or ended."""
        return (
            self._r_enabled
            and not self._destroyed
            and not self._error_emitted
            and not self._r_end_emitted
        )

    @property
    def readable_length(self) -> int:
        """Bytes (characters with an encoding, objects in object mode) buffered."""
        return self._r_length

    @property
    def readable_ended(self) -> bool:
        """``'end'`` has been emitted."""
        return self._r_end_emitted

    @property
    def readable_flowing(self) -> bool | None:
        """None (no consumer yet), True (flowing) or False (paused)."""
        return self._r_flowing

    @property
    def readable_high_water_mark(self) -> int:
        """The ``high_water_mark`` of the readable side."""
        return self._r_hwm

    @property
    def readable_encoding(self) -> str | None:
        """The encoding set by ``set_encoding`` / ``encoding=``, else None."""
        return self._r_encoding

    @property
    def readable_object_mode(self) -> bool:
        """The readable side is in object mode."""
        return self._r_object_mode

    @property
    def readable_did_read(self) -> bool:
        """Some ``'data'`` has been emitted."""
        return self._r_data_emitted

    @property
    def readable_aborted(self) -> bool:
        """Destroyed or errored before ``'end'``."""
        return (
            self._r_enabled
            and (self._destroyed or self._errored is not None)
            and not self._r_end_emitted
        )

    @property
    def readable_buffer(self) -> list[Any]:
        """The buffered chunks (a copy)."""
        return list(self._r_buffer or ())
