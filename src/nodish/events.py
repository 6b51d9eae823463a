"""EventEmitter with Node's semantics, and the awaitable bridges ``once()`` and ``on()``.

Theory of operation
-------------------
Listeners of an event are kept in a tuple that is replaced, never mutated, when a
listener is added or removed. ``emit`` therefore always iterates a snapshot (Node's
rule: a listener added or removed during an emit does not change that emit), and pays
nothing to take it. ``emit`` has a fast path for one listener.

A listener registered with ``once`` is stored as a :class:`_Once` wrapper whose
``.listener`` is the user's function; ``listeners()`` unwraps, ``raw_listeners()`` does
not, ``remove_listener(fn)`` finds either. A coroutine function is stored as a
:class:`_Async` wrapper that schedules the coroutine as a task; its failure goes to
``'error'`` when the emitter captures rejections, else to the uncaught path.

Node rules kept here, each with a test: ``'newListener'`` is emitted *before* the
listener is added, ``'removeListener'`` *after* it is removed; ``emit('error')`` with no
listener raises the error (or ``ERR_UNHANDLED_ERROR`` for a non-exception);
``error_monitor`` listeners see every error first; more than ``max_listeners`` listeners
on one event warn once (``MaxListenersExceededWarning``).

An exception raised by a listener propagates out of ``emit`` to its caller, as in
Node; when nodish itself emits from the loop, the caller is the runtime's boundary,
which sends the exception down the uncaught path.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from typing import Any

from . import runtime
from .errors import ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_UNHANDLED_ERROR

__all__ = [
    "EventEmitter",
    "MaxListenersExceededWarning",
    "error_monitor",
    "get_event_listeners",
    "listener_count",
    "on",
    "once",
    "set_max_listeners",
]

Listener = Callable[..., Any]


class _Symbol:
    """A unique event name that is not a string (Node's ``Symbol``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Symbol({self.name})"


error_monitor: Any = _Symbol("events.errorMonitor")
"""Listen on this to observe ``'error'`` events without handling them (Node's ``errorMonitor``)."""


class MaxListenersExceededWarning(RuntimeWarning):
    """More listeners were added to one event than ``max_listeners`` allows."""


class _Once:
    """Wrapper for a listener registered with ``once``: removes itself, then calls."""

    __slots__ = ("emitter", "event", "fired", "listener")

    def __init__(self, emitter: EventEmitter, event: Hashable, listener: Listener) -> None:
        self.emitter = emitter
        self.event = event
        self.listener = listener
        self.fired = False

    def __call__(self, *args: Any) -> Any:
        if not self.fired:
            self.fired = True
            self.emitter.remove_listener(self.event, self)
            return self.listener(*args)
        return None


class _Async:
    """Wrapper for a coroutine-function listener: each call schedules a task."""

    __slots__ = ("emitter", "event", "listener")

    def __init__(self, emitter: EventEmitter, event: Hashable, listener: Listener) -> None:
        self.emitter = emitter
        self.event = event
        self.listener = listener

    def __call__(self, *args: Any) -> None:
        emitter = self.emitter
        on_error = emitter._rejection if emitter._capture_rejections else None
        runtime.spawn(self.listener(*args), owner=emitter, on_error=on_error)


def _unwrap(fn: Any) -> Any:
    while isinstance(fn, (_Once, _Async)):
        fn = fn.listener
    return fn


def _check_listener(listener: Any) -> None:
    if not callable(listener):
        raise ERR_INVALID_ARG_TYPE("listener", "a function", type(listener).__name__)


class EventEmitter:
    """Node's EventEmitter: named events with ordered listeners.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/events.html. Event names are any
    hashable value, normally Node's strings (``'data'``, ``'close'``). Listeners may be
    plain functions or coroutine functions.

    Args:
        capture_rejections: when a coroutine listener fails, emit ``'error'`` on this
            emitter instead of taking the uncaught-exception path.
    """

    __slots__ = ("_capture_rejections", "_events", "_max_listeners", "_warned")

    default_max_listeners: int = 10
    capture_rejections: bool = False

    def __init__(self, *, capture_rejections: bool | None = None) -> None:
        self._events: dict[Hashable, tuple[Listener, ...]] = {}
        self._max_listeners: int | None = None
        self._warned: bool = False
        self._capture_rejections = (
            EventEmitter.capture_rejections if capture_rejections is None else capture_rejections
        )

    # -- adding ---------------------------------------------------------------

    def _add(self, event: Hashable, listener: Listener, prepend: bool, once: bool) -> None:
        _check_listener(listener)
        events = self._events
        if "newListener" in events:
            self.emit("newListener", event, _unwrap(listener))
        stored: Listener = listener
        if inspect.iscoroutinefunction(listener):
            stored = _Async(self, event, listener)
        if once:
            stored = _Once(self, event, stored)
        current = events.get(event)
        if current is None:
            events[event] = (stored,)
            return
        events[event] = (stored, *current) if prepend else (*current, stored)
        limit = self.get_max_listeners()
        if limit > 0 and len(current) + 1 > limit and not self._warned:
            self._warned = True
            warnings.warn(
                MaxListenersExceededWarning(
                    f"Possible EventEmitter memory leak detected. {len(current) + 1} "
                    f"{event} listeners added to {type(self).__name__}. "
                    "Use emitter.set_max_listeners() to increase limit"
                ),
                stacklevel=3,
            )

    def on(self, event: Hashable, listener: Listener) -> EventEmitter:
        """Add ``listener`` at the end of ``event``'s list. Returns the emitter."""
        self._add(event, listener, False, False)
        return self

    add_listener = on

    def once(self, event: Hashable, listener: Listener) -> EventEmitter:
        """Add a listener called at most once, then removed."""
        self._add(event, listener, False, True)
        return self

    def prepend_listener(self, event: Hashable, listener: Listener) -> EventEmitter:
        """Add ``listener`` at the start of ``event``'s list."""
        self._add(event, listener, True, False)
        return self

    def prepend_once_listener(self, event: Hashable, listener: Listener) -> EventEmitter:
        """Add a once-listener at the start of ``event``'s list."""
        self._add(event, listener, True, True)
        return self

    # -- removing -------------------------------------------------------------

    def remove_listener(self, event: Hashable, listener: Listener) -> EventEmitter:
        """Remove the most recently added instance of ``listener`` from ``event``.

        ``listener`` may be the function given to ``on``/``once`` or the raw wrapper.
        """
        _check_listener(listener)
        current = self._events.get(event)
        if current is None:
            return self
        for i in range(len(current) - 1, -1, -1):
            fn = current[i]
            if fn is listener or _unwrap(fn) is listener or (
                isinstance(fn, _Once) and fn.listener is listener
            ):
                rest = current[:i] + current[i + 1 :]
                if rest:
                    self._events[event] = rest
                else:
                    del self._events[event]
                if "removeListener" in self._events:
                    self.emit("removeListener", event, _unwrap(fn))
                break
        return self

    off = remove_listener

    def remove_all_listeners(self, event: Hashable | None = None) -> EventEmitter:
        """Remove every listener, or every listener of ``event``.

        ``'removeListener'`` is emitted for each, last added first, as in Node.
        """
        events = self._events
        if "removeListener" not in events:
            if event is None:
                events.clear()
            else:
                events.pop(event, None)
            return self
        names = list(events) if event is None else [event]
        for name in names:
            if name == "removeListener":
                continue
            for fn in reversed(events.get(name, ())):
                self.remove_listener(name, fn)
        if event is None or event == "removeListener":
            events.pop("removeListener", None)
        return self

    # -- emitting -------------------------------------------------------------

    def emit(self, event: Hashable, *args: Any) -> bool:
        """Call every listener of ``event`` with ``args``, in order, synchronously.

        Returns:
            True if the event had listeners.

        Raises:
            The error itself, for ``'error'`` with no listener (or
            ``ERR_UNHANDLED_ERROR`` when the value is not an exception); whatever a
            listener raises.
        """
        listeners = self._events.get(event)
        if listeners is None:
            if event == "error":
                return self._unhandled_error(args)
            return False
        if event == "error":
            monitors = self._events.get(error_monitor)
            if monitors:
                for fn in monitors:
                    fn(*args)
        if len(listeners) == 1:
            listeners[0](*args)
        else:
            for fn in listeners:
                fn(*args)
        return True

    def _unhandled_error(self, args: tuple[Any, ...]) -> bool:
        monitors = self._events.get(error_monitor)
        if monitors:
            for fn in monitors:
                fn(*args)
        err = args[0] if args else None
        if isinstance(err, BaseException):
            raise err
        raise ERR_UNHANDLED_ERROR(repr(err))

    def _rejection(self, exc: BaseException) -> None:
        """A coroutine listener failed and rejections are captured: emit ``'error'``."""
        self.emit("error", exc)

    # -- introspection --------------------------------------------------------

    def listener_count(self, event: Hashable, listener: Listener | None = None) -> int:
        """How many listeners ``event`` has (of ``listener`` alone, when given)."""
        current = self._events.get(event, ())
        if listener is None:
            return len(current)
        return sum(1 for fn in current if fn is listener or _unwrap(fn) is listener)

    def listeners(self, event: Hashable) -> list[Listener]:
        """A copy of ``event``'s listeners, once-wrappers unwrapped."""
        return [_unwrap(fn) for fn in self._events.get(event, ())]

    def raw_listeners(self, event: Hashable) -> list[Listener]:
        """A copy of ``event``'s listeners including once-wrappers (with ``.listener``)."""
        return [fn.listener if isinstance(fn, _Async) else fn for fn in self._events.get(event, ())]

    def event_names(self) -> list[Hashable]:
        """The events that have listeners, in the order they were first added."""
        return list(self._events)

    def set_max_listeners(self, n: int) -> EventEmitter:
        """Warn when one event gets more than ``n`` listeners (0 means no limit)."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise ERR_INVALID_ARG_TYPE("n", "of type int", type(n).__name__)
        if n < 0:
            raise ERR_OUT_OF_RANGE("n", "a non-negative number", n)
        self._max_listeners = n
        return self

    def get_max_listeners(self) -> int:
        """The current limit (``EventEmitter.default_max_listeners`` unless set)."""
        m = self._max_listeners
        return EventEmitter.default_max_listeners if m is None else m


# ---------------------------------------------------------------------------
# Module-level helpers


def listener_count(emitter: EventEmitter, event: Hashable) -> int:
    """Deprecated in Node but kept: ``emitter.listener_count(event)``."""
    return emitter.listener_count(event)


def get_event_listeners(emitter: EventEmitter, event: Hashable) -> list[Listener]:
    """A copy of the listeners of ``event`` on ``emitter``."""
    return emitter.listeners(event)


def set_max_listeners(n: int, *emitters: EventEmitter) -> None:
    """Set the limit on ``emitters``, or the default for new emitters when none given."""
    if not emitters:
        if n < 0:
            raise ERR_OUT_OF_RANGE("n", "a non-negative number", n)
        EventEmitter.default_max_listeners = n
    for e in emitters:
        e.set_max_listeners(n)


async def once(emitter: EventEmitter, event: Hashable) -> tuple[Any, ...]:
    """Wait for ``event`` and return its arguments as a tuple.

    Raises the error if ``'error'`` is emitted first (unless ``event`` is ``'error'``).
    Cancelling the wait removes the listeners. Mirrors Node's ``events.once()``.
    """
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def on_event(*args: Any) -> None:
        if event != "error":
            emitter.remove_listener("error", on_error)
        if not fut.done():
            fut.set_result(args)

    def on_error(err: Any = None) -> None:
        emitter.remove_listener(event, on_event)
        if not fut.done():
            fut.set_exception(
                err if isinstance(err, BaseException) else ERR_UNHANDLED_ERROR(repr(err))
            )

    emitter.once(event, on_event)
    if event != "error":
        emitter.once("error", on_error)
    try:
        return await fut
    finally:
        if not fut.done() or fut.cancelled():
            emitter.remove_listener(event, on_event)
            emitter.remove_listener("error", on_error)


async def on(
    emitter: EventEmitter, event: Hashable, *, close: Iterable[Hashable] = ()
) -> AsyncIterator[tuple[Any, ...]]:
    """Iterate over ``event``'s arguments as they are emitted.

    The iteration raises on ``'error'`` and stops when one of the ``close`` events is
    emitted (Node's ``close`` option, e.g. ``close=('end',)``). Events emitted while the
    consumer is busy are queued. Leaving the loop removes the listeners.
    """
    loop = asyncio.get_running_loop()
    queue: list[tuple[Any, ...]] = []
    state: dict[str, Any] = {"error": None, "done": False, "waiter": None}

    def wake() -> None:
        w = state["waiter"]
        if w is not None and not w.done():
            w.set_result(None)

    def on_event(*args: Any) -> None:
        queue.append(args)
        wake()

    def on_error(err: Any = None) -> None:
        state["error"] = (
            err if isinstance(err, BaseException) else ERR_UNHANDLED_ERROR(repr(err))
        )
        wake()

    def on_close(*_: Any) -> None:
        state["done"] = True
        wake()

    closers = tuple(close)
    emitter.on(event, on_event)
    if event != "error":
        emitter.on("error", on_error)
    for name in closers:
        emitter.on(name, on_close)
    try:
        while True:
            if queue:
                yield queue.pop(0)
                continue
            if state["error"] is not None:
                raise state["error"]
            if state["done"]:
                return
            state["waiter"] = loop.create_future()
            await state["waiter"]
            state["waiter"] = None
    finally:
        emitter.remove_listener(event, on_event)
        emitter.remove_listener("error", on_error)
        for name in closers:
            emitter.remove_listener(name, on_close)
