"""Timers: ``set_timeout``, ``set_interval``, ``set_immediate``, ``next_tick``.

Theory of operation
-------------------
Durations are seconds (floats). Node's rules, each with a test:

* A delay below one millisecond, or above ``TIMEOUT_MAX`` (Node's 2**31 - 1 ms), becomes
  one millisecond; the second case also warns (``TimeoutOverflowWarning``). ``None``
  means no delay. Anything that is not a number raises ``ERR_INVALID_ARG_TYPE`` (Node
  coerces strings; nodish keeps Python's manners). Node truncates a delay to whole
  milliseconds; nodish keeps the fraction (the loop's clock decides the precision).
* Pending timeouts, intervals and immediates keep :func:`nodish.run` alive until they
  fire or are cleared, unless ``unref()``\\ed. A timeout that has fired no longer does.
* ``refresh()`` restarts a timer from now with its delay, and re-arms one that has
  already fired; it does nothing to a cleared timer.
* An interval is rescheduled *before* its callback runs (so ``clear_interval`` inside the
  callback works, and the period does not drift by the callback's run time). A callback
  that raises goes to the runtime's uncaught path, and an interval whose callback
  raised is cleared.
* ``clear_*`` of ``None`` does nothing, as Node ignores ``undefined``.

Ordering. Timers ride on ``loop.call_later``. Immediates are queued on the loop's books
and run in batches from one ``loop.call_soon``: an immediate queued by an immediate
runs on the next turn of the loop, as in Node's check phase. ``next_tick`` callbacks
(Node's ``process.nextTick``) go to the runtime's tick queue, which is drained after
each timer and immediate callback, and before each batch of immediates, so a tick
always runs before an immediate queued earlier or later in the same callback. What
asyncio does not allow: a tick queued from a callback that nodish does not run itself
(an asyncio callback or a coroutine step) waits behind the callbacks already in the
loop's ready queue (see :mod:`nodish.runtime`).
"""

from __future__ import annotations

import asyncio
import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

from . import runtime
from .errors import ERR_INVALID_ARG_TYPE

__all__ = [
    "TIMEOUT_MAX",
    "Immediate",
    "Timeout",
    "TimeoutOverflowWarning",
    "clear_immediate",
    "clear_interval",
    "clear_timeout",
    "next_tick",
    "set_immediate",
    "set_interval",
    "set_timeout",
]

TIMEOUT_MAX = 2147483.647
"""Node's TIMEOUT_MAX (2**31 - 1 ms), in seconds: longer delays become 1 ms."""

_MIN_DELAY = 0.001  # Node's floor: 1 ms


class TimeoutOverflowWarning(RuntimeWarning):
    """A delay longer than ``TIMEOUT_MAX`` was given; it was set to 1 ms (Node's rule)."""


def _check_callback(callback: Any) -> None:
    if not callable(callback):
        raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)


def _delay(delay: Any) -> float:
    """Node's delay rule, in seconds."""
    if delay is None:
        return _MIN_DELAY
    if isinstance(delay, bool) or not isinstance(delay, numbers.Real):
        raise ERR_INVALID_ARG_TYPE("delay", "a number of seconds", type(delay).__name__)
    d = float(delay)
    if d > TIMEOUT_MAX:
        warnings.warn(
            TimeoutOverflowWarning(
                f"{delay} does not fit into a 32-bit signed integer (in milliseconds). "
                "Timeout duration was set to 0.001."
            ),
            stacklevel=3,
        )
        return _MIN_DELAY
    if math.isnan(d) or d < _MIN_DELAY:
        return _MIN_DELAY
    return d


class Timeout:
    """A pending ``set_timeout``/``set_interval``: Node's ``Timeout`` object.

    Not made directly: :func:`set_timeout` and :func:`set_interval` return one.
    """

    __slots__ = (
        "_args",
        "_callback",
        "_cleared",
        "_delay",
        "_handle",
        "_loop",
        "_repeat",
        "_st",
        "_timer",
    )

    def __init__(
        self, callback: Callable[..., Any], delay: float, args: tuple[Any, ...], repeat: bool
    ) -> None:
        self._loop = loop = runtime.get_loop()
        self._st = runtime.loop_state(loop)
        self._callback = callback
        self._args = args
        self._delay = delay
        self._repeat = repeat
        self._cleared = False
        self._handle = runtime.HandleRef(loop, self.close)
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
            if self._repeat:
                self.close()
            runtime.report_uncaught(exc)
        if self._st.ticks:
            self._st.run_ticks()

    def ref(self) -> Timeout:
        """Keep the process alive while this timer is pending (the default)."""
        self._handle.ref()
        return self

    def unref(self) -> Timeout:
        """Do not keep the process alive for this timer alone."""
        self._handle.unref()
        return self

    def has_ref(self) -> bool:
        """Whether the timer keeps the process alive while pending."""
        return self._handle.refed

    def refresh(self) -> Timeout:
        """Restart the timer from now with its delay; re-arm it if it already fired.

        A cleared timer stays cleared, as in Node.
        """
        if self._cleared:
            return self
        if self._timer is not None:
            self._timer.cancel()
        self._schedule()
        return self

    def close(self) -> Timeout:
        """Cancel the timer (same as :func:`clear_timeout`)."""
        self._cleared = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._handle.close()
        return self

    @property
    def pending(self) -> bool:
        """Whether the timer is scheduled to fire."""
        return self._timer is not None

    @property
    def delay(self) -> float:
        """The delay (or period), in seconds, after Node's 1 ms rule."""
        return self._delay

    def __repr__(self) -> str:
        kind = "interval" if self._repeat else "timeout"
        state = "pending" if self._timer is not None else "idle"
        return f"<Timeout {kind} {self._delay}s {state}{'' if self.has_ref() else ' unref'}>"


class Immediate:
    """A pending ``set_immediate``: Node's ``Immediate`` object.

    Not made directly: :func:`set_immediate` returns one.
    """

    __slots__ = ("_args", "_callback", "_handle")

    def __init__(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        loop = runtime.get_loop()
        st = runtime.loop_state(loop)
        self._callback: Callable[..., Any] | None = callback
        self._args = args
        self._handle = runtime.HandleRef(loop, self._cancel)
        self._handle.open()
        st.immediates.append(self)
        if not st.immediates_scheduled:
            st.immediates_scheduled = True
            loop.call_soon(_run_immediates, st)

    def _cancel(self) -> None:
        self._callback = None
        self._args = ()
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

    def __repr__(self) -> str:
        state = "pending" if self._callback is not None else "done"
        return f"<Immediate {state}{'' if self.has_ref() else ' unref'}>"


def _run_immediates(st: Any) -> None:
    """Run the immediates queued so far; later ones wait for the next turn (Node)."""
    st.immediates_scheduled = False
    if st.ticks:
        st.run_ticks()
    queue = st.immediates
    for _ in range(len(queue)):
        imm: Immediate = queue.popleft()
        callback = imm._callback
        if callback is None:  # cleared
            continue
        args = imm._args
        imm._callback = None
        imm._args = ()
        imm._handle.close()
        try:
            callback(*args)
        except BaseException as exc:
            runtime.report_uncaught(exc)
        if st.ticks:
            st.run_ticks()


def set_timeout(callback: Callable[..., Any], delay: float | None = None, *args: Any) -> Timeout:
    """Call ``callback(*args)`` once, ``delay`` seconds from now (Node's ``setTimeout``).

    Raises:
        ERR_INVALID_ARG_TYPE: ``callback`` is not callable or ``delay`` not a number.
    """
    _check_callback(callback)
    return Timeout(callback, _delay(delay), args, False)


def set_interval(callback: Callable[..., Any], delay: float | None = None, *args: Any) -> Timeout:
    """Call ``callback(*args)`` every ``delay`` seconds until cleared (``setInterval``).

    Raises:
        ERR_INVALID_ARG_TYPE: ``callback`` is not callable or ``delay`` not a number.
    """
    _check_callback(callback)
    return Timeout(callback, _delay(delay), args, True)


def set_immediate(callback: Callable[..., Any], *args: Any) -> Immediate:
    """Call ``callback(*args)`` on the next turn of the loop (Node's ``setImmediate``).

    Raises:
        ERR_INVALID_ARG_TYPE: ``callback`` is not callable.
    """
    _check_callback(callback)
    return Immediate(callback, args)


def clear_timeout(timeout: Timeout | None) -> None:
    """Cancel a timeout or an interval (``None`` is ignored, as Node ignores ``undefined``)."""
    if timeout is not None:
        timeout.close()


def clear_interval(interval: Timeout | None) -> None:
    """Cancel an interval (``None`` is ignored)."""
    if interval is not None:
        interval.close()


def clear_immediate(immediate: Immediate | None) -> None:
    """Cancel an immediate that has not run yet (``None`` is ignored)."""
    if immediate is not None:
        immediate._cancel()


def next_tick(callback: Callable[..., Any], *args: Any) -> None:
    """Call ``callback(*args)`` after the current callback returns (``process.nextTick``).

    Ticks run in the order queued, before any immediate. A tick that raises goes to
    the uncaught path.

    Raises:
        ERR_INVALID_ARG_TYPE: ``callback`` is not callable.
    """
    _check_callback(callback)
    runtime.next_tick(callback, *args)
