"""The loop, the handle registry and the uncaught-exception path.

Theory of operation
-------------------
A Node process stays alive while a *referenced handle* exists: a listening server,
an open socket, a pending timer, an immediate, a connect in flight. nodish keeps the
same books. Every such object owns one :class:`HandleRef`, which it ``open()``\\s when it
becomes active and ``close()``\\s when it is done (for sockets and servers: when their
``'close'`` event has been emitted, so that a ``'close'`` listener that opens something
new keeps the process alive). ``ref()``/``unref()`` move a handle in and out of the
count. :func:`run` runs ``main`` and then waits until the count of referenced active
handles, plus coroutine listeners still running, has dropped to zero.

State is kept per loop (a ``WeakKeyDictionary``), so objects created inside an
already-running asyncio program bind to that loop and need no ``run()``; objects
created at the top level of a script before ``run()`` bind to nodish's default loop,
which ``run()`` then drives.

Uncaught exceptions. A user callback that raises, when called by nodish from the
loop (a transport callback, a timer, a scheduled emit), goes to
:func:`report_uncaught`: ``process.on('uncaughtException')`` listeners if any, else the
traceback is logged on the ``nodish`` logger (printed to stderr when logging is not
configured); then only the object whose callback raised is destroyed. Node would exit
the process instead; nodish keeps serving everyone else, by design.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = [
    "HandleRef",
    "get_loop",
    "new_event_loop",
    "report_uncaught",
    "run",
    "spawn",
]

logger = logging.getLogger("nodish")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new loop: uvloop when importable, plain asyncio otherwise.

    ``NODISH_LOOP=asyncio`` in the environment forces plain asyncio.
    """
    if os.environ.get("NODISH_LOOP", "").lower() != "asyncio":
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
        except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
            pass
    return asyncio.new_event_loop()


_default_loop: asyncio.AbstractEventLoop | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The running loop if there is one, else nodish's default loop (created on demand)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    global _default_loop
    if _default_loop is None or _default_loop.is_closed():
        _default_loop = new_event_loop()
        if threading.current_thread() is threading.main_thread():
            asyncio.set_event_loop(_default_loop)
    return _default_loop


class _LoopState:
    """Books of one loop: referenced active handles and running nodish tasks."""

    __slots__ = ("__weakref__", "handles", "idle_waiter", "loop", "refs", "tasks")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.refs = 0
        self.handles: set[HandleRef] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.idle_waiter: asyncio.Future[None] | None = None

    def busy(self) -> bool:
        return self.refs > 0 or bool(self.tasks)

    def maybe_idle(self) -> None:
        waiter = self.idle_waiter
        if waiter is not None and not self.busy() and not waiter.done():
            waiter.set_result(None)


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)


def loop_state(loop: asyncio.AbstractEventLoop) -> _LoopState:
    st = _states.get(loop)
    if st is None:
        st = _states[loop] = _LoopState(loop)
    return st


class HandleRef:
    """One handle's entry in the books: active or not, referenced or not.

    Owners call :meth:`open` when they start keeping the process alive and
    :meth:`close` when they stop. ``closer`` is called on Ctrl-C to close the owner.
    """

    __slots__ = ("_st", "active", "closer", "refed")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, closer: Callable[[], object] | None = None
    ) -> None:
        self._st = loop_state(loop)
        self.active = False
        self.refed = True
        self.closer = closer

    def open(self) -> None:
        if not self.active:
            self.active = True
            self._st.handles.add(self)
            if self.refed:
                self._st.refs += 1

    def close(self) -> None:
        if self.active:
            self.active = False
            st = self._st
            st.handles.discard(self)
            if self.refed:
                st.refs -= 1
                if st.refs == 0:
                    st.maybe_idle()

    def ref(self) -> None:
        if not self.refed:
            self.refed = True
            if self.active:
                self._st.refs += 1

    def unref(self) -> None:
        if self.refed:
            self.refed = False
            if self.active:
                st = self._st
                st.refs -= 1
                if st.refs == 0:
                    st.maybe_idle()


def spawn(
    coro: Coroutine[Any, Any, Any],
    owner: Any = None,
    on_error: Callable[[BaseException], object] | None = None,
) -> asyncio.Task[Any]:
    """Run ``coro`` as a task that keeps the process alive until it finishes.

    A failure goes to ``on_error`` when given, else to :func:`report_uncaught` with
    ``owner``. Cancellation is never reported.
    """
    loop = get_loop()
    st = loop_state(loop)
    task = loop.create_task(coro)
    st.tasks.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        st.tasks.discard(t)
        if not t.cancelled():
            exc = t.exception()
            if exc is not None:
                if on_error is not None:
                    try:
                        on_error(exc)
                    except BaseException as exc2:  # noqa: BLE001 - reported, not lost
                        report_uncaught(exc2, owner)
                else:
                    report_uncaught(exc, owner)
        if not st.tasks:
            st.maybe_idle()

    task.add_done_callback(done)
    return task


def report_uncaught(exc: BaseException, owner: Any = None) -> None:
    """The single path for exceptions raised by user callbacks run from the loop.

    ``process.on('uncaughtException', fn)`` listeners get ``(exc, 'uncaughtException')``;
    without one the traceback is logged. Then ``owner`` (the socket, request or server
    whose callback raised) is destroyed: its ``_on_uncaught(exc)`` hook if it has one,
    else ``destroy()``.
    """
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    from .process import process

    try:
        if process.listener_count("uncaughtException"):
            process.emit("uncaughtException", exc, "uncaughtException")
        else:
            where = f" in a callback of {type(owner).__name__}" if owner is not None else ""
            logger.error(
                "Uncaught exception%s", where, exc_info=(type(exc), exc, exc.__traceback__)
            )
    except Exception as exc2:  # an uncaughtException listener that raises: log it
        logger.error("uncaughtException listener raised", exc_info=exc2)
    if owner is not None:
        hook = getattr(owner, "_on_uncaught", None)
        try:
            if hook is not None:
                hook(exc)
            else:
                destroy = getattr(owner, "destroy", None)
                if destroy is not None:
                    destroy()
        except Exception as exc3:
            logger.error("destroying %r after an uncaught exception failed", owner, exc_info=exc3)


def guarded(owner: Any, fn: Callable[..., object], *args: Any) -> None:
    """Call ``fn(*args)``; an exception goes to :func:`report_uncaught` with ``owner``."""
    try:
        fn(*args)
    except BaseException as exc:
        report_uncaught(exc, owner)


def call_soon(fn: Callable[..., object], *args: Any, owner: Any = None) -> asyncio.Handle:
    """Schedule ``fn(*args)`` on the loop, guarded by the uncaught-exception path."""
    return get_loop().call_soon(guarded, owner, fn, *args)


async def wait_idle(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Wait until no referenced handle and no nodish task is left on the loop."""
    loop = loop or asyncio.get_running_loop()
    st = loop_state(loop)
    while True:
        if not st.busy():
            # Let callbacks already scheduled run (a 'close' listener may open a new
            # handle) before deciding the loop is idle.
            for _ in range(3):
                await asyncio.sleep(0)
                if st.busy():
                    break
            else:
                return
        waiter = st.idle_waiter = loop.create_future()
        try:
            await waiter
        finally:
            st.idle_waiter = None


def close_all_handles(loop: asyncio.AbstractEventLoop) -> None:
    """Close every active handle of the loop (Ctrl-C)."""
    st = loop_state(loop)
    for h in list(st.handles):
        if h.closer is not None:
            try:
                h.closer()
            except Exception as exc:
                logger.error("closing a handle on exit failed", exc_info=exc)
        h.close()
    for t in list(st.tasks):
        t.cancel()


def run(main: Callable[[], Awaitable[Any] | Any] | None = None) -> None:
    """Run ``main`` like a Node script, then keep the loop alive while handles remain.

    Args:
        main: a function or coroutine function called first (optional: servers made at
            the top level of a script before ``run()`` are served as well).

    Returns when no referenced handle is left (every server closed or ``unref()``\\ed,
    every socket closed, every timer fired or cleared). An exception raised by ``main``
    propagates. Ctrl-C closes every handle and raises ``SystemExit(130)``, unless
    ``process`` has a ``'SIGINT'`` listener, which is then called instead.

    Raises:
        RuntimeError: when called from inside a running loop (there, just ``await``
            your code; ``await nodish.runtime.wait_idle()`` waits like ``run``).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("nodish.run() cannot be called from a running event loop")
    loop = get_loop()
    interrupted = False
    main_task: asyncio.Task[None] | None = None

    async def _main() -> None:
        if main is not None:
            result = main()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        await wait_idle(loop)

    def on_sigint() -> None:
        nonlocal interrupted
        from .process import process

        if process.listener_count("SIGINT"):
            process.emit("SIGINT", "SIGINT")
            return
        interrupted = True
        if main_task is not None:
            main_task.cancel()

    use_signal = threading.current_thread() is threading.main_thread() and sys.platform != "win32"
    if use_signal:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        main_task = loop.create_task(_main())
        try:
            loop.run_until_complete(main_task)
        except asyncio.CancelledError:
            if not interrupted:
                raise
        except KeyboardInterrupt:
            interrupted = True
        if interrupted:
            close_all_handles(loop)
            for _ in range(5):
                loop.run_until_complete(asyncio.sleep(0))
            raise SystemExit(130)
    finally:
        if use_signal and not loop.is_closed():
            loop.remove_signal_handler(signal.SIGINT)
        _close_loop(loop)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _default_loop
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
        if _default_loop is loop:
            _default_loop = None
