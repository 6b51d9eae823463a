"""``Transform`` and ``PassThrough``: a Duplex whose output is computed from its input.

Theory of operation
-------------------
A port of Node v20's ``lib/internal/streams/transform.js``. Each written chunk goes to
``_transform(chunk, encoding, callback)``; ``callback(err=None, data=None)`` pushes
``data`` (when given) to the readable side and acknowledges the write. When the
readable side is full (its buffer at the mark and the transform added to it), the
acknowledgement is held back until the consumer reads (``_read``), so a slow reader
slows the writer: backpressure crosses the Transform. At ``end()``, ``_flush(callback)``
may push a last piece, then the readable side ends.
"""

from __future__ import annotations

from typing import Any

from ..errors import ERR_METHOD_NOT_IMPLEMENTED
from ._base import Callback, Stream
from .duplex import Duplex
from .writable import _hooks

__all__ = ["PassThrough", "Transform"]


class Transform(Duplex):
    """A Duplex where output is computed from input: Node's ``stream.Transform``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/stream.html#class-streamtransform.
    Implement ``_transform(chunk, encoding, callback)`` and optionally
    ``_flush(callback)``, or pass ``transform=``/``flush=`` (called with the stream
    first): ``Transform(transform=lambda self, chunk, enc, cb: cb(None, chunk.upper()))``.

    The callback takes ``(err=None, data=None)``; ``data`` is pushed when not None.
    Other keywords are those of :class:`Duplex`.
    """

    __slots__ = ("_t_callback",)

    def __init__(
        self,
        *,
        allow_half_open: bool = True,
        readable: bool = True,
        writable: bool = True,
        high_water_mark: int | None = None,
        readable_high_water_mark: int | None = None,
        writable_high_water_mark: int | None = None,
        object_mode: bool = False,
        readable_object_mode: bool = False,
        writable_object_mode: bool = False,
        encoding: str | None = None,
        default_encoding: str = "utf8",
        decode_strings: bool = True,
        emit_close: bool = True,
        auto_destroy: bool = True,
        transform: Callback | None = None,
        flush: Callback | None = None,
        final: Callback | None = None,
        destroy: Callback | None = None,
        construct: Callback | None = None,
        capture_rejections: bool | None = None,
    ) -> None:
        Stream.__init__(
            self,
            emit_close=emit_close,
            auto_destroy=auto_destroy,
            hooks=_hooks(
                transform=transform,
                flush=flush,
                final=final,
                destroy=destroy,
                construct=construct,
            ),
            capture_rejections=capture_rejections,
        )
        r_hwm = high_water_mark if high_water_mark is not None else readable_high_water_mark
        if r_hwm == 0:
            # A Duplex buffers on both sides; a Transform with readable mark 0 wants no
            # buffering at all, so the writable side gets 0 unless told otherwise.
            high_water_mark = None
            readable_high_water_mark = 0
            writable_high_water_mark = writable_high_water_mark or 0
        self._init_duplex(
            allow_half_open,
            readable,
            writable,
            high_water_mark,
            readable_high_water_mark,
            writable_high_water_mark,
            object_mode,
            readable_object_mode,
            writable_object_mode,
            encoding,
            default_encoding,
            decode_strings,
        )
        # _read is ours and ready: the first read needs no sync guard (Node does this).
        self._r_sync = False
        self._t_callback: Callback | None = None
        if type(self)._final is not Transform._final or self._hook("final") is not None:
            # Compat: an implementation that overrides _final still gets _flush at
            # 'prefinish'.
            self.on("prefinish", self._prefinish_flush)
        self._start_construct()

    # ------------------------------------------------------------------ hooks

    def _transform(self, chunk: Any, encoding: str, callback: Callback) -> None:
        """Implementer hook: process ``chunk``; ``callback(err=None, data=None)``."""
        fn = self._hook("transform")
        if fn is None:
            raise ERR_METHOD_NOT_IMPLEMENTED("_transform()")
        fn(self, chunk, encoding, callback)

    def _flush(self, callback: Callback) -> None:
        """Implementer hook (optional): push what is left; ``callback(err=None, data=None)``."""
        fn = self._hook("flush")
        if fn is None:  # pragma: no cover - only called when defined
            callback()
            return
        fn(self, callback)

    def _has_flush(self) -> bool:
        return type(self)._flush is not Transform._flush or self._hook("flush") is not None

    def _final(self, callback: Callback | None = None) -> None:
        fn = self._hook("final")
        if fn is not None and callback is not None:
            fn(self, callback)
            return
        if self._has_flush() and not self._destroyed:

            def done(err: BaseException | None = None, data: Any = None) -> None:
                if err is not None:
                    if callback is not None:
                        callback(err)
                    else:
                        self.destroy(err)
                    return
                if data is not None:
                    self.push(data)
                self.push(None)
                if callback is not None:
                    callback()

            self._flush(done)
        else:
            self.push(None)
            if callback is not None:
                callback()

    def _prefinish_flush(self) -> None:
        Transform._final(self)

    def _write(self, chunk: Any, encoding: str, callback: Callback) -> None:
        length = self._r_length

        def done(err: BaseException | None = None, val: Any = None) -> None:
            if err is not None:
                callback(err)
                return
            if val is not None:
                self.push(val)
            if self._r_ended:
                # push(None) happened inside: let the new state settle first
                self._tick(callback)
            elif self._w_ended or length == self._r_length or self._r_length < self._r_hwm:
                callback()
            else:
                self._t_callback = callback

        self._transform(chunk, encoding, done)

    def _read(self, size: int) -> None:
        cb = self._t_callback
        if cb is not None:
            self._t_callback = None
            cb()


class PassThrough(Transform):
    """A Transform that passes every chunk through unchanged (Node's ``PassThrough``)."""

    __slots__ = ()

    def _transform(self, chunk: Any, encoding: str, callback: Callback) -> None:
        callback(None, chunk)
