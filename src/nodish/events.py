"""EventEmitter with Node's semantics, and the awaitable bridges ``once()`` and ``on()``.

Theory of operation
-------------------
Listeners of an event are kept in a tuple that is replaced, never mutated, when a
listener is added or removed. ``emit`` therefore always iterates a snapshot (Node's
rule: a listener added or removed during an emit does not change that emit), and pays
nothing to take it. ``emit`` has a fast path for one listener and allocates nothing
beyond its arguments tuple.

A listener registered with ``once`` is stored as a :class:`_Once` wrapper whose
``.listener`` is the user's function; ``listeners()`` unwraps, ``raw_listeners()`` does
not, ``remove_listener(fn)`` finds either. Listeners are found by equality, so a bound
method (``self.on_data``, a new object at each access) is removed by the same
expression that added it. A coroutine function is stored as an
:class:`_Async` wrapper that starts the coroutine as a task (:func:`runtime.spawn`); its
failure goes to ``'error'`` when the emitter captures rejections, else to
``process.on('unhandledRejection')`` or the uncaught path. Node runs an async
listener's body synchronously up to its first ``await``; asyncio cannot start a
coroutine from inside a plain call, so the body starts on the next turn of the loop.

Node rules kept here, each with a test: ``'newListener'`` is emitted *before* the
listener is added (so a listener added from a ``'newListener'`` listener for the same
event runs first), ``'removeListener'`` *after* it is removed; ``remove_listener``
removes the most recently added instance; ``remove_all_listeners`` emits
``'removeListener'`` last-added first; ``emit('error')`` with no listener raises the error
(or ``ERR_UNHANDLED_ERROR`` for a non-exception); ``error_monitor`` listeners see every
``'error'`` first; more than ``max_listeners`` listeners on one event warn once per event
name (``MaxListenersExceededWarning``), again after the event has dropped to one
listener or none.

One deliberate difference: ``'removeListener'`` always receives the user's function.
Node passes the once-wrapper instead when the event still had other listeners, which
depends on an internal detail (array or single function).

An exception raised by a listener propagates out of ``emit`` to its caller, as in
Node; when nodish itself emits from the loop, the caller is the runtime's boundary,
which sends the exception down the uncaught path.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import sys
import types
import warnings
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from typing import Any, TypeVar

from . import runtime
from .errors import ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_UNHANDLED_ERROR

__all__ = [
    "EventEmitter",
    "MaxListenersExceededWarning",
    "error_monitor",
    "get_event_listeners",
    "get_max_listeners",
    "listener_count",
    "on",
    "once",
    "set_max_listeners",
]

Listener = Callable[..., Any]
_E = TypeVar("_E", bound="EventEmitter")


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
    """More listeners were added to one event than ``max_listeners`` allows.

    Attributes:
        emitter: the emitter; type: the event name; count: how many listeners it has.
    """

    def __init__(self, message: str, emitter: Any = None, type: Any = None, count: int = 0):
        super().__init__(message)
        self.emitter = emitter
        self.type = type
        self.count = count


class _Once:
    """Wrapper for a listener registered with ``once``: removes itself, then calls."""

    __slots__ = ("emitter", "event", "fired", "fn", "listener")

    def __init__(
        self, emitter: EventEmitter, event: Hashable, listener: Listener, fn: Listener
    ) -> None:
        self.emitter = emitter
        self.event = event
        self.listener = listener  # the user's function (Node's onceWrapper.listener)
        self.fn = fn  # what to call: the listener, or its _Async wrapper
        self.fired = False

    def __call__(self, *args: Any) -> Any:
        if not self.fired:
            self.fired = True
            self.emitter.remove_listener(self.event, self)
            return self.fn(*args)
        return None

    def __repr__(self) -> str:
        return f"<once wrapper of {self.listener!r}>"


class _Async:
    """Wrapper for a coroutine-function listener: each call starts a task."""

    __slots__ = ("emitter", "event", "listener")

    def __init__(self, emitter: EventEmitter, event: Hashable, listener: Listener) -> None:
        self.emitter = emitter
        self.event = event
        self.listener = listener

    def __call__(self, *args: Any) -> None:
        emitter = self.emitter
        on_error: Callable[[BaseException], object] | None = None
        if emitter._capture_rejections:
            event = self.event

            def on_error(exc: BaseException) -> None:
                emitter._rejection(exc, event, *args)

        runtime.spawn(self.listener(*args), owner=emitter, on_error=on_error)


def _unwrap(fn: Any) -> Any:
    return fn.listener if type(fn) is _Once or type(fn) is _Async else fn


_CO_COROUTINE = inspect.CO_COROUTINE
_FunctionType = types.FunctionType
# Python 3.12's inspect.markcoroutinefunction can mark a plain function as async.
_MARKERS = sys.version_info >= (3, 12)


def takes_two(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes two positional arguments: a Node-style callback option
    given as ``fn(value, callback)`` answers through ``callback`` (now or later)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def _is_coroutine_function(fn: Any) -> bool:
    """``inspect.iscoroutinefunction``, with a fast answer for plain functions and
    bound methods (listeners are added per connection)."""
    func = fn.__func__ if type(fn) is types.MethodType else fn
    if type(func) is types.FunctionType:
        if func.__code__.co_flags & _CO_COROUTINE:
            return True
        if not _MARKERS or not hasattr(func, "_is_coroutine_marker"):
            return False
    return inspect.iscoroutinefunction(fn)


def _check_listener(listener: Any) -> None:
    if not callable(listener):
        raise ERR_INVALID_ARG_TYPE("listener", "a function", type(listener).__name__)


def _check_max(n: Any) -> float:
    # Node: ERR_OUT_OF_RANGE for anything but a non-negative number (Infinity allowed).
    if isinstance(n, bool) or not isinstance(n, (int, float)) or math.isnan(n) or n < 0:
        raise ERR_OUT_OF_RANGE("n", "a non-negative number", repr(n))
    return n


class EventEmitter:
    """Node's EventEmitter: named events with ordered listeners.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/events.html. Event names are any
    hashable value, normally Node's strings (``'data'``, ``'close'``). Listeners may be
    plain functions or coroutine functions.

    Subclasses declare their own ``__slots__`` and call ``super().__init__()``.

    Args:
        capture_rejections: when a coroutine listener fails, emit ``'error'`` on this
            emitter instead of taking the uncaught path (Node's ``captureRejections``);
            defaults to the class attribute ``EventEmitter.capture_rejections``.
    """

    __slots__ = ("_capture_rejections", "_events", "_max_listeners", "_warned")

    default_max_listeners: float = 10
    """The limit for emitters that did not call :meth:`set_max_listeners` (Node: 10)."""
    capture_rejections: bool = False
    """The default of the ``capture_rejections`` argument for new emitters."""
    error_monitor: Any = error_monitor
    """Same as :data:`nodish.events.error_monitor`."""

    def __init__(self, *, capture_rejections: bool | None = None) -> None:
        self._events: dict[Hashable, tuple[Listener, ...]] = {}
        self._max_listeners: float | None = None
        self._warned: set[Hashable] | None = None
        self._capture_rejections = (
            EventEmitter.capture_rejections if capture_rejections is None else capture_rejections
        )

    # -- adding ---------------------------------------------------------------

    def _add(self, event: Hashable, listener: Listener, prepend: bool, once: bool) -> None:
        if not callable(listener):
            _check_listener(listener)
        events = self._events
        if "newListener" in events:
            # Node: emitted before the listener is added; listeners added meanwhile
            # for the same event end up before this one.
            self.emit("newListener", event, _unwrap(listener))
        stored: Listener = listener
        if type(listener) is _FunctionType and not (
            listener.__code__.co_flags & _CO_COROUTINE  # type: ignore[attr-defined]
            or (_MARKERS and hasattr(listener, "_is_coroutine_marker"))
        ):
            # a plain function (the usual listener): _is_coroutine_function's first
            # answer, without its call
            if once:
                stored = _Once(self, event, listener, listener)
        else:
            if _is_coroutine_function(listener):
                stored = _Async(self, event, listener)
            if once:
                stored = _Once(self, event, _unwrap(listener), stored)
        current = events.get(event)
        if current is None:
            events[event] = (stored,)
            return
        events[event] = (stored, *current) if prepend else (*current, stored)
        count = len(current) + 1
        limit = self._max_listeners
        if limit is None:
            limit = EventEmitter.default_max_listeners
        if 0 < limit < count:
            self._warn(event, count, limit)

    def _warn(self, event: Hashable, count: int, limit: float) -> None:
        warned = self._warned
        if warned is None:
            warned = self._warned = set()
        if event in warned:
            return
        warned.add(event)
        name = event.name if isinstance(event, _Symbol) else event
        shown = int(limit) if limit != math.inf else limit
        warnings.warn(
            MaxListenersExceededWarning(
                f"Possible EventEmitter memory leak detected. {count} {name} listeners "
                f"added to [{type(self).__name__}]. MaxListeners is {shown}. "
                "Use emitter.set_max_listeners() to increase limit",
                emitter=self,
                type=event,
                count=count,
            ),
            stacklevel=4,
        )

    def on(self: _E, event: Hashable, listener: Listener) -> _E:
        """Add ``listener`` at the end of ``event``'s list (Node's ``on``).

        The same function may be added several times; it is then called as many
        times. Returns the emitter, for chaining.

        Raises:
            ERR_INVALID_ARG_TYPE: ``listener`` is not callable.
        """
        self._add(event, listener, False, False)
        return self

    add_listener = on

    def once(self: _E, event: Hashable, listener: Listener) -> _E:
        """Add a listener called at most once: it is removed, then called."""
        self._add(event, listener, False, True)
        return self

    def prepend_listener(self: _E, event: Hashable, listener: Listener) -> _E:
        """Add ``listener`` at the start of ``event``'s list."""
        self._add(event, listener, True, False)
        return self

    def prepend_once_listener(self: _E, event: Hashable, listener: Listener) -> _E:
        """Add a once-listener at the start of ``event``'s list."""
        self._add(event, listener, True, True)
        return self

    # -- removing -------------------------------------------------------------

    def remove_listener(self: _E, event: Hashable, listener: Listener) -> _E:
        """Remove the most recently added instance of ``listener`` from ``event``.

        ``listener`` may be the function given to ``on``/``once`` or the raw wrapper
        from :meth:`raw_listeners`. Removing a listener that is not there does nothing.
        A listener removed during an emit still runs in that emit (snapshot rule).

        Raises:
            ERR_INVALID_ARG_TYPE: ``listener`` is not callable.
        """
        if not callable(listener):
            _check_listener(listener)
        events = self._events
        current = events.get(event)
        if current is None:
            return self
        for i in range(len(current) - 1, -1, -1):
            fn = current[i]
            # == and not only `is`: ``obj.method`` is a new bound-method object at
            # each access, and ``off('x', self.on_x)`` must find ``on('x', self.on_x)``.
            if fn is listener or _unwrap(fn) == listener:
                if len(current) == 1:
                    del events[event]
                else:
                    events[event] = current[:i] + current[i + 1 :]
                if len(current) <= 2 and self._warned:
                    self._warned.discard(event)
                if "removeListener" in events:
                    self.emit("removeListener", event, _unwrap(fn))
                break
        return self

    off = remove_listener

    def remove_all_listeners(self: _E, event: Hashable | None = None) -> _E:
        """Remove every listener, or every listener of ``event`` (``None``: all events).

        When there are ``'removeListener'`` listeners, the event is emitted for each
        removed listener, last added first, and the ``'removeListener'`` listeners
        themselves are removed last (Node's order).
        """
        events = self._events
        if "removeListener" not in events:
            if event is None:
                events.clear()
                self._warned = None
            else:
                events.pop(event, None)
                if self._warned:
                    self._warned.discard(event)
            return self
        if event is None:
            for name in list(events):
                if name != "removeListener":
                    self.remove_all_listeners(name)
            self.remove_all_listeners("removeListener")
            events.clear()
            self._warned = None
            return self
        for fn in reversed(events.get(event, ())):
            self.remove_listener(event, fn)
        return self

    # -- emitting -------------------------------------------------------------

    def emit(self, event: Hashable, *args: Any) -> bool:
        """Call every listener of ``event`` with ``args``, in order, synchronously.

        Listeners are called from a snapshot of the list taken when ``emit`` starts.

        Returns:
            True if the event had listeners.

        Raises:
            The error itself, for ``'error'`` with no listener (or
            ``ERR_UNHANDLED_ERROR`` when the value is not an exception); whatever a
            listener raises (the remaining listeners are not called, as in Node).
        """
        listeners = self._events.get(event)
        if listeners is None:
            if event == "error":
                return self._unhandled_error(args)
            return False
        if event == "error" and error_monitor in self._events:
            self.emit(error_monitor, *args)
        if len(listeners) == 1:
            listeners[0](*args)
        else:
            for fn in listeners:
                fn(*args)
        return True

    def _unhandled_error(self, args: tuple[Any, ...]) -> bool:
        if error_monitor in self._events:
            self.emit(error_monitor, *args)
        err = args[0] if args else None
        if isinstance(err, BaseException):
            raise err
        raise ERR_UNHANDLED_ERROR(repr(err))

    def _rejection(self, exc: BaseException, event: Hashable, *args: Any) -> None:
        """A coroutine listener of ``event`` failed and rejections are captured.

        Emits ``'error'`` (Node's default ``Symbol.for('nodejs.rejection')`` handling),
        with capture turned off meanwhile, so that a failing coroutine ``'error'``
        listener takes the uncaught path instead of looping. Subclasses may override
        it, as Node's ``emitter[Symbol.for('nodejs.rejection')]``.
        """
        prev = self._capture_rejections
        self._capture_rejections = False
        try:
            self.emit("error", exc)
        finally:
            self._capture_rejections = prev

    # -- introspection --------------------------------------------------------

    def listener_count(self, event: Hashable, listener: Listener | None = None) -> int:
        """How many listeners ``event`` has (only those that are ``listener``, if given)."""
        current = self._events.get(event, ())
        if listener is None:
            return len(current)
        return sum(1 for fn in current if fn is listener or _unwrap(fn) == listener)

    def listeners(self, event: Hashable) -> list[Listener]:
        """A copy of ``event``'s listeners, once-wrappers unwrapped."""
        return [_unwrap(fn) for fn in self._events.get(event, ())]

    def raw_listeners(self, event: Hashable) -> list[Listener]:
        """A copy of ``event``'s listeners including once-wrappers (with ``.listener``).

        Calling a once-wrapper removes it and calls the listener, as in Node.
        """
        return [fn.listener if type(fn) is _Async else fn for fn in self._events.get(event, ())]

    def event_names(self) -> list[Hashable]:
        """The events that have listeners, in the order they were first added."""
        return list(self._events)

    def set_max_listeners(self: _E, n: float) -> _E:
        """Warn when one event gets more than ``n`` listeners (0 or ``math.inf``: never).

        Raises:
            ERR_OUT_OF_RANGE: ``n`` is not a non-negative number (Node's check).
        """
        self._max_listeners = _check_max(n)
        return self

    def get_max_listeners(self) -> float:
        """The current limit (``EventEmitter.default_max_listeners`` unless set)."""
        m = self._max_listeners
        return EventEmitter.default_max_listeners if m is None else m


# ---------------------------------------------------------------------------
# Module-level helpers (Node's static functions of the events module)


def listener_count(emitter: EventEmitter, event: Hashable) -> int:
    """Deprecated in Node but kept: ``emitter.listener_count(event)``."""
    return emitter.listener_count(event)


def get_event_listeners(emitter: EventEmitter, event: Hashable) -> list[Listener]:
    """A copy of the listeners of ``event`` on ``emitter``."""
    return emitter.listeners(event)


def get_max_listeners(emitter: EventEmitter) -> float:
    """``emitter.get_max_listeners()`` (Node's ``events.getMaxListeners``)."""
    return emitter.get_max_listeners()


def set_max_listeners(n: float, *emitters: EventEmitter) -> None:
    """Set the limit on ``emitters``, or the default for every emitter when none given.

    Raises:
        ERR_OUT_OF_RANGE: ``n`` is not a non-negative number.
    """
    limit = _check_max(n)
    if not emitters:
        EventEmitter.default_max_listeners = limit
    for e in emitters:
        e.set_max_listeners(limit)


def _drop_bound_listeners(emitter: EventEmitter, owner: object) -> None:
    """Quietly take every listener that is a bound method of ``owner`` off ``emitter``
    (no ``'removeListener'``): for an object that listens to an emitter it holds and
    dies with (http's connection on its socket), so that the two are freed by reference
    counting once both are done, not left in a cycle for the cycle collector."""
    events = emitter._events
    for event, fns in list(events.items()):
        if len(fns) == 1:
            if getattr(_unwrap(fns[0]), "__self__", None) is owner:
                del events[event]
            continue
        kept = tuple(fn for fn in fns if getattr(_unwrap(fn), "__self__", None) is not owner)
        if len(kept) != len(fns):
            if kept:
                events[event] = kept
            else:
                del events[event]


def _as_error(err: Any) -> BaseException:
    return err if isinstance(err, BaseException) else ERR_UNHANDLED_ERROR(repr(err))


def once(emitter: EventEmitter, event: Hashable) -> asyncio.Future[tuple[Any, ...]]:
    """A future of ``event``'s arguments as a tuple (Node's ``events.once``).

    The listeners are added at once, when ``once()`` is called (as Node creates its
    promise), so an event emitted right after the call is not missed even if the
    future is awaited later.

    Raises (when awaited):
        The error, if ``'error'`` is emitted first (unless ``event`` is ``'error'``,
        which then resolves with the error in the tuple).

    Cancelling the future (``asyncio.wait_for``, ``fut.cancel()``) removes the
    listeners: Python's cancellation takes the place of Node's ``signal`` option.
    """
    fut = _OnceFuture(loop=runtime.get_loop())
    waiter = _OnceWaiter(emitter, event, fut)
    fut.cleanup = waiter.cleanup
    emitter.once(event, waiter.on_event)
    if waiter.watch_error:
        emitter.once("error", waiter.on_error)
    return fut


class _OnceWaiter:
    """The listeners of one :func:`once` call. Methods of one object rather than
    closures that name each other (a reference cycle): once the future is settled
    nothing refers to the emitter any more, so reference counting frees it."""

    __slots__ = ("emitter", "event", "fut", "watch_error")

    def __init__(self, emitter: EventEmitter, event: Hashable, fut: _OnceFuture) -> None:
        self.emitter = emitter
        self.event = event
        self.fut = fut
        self.watch_error = event != "error"

    def on_event(self, *args: Any) -> None:
        fut = self.fut
        fut.cleanup = None
        if self.watch_error:
            self.emitter.remove_listener("error", self.on_error)
        if not fut.done():
            fut.set_result(args)

    def on_error(self, err: Any = None) -> None:
        fut = self.fut
        fut.cleanup = None
        self.emitter.remove_listener(self.event, self.on_event)
        if not fut.done():
            fut.set_exception(_as_error(err))

    def cleanup(self) -> None:
        self.fut.cleanup = None
        self.emitter.remove_listener(self.event, self.on_event)
        if self.watch_error:
            self.emitter.remove_listener("error", self.on_error)


class _OnceFuture(asyncio.Future[tuple[Any, ...]]):
    """The future of :func:`once`: cancelling it removes its listeners at once."""

    cleanup: Callable[[], None] | None = None

    def cancel(self, msg: Any = None) -> bool:
        if self.cleanup is not None and not self.done():
            self.cleanup()
        return super().cancel(msg)


class _OnSink:
    """The listening half of :func:`on`: queues events; the emitter holds it."""

    __slots__ = (
        "closers",
        "done",
        "emitter",
        "error",
        "event",
        "high",
        "low",
        "paused",
        "queue",
        "waiter",
    )

    def __init__(
        self,
        emitter: EventEmitter,
        event: Hashable,
        closers: tuple[Hashable, ...],
        high: float,
        low: float,
    ) -> None:
        self.emitter = emitter
        self.event = event
        self.closers = closers
        self.queue: deque[tuple[Any, ...]] = deque()
        self.error: BaseException | None = None
        self.done = False
        self.waiter: asyncio.Future[None] | None = None
        self.high = high
        self.low = low
        self.paused = False
        emitter.on(event, self.push)
        if event != "error":
            emitter.on("error", self.fail)
        for name in closers:
            emitter.on(name, self.close)

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def push(self, *args: Any) -> None:
        self.queue.append(args)
        if not self.paused and len(self.queue) > self.high:
            pause = getattr(self.emitter, "pause", None)
            if pause is not None:
                self.paused = True
                pause()
        self.wake()

    def fail(self, err: Any = None) -> None:
        # Node: events queued before the error are still delivered, nothing after it.
        self.error = _as_error(err)
        self.detach()
        self.wake()

    def close(self, *_: Any) -> None:
        self.detach()
        self.wake()

    def detach(self) -> None:
        if self.done:
            return
        self.done = True
        emitter = self.emitter
        emitter.remove_listener(self.event, self.push)
        if self.event != "error":
            emitter.remove_listener("error", self.fail)
        for name in self.closers:
            emitter.remove_listener(name, self.close)


class _OnIterator(AsyncIterator[tuple[Any, ...]]):
    """What :func:`on` returns. Dropping it (``break``) removes the listeners."""

    __slots__ = ("__weakref__", "_sink")

    def __init__(self, sink: _OnSink) -> None:
        self._sink = sink
        # ``break`` out of ``async for`` calls nothing on the iterator; when it is
        # dropped, stop listening (the emitter holds the sink, never the iterator).
        weakref.finalize(self, sink.detach)

    def __aiter__(self) -> _OnIterator:
        return self

    async def __anext__(self) -> tuple[Any, ...]:
        sink = self._sink
        while True:
            queue = sink.queue
            if queue:
                args = queue.popleft()
                if sink.paused and len(queue) < sink.low:
                    sink.paused = False
                    resume = getattr(sink.emitter, "resume", None)
                    if resume is not None:
                        resume()
                return args
            if sink.error is not None:
                err, sink.error = sink.error, None
                raise err
            if sink.done:
                raise StopAsyncIteration
            waiter = sink.waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                sink.waiter = None

    async def aclose(self) -> None:
        """Stop listening (Node's ``iterator.return()``)."""
        self._sink.detach()
        self._sink.queue.clear()


def on(
    emitter: EventEmitter,
    event: Hashable,
    *,
    close: Iterable[Hashable] = (),
    high_water_mark: float = math.inf,
    low_water_mark: float = 1,
) -> AsyncIterator[tuple[Any, ...]]:
    """Iterate over ``event``'s arguments as they are emitted (Node's ``events.on``).

    ``async for (chunk,) in events.on(sock, 'data', close=('end',))``.

    Events emitted while the consumer is busy are queued. The iteration raises the
    error on ``'error'`` (after the events queued before it), and stops when one of
    the ``close`` events is emitted. Leaving the loop (``break``, an exception, or
    ``aclose()``) removes the listeners.

    Args:
        emitter: the emitter to listen to.
        event: the event name.
        close: events that end the iteration (Node's ``close`` option).
        high_water_mark: when more events than this are queued, ``emitter.pause()`` is
            called (for emitters that have it, such as streams).
        low_water_mark: ``emitter.resume()`` is called once fewer are queued.
    """
    return _OnIterator(_OnSink(emitter, event, tuple(close), high_water_mark, low_water_mark))
