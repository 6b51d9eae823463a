"""Timers: ``set_timeout``, ``set_interval``, ``set_immediate``, ``next_tick``.

Durations are seconds (floats). As in Node, a delay below one millisecond (or not a
number) becomes one millisecond, pending timeouts and immediates keep the process
alive until they fire or are cleared unless ``unref()``\\ed, and an interval keeps it
alive until cleared. Callbacks run through the runtime's uncaught path: a callback that
raises is reported, and an interval whose callback raised is cleared.

``next_tick`` and ``set_immediate`` both map to ``loop.call_soon``: asyncio has one
ready queue, so nodish does not reproduce Node's separate nextTick queue. Both run
after the current callback returns and before any I/O of the next loop iteration.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from . import runtime
from .errors import ERR_INVALID_ARG_TYPE

__all__ = [
    "Immediate",
    "Timeout",
    "clear_immediate",
    "clear_interval",
    "clear_timeout",
    "next_tick",
    "set_immediate",
    "set_interval",
    "set_timeout",
]

TIMEOUT_MAX = 2147483.647  # Node's TIMEOUT_MAX (2**31 - 1 ms), in seconds


def _check_callback(callback: Any) -> None:
    if not callable(callback):
        raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)


def _delay(delay: Any) -> float:
    try:
        d = float(delay)
    except (TypeError, ValueError):
        return 0.001
    if math.isnan(d) or d < 0.001 or d > TIMEOUT_MAX:
        return 0.001
    return d


class Timeout:
    """A pending ``set_timeout``/``set_interval``; Node's ``Timeout`` object."""

    __slots__ = ("_args", "_callback", "_delay", "_handle", "_loop", "_repeat", "_timer")

    def __init__(
        self, callback: Callable[..., Any], delay: float, args: tuple[Any, ...], repeat: bool
    ) -> None:
        self._loop = runtime.get_loop()
        self._callback = callback
        self._args = args
        self._delay = delay
        self._repeat = repeat
        self._handle = runtime.HandleRef(self._loop, self.close)
        self._timer: asyncio.TimerHandle | None = None
        self._schedule()

    def _schedule(self) -> None:
        self._timer = self._loop.call_later(self._delay, self._fire)
        self._handle.open()

    def _fire(self) -> None:
        self._timer = None
        if self._repeat:
            self._schedule()
        else:
            self._handle.close()
        try:
            self._callback(*self._args)
        except BaseException as exc:
            self.close()
            runtime.report_uncaught(exc)

    def ref(self) -> Timeout:
        """Keep the process alive while this timer is pending (the default)."""
        self._handle.ref()
        return self

    def unref(self) -> Timeout:
        """Do not keep the process alive for this timer alone."""
        self._handle.unref()
        return self

    def has_ref(self) -> bool:
        """Whether the timer keeps the process alive."""
        return self._handle.refed

    def refresh(self) -> Timeout:
        """Restart the timer from now with its original delay (also after it fired)."""
        if self._timer is not None:
            self._timer.cancel()
        self._schedule()
        return self

    def close(self) -> Timeout:
        """Cancel the timer (``clear_timeout``)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._handle.close()
        return self

    @property
    def pending(self) -> bool:
        """Whether the timer is still scheduled."""
        return self._timer is not None


class Immediate:
    """A pending ``set_immediate``; Node's ``Immediate`` object."""

    __slots__ = ("_handle", "_timer")

    def __init__(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        loop = runtime.get_loop()
        self._handle = runtime.HandleRef(loop, self._cancel)
        self._handle.open()

        def fire() -> None:
            self._handle.close()
            try:
                callback(*args)
            except BaseException as exc:
                runtime.report_uncaught(exc)

        self._timer: asyncio.Handle | None = loop.call_soon(fire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._handle.close()

    def ref(self) -> Immediate:
        """Keep the process alive until the callback runs (the default)."""
        self._handle.ref()
        return self

    def unref(self) -> Immediate:
        """Do not keep the process alive for this immediate alone."""
        self._handle.unref()
        return self

    def has_ref(self) -> bool:
        """Whether the immediate keeps the process alive."""
        return self._handle.refed


def set_timeout(callback: Callable[..., Any], delay: float = 0.001, *args: Any) -> Timeout:
    """Call ``callback(*args)`` once, ``delay`` seconds from now."""
    _check_callback(callback)
    return Timeout(callback, _delay(delay), args, False)


def set_interval(callback: Callable[..., Any], delay: float = 0.001, *args: Any) -> Timeout:
    """Call ``callback(*args)`` every ``delay`` seconds until cleared."""
    _check_callback(callback)
    return Timeout(callback, _delay(delay), args, True)


def set_immediate(callback: Callable[..., Any], *args: Any) -> Immediate:
    """Call ``callback(*args)`` on the next turn of the loop."""
    _check_callback(callback)
    return Immediate(callback, args)


def clear_timeout(timeout: Timeout | None) -> None:
    """Cancel a timeout (``None`` is ignored, as Node ignores ``undefined``)."""
    if timeout is not None:
        timeout.close()


clear_interval = clear_timeout


def clear_immediate(immediate: Immediate | None) -> None:
    """Cancel an immediate that has not run yet."""
    if immediate is not None:
        immediate._cancel()


def next_tick(callback: Callable[..., Any], *args: Any) -> None:
    """Call ``callback(*args)`` after the current callback returns."""
    _check_callback(callback)
    runtime.call_soon(callback, *args)
