"""``Duplex``: a stream that is both Readable and Writable (Node's ``stream.Duplex``).

The two sides are independent (a socket's incoming and outgoing bytes); they share
the lifecycle: one ``destroy()``, one ``'error'``, one ``'close'``.

* ``allow_half_open=False``: after the readable side's ``'end'``, ``end()`` is called on
  the writable side on the next tick (Node's ``onReadableEnd``).
* ``auto_destroy``: ``destroy()`` runs once *both* sides are done (``'end'`` and
  ``'finish'``), whichever comes last.
* ``readable=False`` / ``writable=False`` start that side already ended.
"""

from __future__ import annotations

from ._base import Callback, Stream
from .readable import Readable
from .writable import Writable, _hooks

__all__ = ["Duplex"]


class Duplex(Readable, Writable):
    """A Readable and a Writable in one object: Node's ``stream.Duplex``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/stream.html#class-streamduplex.
    Implement ``_read`` and ``_write`` (and optionally ``_writev``, ``_final``,
    ``_destroy``, ``_construct``), or pass them as keywords (called with the stream
    first).

    Args:
        allow_half_open: keep the writable side open after the readable side ended
            (default True); with False, ``end()`` is called after ``'end'``.
        readable, writable: with False, that side starts ended.
        high_water_mark: both sides' mark (wins over the side-specific ones, as in Node).
        readable_high_water_mark, writable_high_water_mark: each side's mark.
        object_mode: both sides in object mode.
        readable_object_mode, writable_object_mode: one side in object mode.
        encoding, default_encoding, decode_strings, emit_close, auto_destroy: as for
            :class:`Readable` / :class:`Writable`.
        read, write, writev, final, destroy, construct: hook implementations.
        capture_rejections: see :class:`~nodish.events.EventEmitter`.
    """

    __slots__ = ()

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
        read: Callback | None = None,
        write: Callback | None = None,
        writev: Callback | None = None,
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
                read=read,
                write=write,
                writev=writev,
                final=final,
                destroy=destroy,
                construct=construct,
            ),
            capture_rejections=capture_rejections,
        )
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
        self._start_construct()

    def _init_duplex(
        self,
        allow_half_open: bool,
        readable: bool,
        writable: bool,
        hwm: int | None,
        r_hwm: int | None,
        w_hwm: int | None,
        object_mode: bool,
        r_object_mode: bool,
        w_object_mode: bool,
        encoding: str | None,
        default_encoding: str,
        decode_strings: bool,
    ) -> None:
        # Node's getHighWaterMark: highWaterMark wins over the side-specific option.
        self._init_readable(
            object_mode or r_object_mode,
            hwm if hwm is not None else r_hwm,
            "options.highWaterMark" if hwm is not None else "options.readableHighWaterMark",
            encoding,
            default_encoding,
        )
        self._init_writable(
            object_mode or w_object_mode,
            hwm if hwm is not None else w_hwm,
            "options.highWaterMark" if hwm is not None else "options.writableHighWaterMark",
            decode_strings,
            default_encoding,
        )
        self._allow_half_open = allow_half_open
        if not readable:
            self._r_enabled = False
            self._r_ended = True
            self._r_end_emitted = True
        if not writable:
            self._w_enabled = False
            self._w_ending = True
            self._w_ended = True
            self._w_finished = True

    @property
    def allow_half_open(self) -> bool:
        """Keep the writable side open after the readable side has ended."""
        return self._allow_half_open

    @allow_half_open.setter
    def allow_half_open(self, value: bool) -> None:
        self._allow_half_open = bool(value)

    def _after_end(self) -> None:
        # Node's endReadableNT tail for a Duplex.
        if self.writable and not self._allow_half_open:
            self._tick(self._end_writable_nt)
        elif self._auto_destroy and (not self._w_enabled or self._w_finished):
            self.destroy()

    def _end_writable_nt(self) -> None:
        if self.writable and not self._w_ending and not self._destroyed:
            self.end()

    def _readable_side_done(self) -> bool:
        return not self._r_enabled or self._r_end_emitted
