"""The loop, the handle registry, the tick queue and the uncaught-exception path.

Theory of operation
-------------------
A Node process stays alive while a *referenced handle* exists: a listening server,
an open socket, a pending timer, an immediate, a connect in flight. nodish keeps the
same books, per loop, in a :class:`_LoopState`:

* ``refs``: how many active, referenced :class:`HandleRef` there are. Every such object
  owns one ``HandleRef``, which it ``open()``\\s when it becomes active and
  ``close()``\\s when it is done (for sockets and servers: when their ``'close'`` event
  has been emitted, so that a ``'close'`` listener that opens something new keeps the
  process alive). ``ref()``/``unref()`` move a handle in and out of the count.
* ``tasks``: coroutines started by :func:`spawn` (coroutine listeners) still running.
* ``ticks``: the ``next_tick`` queue, and ``soon``: callbacks scheduled by
  :func:`call_soon` that have not run yet. Neither is a handle in Node, but both run
  before Node decides the loop is empty, so they count here too.

:func:`wait_idle` returns when all of these are empty, and :func:`run` is ``main``
followed by ``wait_idle`` (with Node's ``'beforeExit'`` and ``'exit'`` events around it).

State is kept per loop (a ``WeakKeyDictionary``; the state never holds its loop, so a
closed loop can be collected), so objects created inside an already-running asyncio
program bind to that loop and need no ``run()``; objects created at the top level of a
script before ``run()`` bind to nodish's default loop (one per thread), which ``run()``
then drives.

The tick queue. Node runs ``process.nextTick`` callbacks as soon as the current
callback returns, before anything else. asyncio has a single FIFO ready queue and no
way to run something ahead of it, so nodish gets as close as the loop allows: the tick
queue is drained right after each callback that nodish itself runs from the loop
(timers, immediates, :func:`call_soon` callbacks), and otherwise by one drain scheduled
with ``loop.call_soon`` when the first tick is queued. Immediates are queued behind the
ticks (an immediate batch drains the tick queue first), so ``next_tick`` callbacks
always run before ``set_immediate`` callbacks, as in Node.

Uncaught exceptions. A user callback that raises, when called by nodish from the
loop (a transport callback, a timer, a scheduled emit), goes to
:func:`report_uncaught`: ``process.on('uncaughtException')`` listeners if any, else the
traceback is logged on the ``nodish`` logger (printed to stderr when logging is not
configured); then only the object whose callback raised is destroyed. Node would exit
the process instead; nodish keeps serving everyone else, by design, but sets
``process.exit_code`` to 1 (when nobody listens for ``'uncaughtException'``) so that
``run()`` ends with exit status 1, as Node's would.
``KeyboardInterrupt`` and ``SystemExit`` are never reported: they propagate.

Threads. A loop and everything bound to it belong to the thread that runs the loop,
as in Node. Calls that act on a loop (writing, ending, destroying, listening, closing,
sending) check :func:`check_thread` first and raise ``ERR_INVALID_THREAD``, naming
both threads, when made from another thread while the loop runs: such a call would
otherwise touch the loop without waking it, and hang silently.
:func:`call_from_thread` is the way in from another thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import os
import signal
import sys
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = [
    "HandleRef",
    "call_from_thread",
    "call_soon",
    "check_thread",
    "current_loop",
    "get_loop",
    "guarded",
    "loop_state",
    "new_event_loop",
    "next_tick",
    "on_loop",
    "report_uncaught",
    "run",
    "spawn",
    "wait_idle",
]

logger = logging.getLogger("nodish")

# How long run() waits, after Ctrl-C, for closed handles to finish closing ('close'
# listeners, callbacks already queued) before it gives up and exits anyway.
SHUTDOWN_GRACE = 1.0
# How long a Ctrl-C waits for the loop to take it; past that the loop is blocked by a
# callback, and KeyboardInterrupt is raised in it.
CTRL_C_GRACE = 0.3


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


class _Local(threading.local):
    loop: asyncio.AbstractEventLoop | None = None


_local = _Local()


def get_loop() -> asyncio.AbstractEventLoop:
    """The running loop if there is one, else nodish's default loop for this thread.

    The default loop is created on first use and is the one :func:`run` drives, so
    servers and timers made at the top level of a script, before ``run()``, are served
    by it.
    """
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    loop = _local.loop
    if loop is None or loop.is_closed():
        loop = _local.loop = new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


class _LoopState:
    """Books of one loop: referenced handles, nodish tasks, ticks and soon-callbacks.

    Attributes:
        refs: active referenced handles.
        handles: every active handle (referenced or not), for Ctrl-C.
        tasks: running :func:`spawn` tasks.
        ticks: queued ``next_tick`` callbacks as ``(fn, args, owner)``.
        immediates: queued ``set_immediate`` objects (run by the timers module).
        soon, soon_ran: :func:`call_soon` callbacks pending, and run so far.
    """

    __slots__ = (
        "__weakref__",
        "driver",
        "handles",
        "idle_waiter",
        "immediates",
        "immediates_scheduled",
        "refs",
        "soon",
        "soon_ran",
        "tasks",
        "thread",
        "tick_scheduled",
        "ticks",
    )

    def __init__(self) -> None:
        self.refs = 0
        self.handles: set[HandleRef] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.idle_waiter: asyncio.Future[None] | None = None
        self.ticks: deque[tuple[Callable[..., object], tuple[Any, ...], Any]] = deque()
        self.tick_scheduled = False
        self.immediates: deque[Any] = deque()
        self.immediates_scheduled = False
        self.soon = 0
        self.soon_ran = 0
        # the thread that runs (or will run) the loop, for error messages
        self.thread: threading.Thread = threading.current_thread()
        # the ident of the thread inside run() driving this loop, else None: there,
        # "is this the running loop?" needs no asyncio._get_running_loop() (which costs
        # a getpid() system call per lookup on Python 3.11)
        self.driver: int | None = None

    def holding(self) -> bool:
        """Whether a referenced handle or a nodish task keeps the loop alive."""
        return self.refs > 0 or bool(self.tasks)

    def busy(self) -> bool:
        """Whether anything at all is left to do (handles, tasks, ticks, callbacks)."""
        return self.refs > 0 or bool(self.tasks) or bool(self.ticks) or self.soon > 0

    def maybe_idle(self) -> None:
        """Wake :func:`wait_idle` when no handle or task holds the loop any more."""
        waiter = self.idle_waiter
        if waiter is not None and not self.holding() and not waiter.done():
            waiter.set_result(None)

    def run_ticks(self) -> None:
        """Run every queued ``next_tick`` callback, including ones queued meanwhile."""
        ticks = self.ticks
        while ticks:
            fn, args, owner = ticks.popleft()
            try:
                fn(*args)
            except BaseException as exc:
                report_uncaught(exc, owner)

    def scheduled_ticks(self) -> None:
        self.tick_scheduled = False
        self.run_ticks()


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)
# The last (loop, state) looked up: nearly every lookup is for the same loop, and a
# WeakKeyDictionary lookup costs a weakref per call.
_last: tuple[asyncio.AbstractEventLoop | None, _LoopState | None] = (None, None)


def loop_state(loop: asyncio.AbstractEventLoop) -> _LoopState:
    """The books of ``loop`` (created on first use)."""
    global _last
    last_loop, st = _last
    if last_loop is loop and st is not None:
        return st
    st = _states.get(loop)
    if st is None:
        st = _states[loop] = _LoopState()
    _last = (loop, st)
    return st


class HandleRef:
    """One handle's entry in the books: active or not, referenced or not.

    Owners call :meth:`open` when they start keeping the process alive and
    :meth:`close` when they stop; both may be called any number of times. ``closer`` is
    called on Ctrl-C to close the owner.

    Args:
        loop: the loop whose books the handle is kept in.
        closer: closes the owner (``server.close``, ``socket.destroy``).
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
        """Mark the handle active: it keeps the loop alive while referenced."""
        if not self.active:
            self.active = True
            self._st.handles.add(self)
            if self.refed:
                self._st.refs += 1

    def close(self) -> None:
        """Mark the handle done."""
        if self.active:
            self.active = False
            st = self._st
            st.handles.discard(self)
            if self.refed:
                st.refs -= 1
                if st.refs == 0:
                    st.maybe_idle()

    def ref(self) -> None:
        """Count the handle again (the default)."""
        if not self.refed:
            self.refed = True
            if self.active:
                self._st.refs += 1

    def unref(self) -> None:
        """Stop counting the handle: the loop may end while it is still active."""
        if self.refed:
            self.refed = False
            if self.active:
                st = self._st
                st.refs -= 1
                if st.refs == 0:
                    st.maybe_idle()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<HandleRef {state}{'' if self.refed else ' unref'} closer={self.closer!r}>"


_get_running_loop = asyncio._get_running_loop  # the C accelerated lookup, no raise
_get_ident = threading.get_ident


def current_loop() -> asyncio.AbstractEventLoop:
    """:func:`get_loop`, cheaper in the thread where :func:`run` drives the loop."""
    last_loop, st = _last
    if st is not None and st.driver == _get_ident():
        assert last_loop is not None
        return last_loop
    return get_loop()


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs in ``loop``'s thread with ``loop`` running (or driven by
    :func:`run`); hot paths call :func:`check_thread` only when this is False."""
    last_loop, st = _last
    if last_loop is loop and st is not None and st.driver == _get_ident():
        return True
    return _get_running_loop() is loop


def check_thread(loop: asyncio.AbstractEventLoop, what: str) -> None:
    """Raise ``ERR_INVALID_THREAD`` when ``loop`` is running in another thread.

    Cheap when the caller is on the loop (one C call); hot paths may test
    ``asyncio._get_running_loop() is not loop`` themselves and call this only then.

    Args:
        loop: the loop the object belongs to.
        what: the call, for the message (``'net.Socket.write()'``).
    """
    if _get_running_loop() is loop or not loop.is_running():
        return
    from .errors import ERR_INVALID_THREAD

    here = threading.current_thread()
    owner = loop_state(loop).thread
    raise ERR_INVALID_THREAD(
        message=(
            f"{what} was called from thread {here.name!r}, but the object belongs to the "
            f"event loop running in thread {owner.name!r}; nodish objects are not "
            "thread-safe. From another thread, hand the call to the loop: "
            "nodish.call_from_thread(fn, *args)"
        )
    )


_run_loops: list[asyncio.AbstractEventLoop] = []  # loops driven by run() right now


def call_from_thread(
    fn: Callable[..., Any], *args: Any, loop: asyncio.AbstractEventLoop | None = None
) -> concurrent.futures.Future[Any]:
    """Run ``fn(*args)`` on a nodish loop from another thread; thread-safe.

    Returns a :class:`concurrent.futures.Future` of the result (of the coroutine's
    result when ``fn`` is a coroutine function); ``.result(timeout)`` waits for it. Do
    not wait on it from the loop's own thread: the loop could not run ``fn``.

    Objects created in another thread belong to that thread's own default loop, which
    only a ``nodish.run()`` in that thread drives: create them on the loop (through
    this function) instead.

    Args:
        fn: what to call, e.g. ``sock.write`` or ``server.close``.
        *args: its arguments.
        loop: the loop; by default the loop of ``fn``'s object (``sock.write`` →
            ``sock``'s loop), else the loop :func:`run` is driving.

    Raises:
        RuntimeError: no loop given and none can be found, or the loop is closed
            (``run()`` has already returned).

    Example::

        def worker():                     # in a thread of your own
            for line in sys.stdin:
                nodish.call_from_thread(sock.write, line)
            nodish.call_from_thread(sock.end).result()
    """
    if loop is None:
        owner_loop = getattr(getattr(fn, "__self__", None), "_loop", None)
        if isinstance(owner_loop, asyncio.AbstractEventLoop):
            loop = owner_loop
        elif len(_run_loops) == 1:
            loop = _run_loops[0]
        else:
            raise RuntimeError(
                "call_from_thread(): no nodish loop to run on"
                + (" (several are running)" if _run_loops else " (nodish.run() is not running)")
                + "; pass loop="
            )
    fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def settle(task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            fut.cancel()
        elif task.exception() is not None:
            fut.set_exception(task.exception())
        else:
            fut.set_result(task.result())

    def runner() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
            # only coroutines are awaited: nodish objects returned by fn (a server from
            # close(), a socket from end()) are awaitable too, and are results
            if inspect.iscoroutine(result):
                spawn(result, on_error=lambda exc: None).add_done_callback(settle)
                return
            fut.set_result(result)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            fut.set_exception(exc)

    loop.call_soon_threadsafe(runner)
    return fut


def spawn(
    coro: Coroutine[Any, Any, Any],
    owner: Any = None,
    on_error: Callable[[BaseException], object] | None = None,
) -> asyncio.Task[Any]:
    """Run ``coro`` as a task that keeps the process alive until it finishes.

    Args:
        coro: the coroutine (a coroutine listener's call, typically).
        owner: the object destroyed if the coroutine fails and nothing handles it.
        on_error: called with the exception instead of the uncaught path (an
            emitter's ``'error'`` when it captures rejections).

    A failure without ``on_error`` is a rejection nobody handled: it goes to
    ``process.on('unhandledRejection', fn(exc, task))`` listeners when there are any,
    else to :func:`report_uncaught` with origin ``'unhandledRejection'``, as Node does.
    Cancellation is never reported.
    """
    loop = get_loop()
    st = loop_state(loop)
    task = loop.create_task(coro)
    st.tasks.add(task)

    def done(t: asyncio.Task[Any]) -> None:
        st.tasks.discard(t)
        try:
            if not t.cancelled():
                exc = t.exception()
                if exc is not None:
                    if on_error is not None:
                        try:
                            on_error(exc)
                        except BaseException as exc2:
                            report_uncaught(exc2, owner)
                    else:
                        _unhandled_rejection(exc, t, owner)
        finally:
            if not st.tasks:
                st.maybe_idle()

    task.add_done_callback(done)
    return task


def _unhandled_rejection(exc: BaseException, task: asyncio.Task[Any], owner: Any) -> None:
    from .process import process

    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        # asyncio's task raised it out of the loop already, where run() handles it;
        # raised again here (a done callback) it broke off run()'s shutdown half-way
        return
    if owner is not process and process.listener_count("unhandledRejection"):
        try:
            process.emit("unhandledRejection", exc, task)
        except Exception as exc2:
            report_uncaught(exc2, None)
        _destroy_owner(owner, exc)
    else:
        report_uncaught(exc, owner, origin="unhandledRejection")


def report_uncaught(
    exc: BaseException, owner: Any = None, *, origin: str = "uncaughtException"
) -> None:
    """The single path for exceptions raised by user callbacks run from the loop.

    ``process.on('uncaughtException', fn)`` listeners get ``(exc, origin)``; without
    one the traceback is logged on the ``nodish`` logger. Then ``owner`` (the socket,
    request or server whose callback raised) is destroyed: its ``_on_uncaught(exc)``
    hook if it has one, else ``destroy()``. The owner is destroyed in both cases: its
    callback stopped half-way, so its state can no longer be trusted.

    Args:
        exc: the exception.
        owner: the object whose callback raised, or None.
        origin: ``'uncaughtException'``, or ``'unhandledRejection'`` for a coroutine.

    Raises:
        KeyboardInterrupt, SystemExit: re-raised at once, never reported.
    """
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    from .process import process

    if owner is process:
        # a coroutine listener of process itself failed (an async 'uncaughtException'
        # listener, say): telling process again could loop forever, as Node's crash
        # on a throwing handler avoids
        logger.error("a process listener failed", exc_info=(type(exc), exc, exc.__traceback__))
        return
    try:
        if process.listener_count("uncaughtException"):
            process.emit("uncaughtException", exc, origin)
        else:
            where = f" in a callback of {type(owner).__name__}" if owner is not None else ""
            logger.error(
                "Uncaught exception%s", where, exc_info=(type(exc), exc, exc.__traceback__)
            )
            # Node would exit with 1 here; nodish keeps serving, but the exit status
            # still tells scripts and CI that something failed.
            if not process.exit_code:
                process.exit_code = 1
    except Exception as exc2:  # an uncaughtException listener that raises: log it
        logger.error("uncaughtException listener raised", exc_info=exc2)
    _destroy_owner(owner, exc)


def _destroy_owner(owner: Any, exc: BaseException) -> None:
    if owner is None:
        return
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


def _run_soon(st: _LoopState, owner: Any, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
    st.soon -= 1
    st.soon_ran += 1
    try:
        fn(*args)
    except BaseException as exc:
        report_uncaught(exc, owner)
    if st.ticks:
        st.run_ticks()


def call_soon(fn: Callable[..., object], *args: Any, owner: Any = None) -> asyncio.Handle:
    """Schedule ``fn(*args)`` on the loop, guarded by the uncaught-exception path.

    The callback keeps :func:`run` alive until it has run (or its handle is
    cancelled), and queued ``next_tick`` callbacks run right after it.
    """
    loop = get_loop()
    st = loop_state(loop)
    st.soon += 1
    return loop.call_soon(_run_soon, st, owner, fn, args)


def next_tick(fn: Callable[..., object], *args: Any, owner: Any = None) -> None:
    """Queue ``fn(*args)`` on the tick queue (Node's ``process.nextTick``).

    Ticks run in order, after the current callback returns and before immediates;
    see the module notes for how close to Node asyncio allows this to be.
    """
    # Hot path (several ticks per connection): the last state looked up, when run()
    # drives its loop in this thread, without the get_loop()/loop_state() calls.
    loop, st = _last
    if loop is None or st is None or st.driver != _get_ident():
        loop = _get_running_loop() or get_loop()
        st = loop_state(loop)
    st.ticks.append((fn, args, owner))
    if not st.tick_scheduled:
        st.tick_scheduled = True
        loop.call_soon(st.scheduled_ticks)


async def wait_idle(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Wait until no referenced handle, nodish task, tick or callback is left.

    This is what :func:`run` does after ``main``; inside an asyncio program that does
    not use ``run()``, ``await wait_idle()`` waits the same way. Do not await it from a
    coroutine listener: that listener's own task keeps the loop busy.
    """
    loop = loop or asyncio.get_running_loop()
    st = loop_state(loop)
    settled = 0
    while True:
        if st.holding():
            settled = 0
            waiter = st.idle_waiter
            if waiter is None or waiter.done():
                waiter = st.idle_waiter = loop.create_future()
            # shared by every waiter; shielded so that one cancelled waiter does not
            # cancel the others
            await asyncio.shield(waiter)
            continue
        if st.ticks or st.soon:
            settled = 0
            pending, ran = st.soon, st.soon_ran
            await asyncio.sleep(0)
            # The loop is FIFO: every callback queued before this task yielded has
            # run by now, unless its handle was cancelled. Those never run; forget them.
            lost = pending - (st.soon_ran - ran)
            if lost > 0:
                st.soon -= lost
            continue
        # Nothing of ours is left. Give the loop two more turns for callbacks it
        # queued itself (a transport's connection_lost, a future's done callbacks),
        # which may open a new handle.
        if settled >= 2:
            return
        settled += 1
        await asyncio.sleep(0)


def close_all_handles(loop: asyncio.AbstractEventLoop) -> None:
    """Close every active handle of the loop and cancel nodish tasks (Ctrl-C)."""
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


_exit_tasks: list[asyncio.Task[Any]] = []
"""Tasks a ``process.exit()`` went through: the SystemExit stops ``run()``, which marks
their exception as seen, or asyncio would log "Task exception was never retrieved"."""


def exiting_from_task() -> None:
    """Note the running task (if any) that a ``SystemExit`` is about to go through."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop
        return
    if task is not None:
        _exit_tasks.append(task)


def _forget_exit_tasks() -> None:
    while _exit_tasks:
        task = _exit_tasks.pop()
        if task.done() and not task.cancelled():
            task.exception()


def run(main: Callable[[], Awaitable[Any] | Any] | None = None) -> None:
    """Run ``main`` like a Node script, then keep the loop alive while handles remain.

    Args:
        main: a function or coroutine function called first (optional: servers made at
            the top level of a script before ``run()`` are served as well).

    Returns when no referenced handle is left (every server closed or ``unref()``\\ed,
    every socket closed, every timer fired or cleared). Then ``process`` emits
    ``'beforeExit'`` (its listeners may start new work, which is then waited for) and
    ``'exit'``, as Node does; then, when ``process.exit_code`` is not 0, it raises
    ``SystemExit(process.exit_code)``, so the script exits with it as a Node script
    would (an uncaught exception that was only logged sets it to 1). An exception
    raised by ``main`` propagates. Ctrl-C closes
    every handle and raises ``SystemExit(130)``, unless ``process`` has a ``'SIGINT'``
    listener, which is then called instead. When a callback blocks the loop, Ctrl-C
    raises ``KeyboardInterrupt`` inside that callback (a second Ctrl-C does so at
    once), then every handle is closed the same way.

    Raises:
        RuntimeError: when called from inside a running loop (there, just ``await``
            your code; ``await nodish.runtime.wait_idle()`` waits like ``run``).
        SystemExit: 130 after Ctrl-C; ``process.exit_code`` when it is not 0.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("nodish.run() cannot be called from a running event loop")
    from .process import process

    loop = get_loop()
    state = loop_state(loop)
    state.thread = threading.current_thread()
    interrupted = False
    main_task: asyncio.Task[None] | None = None

    async def _main() -> None:
        if main is not None:
            result = main()
            if inspect.isawaitable(result):
                await result
        while True:
            await wait_idle(loop)
            if not process.listener_count("beforeExit"):
                return
            guarded(None, process.emit, "beforeExit", process.exit_code)
            # Node asks whether the loop is alive right after the emit: work the listeners
            # started counts even when it is already done once the turn below has run (a
            # short timer on a slow machine), and then 'beforeExit' comes again.
            alive = loop_state(loop).busy()
            await asyncio.sleep(0)
            if not alive and not loop_state(loop).busy():
                return

    def on_sigint() -> None:
        nonlocal interrupted
        if process.listener_count("SIGINT"):
            guarded(None, process.emit, "SIGINT", "SIGINT")
            return
        if interrupted:  # a second Ctrl-C while closing: stop waiting
            loop.stop()
            return
        interrupted = True
        if main_task is not None:
            main_task.cancel()

    ctrl_c: _CtrlC | None = None
    if threading.current_thread() is threading.main_thread() and sys.platform != "win32":
        ctrl_c = _CtrlC(loop, on_sigint, lambda: bool(process.listener_count("SIGINT")))
    _run_loops.append(loop)
    try:
        state.driver = threading.get_ident()
        main_task = loop.create_task(_main())
        try:
            loop.run_until_complete(main_task)
        except asyncio.CancelledError:
            if not interrupted:
                raise
        except KeyboardInterrupt:
            interrupted = True
            if ctrl_c is not None:
                ctrl_c.forget_task()
        except SystemExit:
            _forget_exit_tasks()
            raise
        if interrupted:
            process.exit_code = 130
            close_all_handles(loop)
            try:
                loop.run_until_complete(asyncio.wait_for(wait_idle(loop), SHUTDOWN_GRACE))
            except (asyncio.TimeoutError, RuntimeError, KeyboardInterrupt):
                pass
        guarded(None, process.emit, "exit", process.exit_code)
        if interrupted:
            raise SystemExit(130)
        if process.exit_code:
            raise SystemExit(process.exit_code)
    finally:
        state.driver = None
        _run_loops.remove(loop)
        if ctrl_c is not None:
            ctrl_c.uninstall()
        _close_loop(loop)


class _CtrlC:
    """SIGINT under :func:`run`: handled on the loop when the loop can take it, raised
    as ``KeyboardInterrupt`` in the running code when it cannot.

    A Python-level handler (``signal.signal``), not ``loop.add_signal_handler``: the
    latter runs on the loop, so a callback that never returns made Ctrl-C useless. Like
    ``asyncio.run``: the first Ctrl-C is handed to the loop (``on_loop``: close every
    handle, or the ``'SIGINT'`` listeners); a second one while the first still waits
    for the loop raises ``KeyboardInterrupt`` where the main thread is. Without a
    ``'SIGINT'`` listener a watchdog does the second one itself when the loop has not
    taken the first within :data:`CTRL_C_GRACE` seconds: the loop is blocked by a
    callback, which gets the ``KeyboardInterrupt`` (and a blocking call in it is
    interrupted: the signal is sent to the main thread).
    """

    __slots__ = ("has_listener", "loop", "main", "on_loop", "pending", "previous", "task")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_loop: Callable[[], None],
        has_listener: Callable[[], bool],
    ) -> None:
        self.loop = loop
        self.on_loop = on_loop
        self.has_listener = has_listener
        self.pending = False  # a Ctrl-C waits for the loop to take it
        self.task: asyncio.Task[Any] | None = None  # the task a KeyboardInterrupt hit
        self.main = threading.get_ident()
        self.previous = signal.signal(signal.SIGINT, self.handler)

    def uninstall(self) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def forget_task(self) -> None:
        """Mark the exception of the task the KeyboardInterrupt went through as seen:
        it went on to stop the loop, asyncio need not report it again."""
        task, self.task = self.task, None
        if task is not None and task.done() and not task.cancelled():
            task.exception()

    def handler(self, signum: int, frame: Any) -> None:
        if self.pending:
            self.pending = False
            if not self.loop.is_closed():
                self.task = asyncio.current_task(self.loop)
            raise KeyboardInterrupt
        self.pending = True
        if self.loop.is_closed():
            raise KeyboardInterrupt
        self.loop.call_soon_threadsafe(self.taken)
        if not self.has_listener():
            watchdog = threading.Timer(CTRL_C_GRACE, self.watchdog)
            watchdog.daemon = True
            watchdog.start()

    def taken(self) -> None:
        if self.pending:  # not already raised by the watchdog or a second Ctrl-C
            self.pending = False
            self.on_loop()

    def watchdog(self) -> None:
        if self.pending:
            try:
                signal.pthread_kill(self.main, signal.SIGINT)
            except (AttributeError, OSError):  # pragma: no cover - no pthread_kill
                import _thread

                _thread.interrupt_main()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        # Handles left open on purpose (unref()'d servers and sockets) end with the
        # process, as in Node. Their transports warn while the loop closes; under
        # -W error that warning would stop uvloop half-way through closing, and hang.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            loop.close()
        if _local.loop is loop:
            _local.loop = None
            asyncio.set_event_loop(None)
