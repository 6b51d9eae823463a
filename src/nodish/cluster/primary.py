"""The primary side of ``nodish.cluster``: forking workers, their events, shared ports.

Theory of operation
-------------------
This is Node's ``lib/internal/cluster/primary.js`` (and its round-robin and shared
handles) in Python.

Workers. ``fork()`` starts a fresh interpreter on the main script (never ``os.fork()``
of a process whose loop runs) with one end of a socketpair as its IPC channel, named
by ``NODISH_CHANNEL_FD``, and its id in ``NODISH_UNIQUE_ID``. The process's exit is
watched through a pidfd on the loop. When it exits, whatever it wrote to the channel
before dying is read first, so ``'disconnect'`` always comes before ``'exit'``. Events
follow Node: ``'setup'`` and ``'fork'`` on the next tick, ``'online'`` when the worker
says so, ``'listening'`` when one of its servers listens, ``'disconnect'`` when its
channel closes, ``'exit'`` (code, signal) when it has exited; each on the worker first,
then on ``cluster`` with the worker in front.

Ports. A worker's ``listen()`` asks the primary (``queryServer``); servers are keyed by
address, port, family and the worker's listen index, so ``listen(0)`` in every worker
shares one port. Under ``SCHED_RR`` a :class:`RoundRobinHandle` listens in the primary,
accepts in batches until ``EAGAIN`` and hands each connection to the next free worker
(``newconn``). Node keeps one unacknowledged connection per worker; we allow
``WINDOW`` (8) to a worker that acknowledges promptly, which hides the acknowledgement's
round trip, and none more to a worker that does not (its loop is stuck). Each
``newconn`` carries the peer address ``accept()`` returned; the worker compares it with
its descriptor's ``getpeername()`` and, should they differ (a descriptor paired with
the wrong message), logs both, closes its copy and answers ``mismatch``: that
connection is then dropped here too, never handed again, so no connection is ever
served twice. A worker
that refuses (it is closing) gets the connection redistributed. A worker that dies with a
connection in flight has it redistributed as well. The accept queue is bounded: past
``MAX_PENDING`` unhanded connections the primary stops accepting, and the kernel's
backlog holds the rest. Under ``SCHED_NONE`` (and for UDP always) a
:class:`SharedHandle` binds once and sends the descriptor to every worker, which
listens (or receives) on it itself (see ``child``). A bind failure is sent
back as an errno to every worker that asks, and becomes its server's ``'error'``.

Beyond Node, each off by default: ``respawn`` (a worker that exits unasked is replaced,
after a delay that doubles while workers keep dying young), ``heartbeat`` (workers
send a beat from their loop every ``heartbeat`` seconds; three missed and the worker is
``SIGKILL``\\ed), :func:`reload` (rolling replacement, one worker at a time) and
``reload_signal``.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import logging
import os
import signal as _signal
import socket as _socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_IPC_CHANNEL_CLOSED,
    ERR_OUT_OF_RANGE,
    ERR_UNKNOWN_SIGNAL,
)
from ..events import EventEmitter
from ._ipc import Endpoint
from .framing import encode
from .output import WorkerInput, WorkerOutput
from .worker import ListeningAddress, Worker, emitter

__all__ = ["RoundRobinHandle", "SharedHandle", "WorkerProcess", "fork", "setup_primary"]

logger = logging.getLogger("nodish")

SCHED_NONE = 1
SCHED_RR = 2

# Connections handed to one worker and not yet acknowledged (Node: 1). A few keep a
# worker busy while its acknowledgements travel back, which is most of the handoff's
# cost on a busy machine (8 instead of 1 gives about 1.7x the short connections per
# second here); another one goes only to a worker whose oldest unacknowledged
# connection is younger than STALLED seconds, so a worker whose loop is stuck stops
# receiving connections at once (it holds those of the last STALLED seconds).
WINDOW = 8
STALLED = 0.02

# Connections accepted but not yet handed to a worker before the primary stops
# accepting (the kernel's backlog then holds the rest).
MAX_PENDING = 256

_SETTING_KEYS = (
    "exec",
    "module",
    "args",
    "exec_argv",
    "cwd",
    "silent",
    "env",
    "respawn",
    "heartbeat",
    "reload_signal",
    "stop_timeout",
)


class _State:
    """The primary's books (Node keeps them in primary.js's module scope)."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.initialized = False
        self.policy = SCHED_RR
        self.ids = 0
        self.handles: dict[str, RoundRobinHandle | SharedHandle] = {}
        self.intercom = EventEmitter()
        self.deaths = 0  # consecutive young deaths, for the respawn backoff
        self.stopping = False
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop of the first fork


state = _State()
workers: dict[int, Worker] = {}
settings: dict[str, Any] = {}  # the same dict as state.settings, updated in place


def _default_settings() -> dict[str, Any]:
    """Re-run this interpreter on this script (or ``-m`` module), as Node re-runs
    ``process.argv[1]`` with ``process.execArgv``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    module = spec.name if spec is not None and spec.name != "__main__" else None
    orig = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    nargs = len(sys.argv) - 1
    head = orig[1 : len(orig) - nargs] if nargs else orig[1:]
    # head is [flags..., script] or [flags..., '-m', module] (or '-c', code)
    if module is not None and len(head) >= 2 and head[-2] == "-m":
        exec_argv = head[:-2]
    else:
        exec_argv = head[:-1]
    exec_ = None if module is not None else (sys.argv[0] or None)
    if exec_ == "-c":
        exec_ = None
    return {
        "exec": exec_,
        "module": module,
        "args": list(sys.argv[1:]),
        "exec_argv": exec_argv,
        "cwd": None,
        "silent": False,
        "env": None,
        "respawn": False,
        "heartbeat": None,
        "reload_signal": None,
        "stop_timeout": 10.0,
    }


def setup_primary(**options: Any) -> None:
    """Change the settings of later forks (Node's ``cluster.setupPrimary``).

    Keywords: ``exec`` (script path), ``module`` (run ``-m module`` instead),
    ``args``, ``exec_argv`` (interpreter flags), ``cwd``, ``silent`` (workers' stdout
    and stderr piped to the primary: ``worker.process.stdout``/``.stderr``; and stdin,
    ``worker.process.stdin``), ``env``
    (added to every worker's environment); beyond Node: ``respawn``, ``heartbeat``
    (seconds), ``reload_signal`` (``'SIGHUP'``), ``stop_timeout`` (seconds a stopping
    worker gets before ``SIGKILL``).
    The scheduling policy is frozen at the first call. ``'setup'`` follows on the
    next tick with the settings.

    Raises:
        ERR_INVALID_ARG_VALUE: an unknown keyword.
    """
    _check_thread("cluster.setup_primary()")
    for key in options:
        if key not in _SETTING_KEYS:
            raise ERR_INVALID_ARG_VALUE("options", key, "is not a cluster setting")
    options = _checked_settings(options)
    from . import _policy

    policy = state.policy if state.initialized else _policy()  # frozen at the first call
    base = state.settings or _default_settings()
    settings = {**base, **options}
    if options.get("exec") is not None and "module" not in options:
        settings["module"] = None
    if options.get("module") is not None and "exec" not in options:
        settings["exec"] = None
    state.settings = globals()["settings"]
    state.settings.clear()
    state.settings.update(settings)
    if not state.initialized:
        state.policy = policy
        state.initialized = True
        sig = settings.get("reload_signal")
        if sig:
            _install_reload_signal(sig)
    elif options.get("reload_signal"):
        _install_reload_signal(options["reload_signal"])
    runtime.next_tick(emitter.emit, "setup", dict(settings))


def _check_thread(what: str) -> None:
    if state.loop is not None and not runtime.on_loop(state.loop):
        runtime.check_thread(state.loop, what)


def _checked_settings(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked before any is applied (a bad one changes nothing)."""
    checked = dict(options)
    for key in ("args", "exec_argv"):
        value = options.get(key)
        if value is not None and not isinstance(value, (list, tuple)):
            raise ERR_INVALID_ARG_TYPE(f"settings.{key}", "a list", type(value).__name__)
    for key in ("exec", "cwd"):
        value = options.get(key)
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ERR_INVALID_ARG_TYPE(f"settings.{key}", "a path", type(value).__name__)
    if options.get("module") is not None and not isinstance(options["module"], str):
        raise ERR_INVALID_ARG_TYPE("settings.module", "a str", type(options["module"]).__name__)
    for key in ("heartbeat", "stop_timeout"):
        value = options.get(key)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ERR_INVALID_ARG_TYPE(f"settings.{key}", "a number", type(value).__name__)
        if not value > 0:
            raise ERR_OUT_OF_RANGE(f"settings.{key}", "> 0", value)
    if options.get("reload_signal"):
        _signum(options["reload_signal"])
    if options.get("env") is not None:
        checked["env"] = _checked_env(options["env"], "settings.env")
    return checked


def _checked_env(env: Any, name: str) -> dict[str, str]:
    """``env`` as strings: numbers become their text (Node stringifies every value);
    anything else is refused rather than turned into ``'None'`` or a dict's repr."""
    if not isinstance(env, dict):
        raise ERR_INVALID_ARG_TYPE(name, "a dict", type(env).__name__)
    out = {}
    for key, value in env.items():
        if not isinstance(key, str):
            raise ERR_INVALID_ARG_TYPE(f"{name} key", "a str", type(key).__name__)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            raise ERR_INVALID_ARG_TYPE(
                f"{name}[{key!r}]", "a str or a number", type(value).__name__
            )
        if "\0" in key or "=" in key or not key or "\0" in value:
            raise ERR_INVALID_ARG_VALUE(f"{name}[{key!r}]", value, "is not a valid variable")
        out[key] = value
    return out


def _install_reload_signal(name: str) -> None:
    from .reload import reload

    signum = _signum(name)
    runtime.get_loop().add_signal_handler(signum, lambda: reload())


def _signum(name: str | int) -> int:
    """A signal's number; 0 (a check that the process exists) as Node allows it.

    Raises:
        ERR_UNKNOWN_SIGNAL: not a signal's name or number (``-1``, ``'SIGBOGUS'``).
    """
    try:
        if isinstance(name, bool):
            raise KeyError(name)
        if isinstance(name, int):
            return 0 if name == 0 else int(_signal.Signals(name))
        return int(_signal.Signals[name])
    except (KeyError, ValueError, TypeError):
        raise ERR_UNKNOWN_SIGNAL(name) from None


def _signame(num: int) -> str:
    try:
        return _signal.Signals(num).name
    except ValueError:
        return str(num)


# ---------------------------------------------------------------------- worker process


class WorkerProcess(EventEmitter):
    """A worker's OS process as the primary sees it (the part of Node's
    ``ChildProcess`` a worker uses): ``pid``, ``exit_code``, ``signal_code``,
    ``connected``, ``send()``, ``kill()``, ``disconnect()``; ``stdin`` (a Writable),
    ``stdout`` and ``stderr`` (Readables of bytes) with ``setup_primary(silent=True)``,
    else None."""

    __slots__ = (
        "_endpoint",
        "_handle",
        "_pidfd",
        "_popen",
        "exit_code",
        "pid",
        "signal_code",
        "started",
        "stderr",
        "stdin",
        "stdout",
    )

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        sock: _socket.socket,
        stdio: tuple[WorkerInput, WorkerOutput, WorkerOutput] | None = None,
    ) -> None:
        super().__init__()
        self._popen = popen
        self.pid = popen.pid
        self.stdin: WorkerInput | None = stdio[0] if stdio else None
        self.stdout: WorkerOutput | None = stdio[1] if stdio else None
        self.stderr: WorkerOutput | None = stdio[2] if stdio else None
        self.exit_code: int | None = None
        self.signal_code: str | None = None
        self.started = time.monotonic()
        loop = runtime.get_loop()
        self._handle = runtime.HandleRef(loop, self._stop_on_exit)
        self._handle.open()
        self._endpoint = Endpoint(
            sock,
            lambda msg, handle: self.emit("internalMessage", msg, handle),
            lambda msg, handle: self.emit("message", msg, handle),
            self._on_channel_closed,
        )
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._on_exited)

    @property
    def connected(self) -> bool:
        """Whether the IPC channel is open."""
        return self._endpoint.connected

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    def send(self, message: Any, handle: Any = None, *, callback: Any = None) -> bool:
        """Send a user message to the worker."""
        if callback is not None and not callable(callback):
            raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
        if not self.connected:
            err = ERR_IPC_CHANNEL_CLOSED()
            if callback is not None:
                runtime.call_soon(callback, err)
            else:
                runtime.call_soon(self.emit, "error", err, owner=None)
            return False
        return self._endpoint.send(message, handle, callback)

    def disconnect(self) -> None:
        """Close the channel from this side."""
        self._endpoint.channel.disconnect()

    def kill(self, signal: str | int = "SIGTERM") -> bool:
        """Send ``signal`` to the process; False when it has already exited."""
        signum = _signum(signal)
        if self.exit_code is not None or self.signal_code is not None:
            return False
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def _stop_on_exit(self) -> None:
        # the primary is shutting down (Ctrl-C): do not leave the worker behind
        self.kill("SIGTERM")

    def _on_channel_closed(self, err: BaseException | None) -> None:
        if err is not None:
            logger.error("cluster: IPC channel of worker pid %d failed: %s", self.pid, err)
            runtime.guarded(None, self._emit_error, err)
        for cb in self._endpoint.fail_pending():
            runtime.guarded(None, cb, {"cmd": "NODE_CLUSTER", "closed": True}, None)
        self.emit("disconnect")

    def _emit_error(self, err: BaseException) -> None:
        self.emit("error", err)

    def _on_exited(self) -> None:
        loop = runtime.get_loop()
        loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        # what the worker wrote before it died comes first, then 'disconnect'
        self._endpoint.channel.read_to_end()
        if self._endpoint.connected:
            self._endpoint.channel.disconnect()
        code = self._popen.wait()
        if code < 0:
            self.signal_code = _signame(-code)
        else:
            self.exit_code = code
        self._handle.close()
        if self.stdin is not None:
            self.stdin.destroy()  # as Node does: nobody is left to read it
        self.emit("exit", self.exit_code, self.signal_code)

    def __repr__(self) -> str:
        return f"<WorkerProcess pid={self.pid} exit_code={self.exit_code}>"


# ---------------------------------------------------------------------- the worker object


class PrimaryWorker(Worker):
    """A :class:`Worker` as the primary holds it."""

    __slots__ = ("_beat", "_beating", "_env", "_heartbeat_timer", "_online_at")

    process: WorkerProcess

    def __init__(self, id: int, process: WorkerProcess, env: dict[str, str] | None) -> None:
        super().__init__(id, process)
        self._env = env
        self._beat = time.monotonic()
        self._beating = False  # a beat has come: its loop runs
        self._online_at: float | None = None
        self._heartbeat_timer: asyncio.TimerHandle | None = None

    def is_dead(self) -> bool:
        return self.process.exit_code is not None or self.process.signal_code is not None

    def disconnect(self) -> PrimaryWorker:
        """Ask the worker to close its servers and its channel (it then exits when
        nothing else keeps it alive); ``exited_after_disconnect`` becomes True."""
        _check_thread("cluster.Worker.disconnect()")
        self.exited_after_disconnect = True
        if self.process.connected:
            self.process.endpoint.request({"act": "disconnect"})
        # no new connection goes to a draining worker; it leaves cluster.workers when
        # its channel closes (as in Node)
        _remove_handles_for_worker(self)
        return self

    def kill(self, signal: str = "SIGTERM") -> None:
        """Disconnect, then send ``signal`` (at once if already disconnected)."""
        _check_thread("cluster.Worker.kill()")
        _signum(signal)
        proc = self.process
        if self.is_connected():
            self.once("disconnect", lambda: proc.kill(signal))
            self.disconnect()
            return
        proc.kill(signal)


# ---------------------------------------------------------------------- fork


def fork(env: dict[str, str] | None = None) -> PrimaryWorker:
    """Start a worker (Node's ``cluster.fork``); ``env`` is added to its environment.

    Raises:
        ERR_INVALID_ARG_TYPE: ``env`` is not a dict of strings (numbers are taken as
            their text, as Node stringifies them).
        ERR_INVALID_THREAD: called from a thread other than the primary's loop's.
        ERR_INVALID_ARG_VALUE: no script to run (the primary was started with ``-c``
            or interactively, and ``setup_primary(exec=...)`` was not given).
    """
    _check_thread("cluster.fork()")
    if env is not None:
        env = _checked_env(env, "env")
    setup_primary()
    if state.loop is None:
        state.loop = runtime.get_loop()
    settings = state.settings
    if settings.get("exec") is None and settings.get("module") is None:
        raise ERR_INVALID_ARG_VALUE(
            "settings.exec", None, "is needed: the primary has no script to re-run"
        )
    if not state.ids:
        _install_stop_signals()
    state.ids += 1
    wid = state.ids
    worker = _spawn(wid, env)
    runtime.next_tick(_emit_fork, worker)
    return worker


def _command(settings: dict[str, Any]) -> list[str]:
    cmd = [sys.executable, *(settings.get("exec_argv") or ())]
    if settings.get("module") is not None:
        cmd += ["-m", str(settings["module"])]
    else:
        cmd.append(os.fspath(settings["exec"]))
    cmd += [str(a) for a in settings.get("args") or ()]
    return cmd


def _spawn(wid: int, env: dict[str, str] | None) -> PrimaryWorker:
    settings = state.settings
    parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    full_env = dict(os.environ)
    full_env.update(settings.get("env") or {})
    full_env.update(env or {})
    full_env["NODISH_UNIQUE_ID"] = str(wid)
    full_env["NODISH_CHANNEL_FD"] = str(child.fileno())
    beat = settings.get("heartbeat")
    if beat:
        full_env["NODISH_CLUSTER_HEARTBEAT"] = repr(float(beat))
    else:
        full_env.pop("NODISH_CLUSTER_HEARTBEAT", None)
    # silent: a pipe each for stdin, stdout and stderr; (ours, the worker's) each
    pipes = None
    if settings.get("silent"):
        r0, w0 = os.pipe()
        pipes = ((w0, r0), os.pipe(), os.pipe())
    try:
        popen = subprocess.Popen(
            _command(settings),
            env=full_env,
            cwd=settings.get("cwd"),
            pass_fds=(child.fileno(),),
            stdin=pipes[0][1] if pipes else None,
            stdout=pipes[1][1] if pipes else None,
            stderr=pipes[2][1] if pipes else None,
            # Ctrl-C in a terminal reaches the primary alone, which then stops the
            # workers gracefully (they also exit on their own if the primary dies)
            start_new_session=True,
        )
    except BaseException:
        parent.close()
        for ours, theirs in pipes or ():
            os.close(ours)
            os.close(theirs)
        raise
    finally:
        child.close()
    stdio = None
    if pipes:
        for _ours, theirs in pipes:
            os.close(theirs)
        stdio = (
            WorkerInput(pipes[0][0], f"worker {wid}'s stdin"),
            WorkerOutput(pipes[1][0], f"worker {wid}'s stdout"),
            WorkerOutput(pipes[2][0], f"worker {wid}'s stderr"),
        )
    proc = WorkerProcess(popen, parent, stdio)
    worker = PrimaryWorker(wid, proc, env)
    proc.on("message", lambda msg, handle: worker.emit("message", msg, handle))
    proc.on("error", lambda err: _worker_error(worker, err))
    worker.on("message", lambda msg, handle: emitter.emit("message", worker, msg, handle))
    proc.once("exit", lambda code, sig: _on_exit(worker, code, sig))
    proc.once("disconnect", lambda: _on_disconnect(worker))
    proc.on("internalMessage", lambda msg, handle: _on_internal(worker, msg, handle))
    workers[wid] = worker
    if beat:
        _watch_heartbeat(worker, float(beat))
    return worker


def _worker_error(worker: PrimaryWorker, err: BaseException) -> None:
    # already logged by the process object; an 'error' listener may act on it too
    if worker.listener_count("error"):
        worker.emit("error", err)


def _emit_fork(worker: PrimaryWorker) -> None:
    emitter.emit("fork", worker)


def _on_exit(worker: PrimaryWorker, code: int | None, sig: str | None) -> None:
    if not worker.is_connected():
        _remove_handles_for_worker(worker)
        _remove_worker(worker)
    if worker._heartbeat_timer is not None:
        worker._heartbeat_timer.cancel()
        worker._heartbeat_timer = None
    worker.exited_after_disconnect = bool(worker.exited_after_disconnect)
    worker.state = "dead"
    if not worker.exited_after_disconnect and (code or sig):
        logger.warning(
            "cluster: worker %d (pid %d) exited unexpectedly (%s)",
            worker.id,
            worker.process.pid,
            f"signal {sig}" if sig else f"code {code}",
        )
    runtime.guarded(None, worker.emit, "exit", code, sig)
    runtime.guarded(None, emitter.emit, "exit", worker, code, sig)
    if state.settings.get("respawn") and not worker.exited_after_disconnect and not state.stopping:
        _respawn(worker)


def _on_disconnect(worker: PrimaryWorker) -> None:
    _remove_handles_for_worker(worker)
    # a worker stays in cluster.workers until it has both disconnected and exited
    if worker.is_dead():
        _remove_worker(worker)
    worker.exited_after_disconnect = bool(worker.exited_after_disconnect)
    worker.state = "disconnected"
    runtime.guarded(None, worker.emit, "disconnect")
    runtime.guarded(None, emitter.emit, "disconnect", worker)


def _remove_worker(worker: PrimaryWorker) -> None:
    if workers.get(worker.id) is not worker:
        return
    del workers[worker.id]
    if not workers:
        runtime.guarded(None, state.intercom.emit, "disconnect")


def _remove_handles_for_worker(worker: PrimaryWorker) -> None:
    for key, handle in list(state.handles.items()):
        if handle.remove(worker):
            state.handles.pop(key, None)


# ---------------------------------------------------------------------- internal messages


def _on_internal(worker: PrimaryWorker, msg: dict[str, Any], handle: Any) -> None:
    if handle is not None:
        os.close(handle[1])  # workers never send descriptors to the primary
    cmd = msg.get("cmd")
    if cmd == "NODISH_HEARTBEAT":
        worker._beat = time.monotonic()
        worker._beating = True
        return
    act = msg.get("act")
    if act == "online":
        worker._beat = worker._online_at = time.monotonic()
        worker.state = "online"
        worker.emit("online")
        emitter.emit("online", worker)
    elif act == "queryServer":
        _query_server(worker, msg)
    elif act == "listening":
        address = ListeningAddress(
            msg.get("addressType"), msg.get("address"), msg.get("port"), msg.get("fd")
        )
        worker.state = "listening"
        worker.emit("listening", address)
        emitter.emit("listening", worker, address)
    elif act == "exitedAfterDisconnect":
        worker.exited_after_disconnect = True
        worker.process.endpoint.request({"ack": msg.get("seq")})
    elif act == "close":
        key = str(msg.get("key"))
        h = state.handles.get(key)
        if h is not None and h.remove(worker):
            state.handles.pop(key, None)


def _query_server(worker: PrimaryWorker, msg: dict[str, Any]) -> None:
    if worker.exited_after_disconnect:
        return
    address = msg.get("address")
    port = int(msg.get("port") or 0)
    kind = msg.get("addressType")
    key = f"{address}:{port}:{kind}:{msg.get('fd')}:{msg.get('index')}"
    handle = state.handles.get(key)
    if handle is None:
        if state.policy != SCHED_RR or kind in ("udp4", "udp6"):
            handle = SharedHandle(key, address, port, kind, msg)
        else:
            handle = RoundRobinHandle(key, address, port, kind, msg)
        state.handles[key] = handle
    seq = msg.get("seq")

    def reply(errno: int | None, extra: dict[str, Any] | None, fd: tuple[str, int] | None) -> None:
        if errno:
            state.handles.pop(key, None)
        if worker.is_connected():
            worker.process.endpoint.request(
                {"errno": errno, "key": key, "ack": seq, "data": None, **(extra or {})}, fd
            )

    handle.add(worker, reply)


# ---------------------------------------------------------------------- handles


def _bind_socket(address: Any, port: int, kind: Any, stream: bool) -> _socket.socket:
    if address in (None, ""):
        address = "::" if kind in (6, "udp6") else "0.0.0.0"
    fam = _socket.AF_INET6 if kind in (6, "udp6") or ":" in str(address) else _socket.AF_INET
    sock = _socket.socket(fam, _socket.SOCK_STREAM if stream else _socket.SOCK_DGRAM)
    try:
        if stream:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        if fam == _socket.AF_INET6:
            sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
        sock.bind((str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


Send = Callable[[Any, Any, Any], None]


class SharedHandle:
    """``SCHED_NONE`` (and UDP): one socket bound here, sent to every worker."""

    __slots__ = ("errno", "key", "sock", "type", "workers")

    def __init__(self, key: str, address: Any, port: int, kind: Any, msg: dict[str, Any]) -> None:
        self.key = key
        self.workers: dict[int, Worker] = {}
        self.errno: int | None = None
        self.sock: _socket.socket | None = None
        stream = kind not in ("udp4", "udp6")
        self.type = "net.Native" if stream else "dgram.Native"
        try:
            self.sock = _bind_socket(address, port, kind, stream)
        except OSError as exc:
            self.errno = exc.errno or _errno.EINVAL

    def add(self, worker: Worker, send: Send) -> None:
        self.workers[worker.id] = worker
        if self.sock is None:
            send(self.errno, None, None)
        else:
            send(None, None, (self.type, self.sock.fileno()))

    def remove(self, worker: Worker) -> bool:
        if self.workers.pop(worker.id, None) is None:
            return False
        if self.workers:
            return False
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        return True


class RoundRobinHandle:
    """``SCHED_RR``: the primary listens and accepts, and hands each connection to the
    next free worker."""

    __slots__ = (
        "all",
        "corked",
        "errno",
        "free",
        "handles",
        "inflight",
        "key",
        "loop",
        "newconn",
        "paused",
        "sock",
    )

    def __init__(self, key: str, address: Any, port: int, kind: Any, msg: dict[str, Any]) -> None:
        self.key = key
        self.all: dict[int, PrimaryWorker] = {}
        self.free: dict[int, PrimaryWorker] = {}
        # accepted connections not handed yet, each with the end of its newconn frame
        self.handles: deque[tuple[_socket.socket, bytes]] = deque()
        self.inflight: dict[int, list[tuple[_socket.socket, float]]] = {}
        # the newconn frame up to its seq: {"cmd":"NODE_HANDLE",...,"msg":{...,"seq":N}}
        self.newconn = (
            b'{"cmd":"NODE_HANDLE","type":"net.Native","msg":'
            b'{"cmd":"NODE_CLUSTER","act":"newconn","key":' + encode(key)[:-1] + b',"seq":'
        )
        self.errno: int | None = None
        self.sock: _socket.socket | None = None
        self.loop = runtime.get_loop()
        self.paused = False
        # channels holding the connections of the accept batch under way (None: no batch)
        self.corked: list[Any] | None = None
        try:
            sock = _bind_socket(address, port, kind, True)
            try:
                sock.listen(int(msg.get("backlog") or 511))
            except BaseException:
                sock.close()
                raise
        except OSError as exc:
            self.errno = exc.errno or _errno.EINVAL
            return
        sock.setblocking(False)
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._accept)

    def add(self, worker: PrimaryWorker, send: Send) -> None:
        self.all[worker.id] = worker
        if self.sock is None:
            send(self.errno, None, None)
            return
        name = self.sock.getsockname()
        send(None, {"sockname": [name[0], name[1]]}, None)
        self._handoff(worker)

    def remove(self, worker: PrimaryWorker) -> bool:
        if self.all.pop(worker.id, None) is None:
            return False
        self.free.pop(worker.id, None)
        # Connections it has not acknowledged yet stay in flight: a worker that is
        # disconnecting still answers (accepted, or refused and redistributed), and one
        # whose channel closes gets them back as refused. The worker acknowledges before
        # it touches a connection, so a refused one was never served.
        if self.all:
            return False
        for conn, _tail in self.handles:
            conn.close()
        self.handles.clear()
        if self.sock is not None:
            if not self.paused:
                self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        return True

    def _accept(self) -> None:
        if self.sock is None:
            return
        self.corked = []
        try:
            self._accept_batch(self.sock)
        finally:
            corked, self.corked = self.corked, None
            for channel in corked:
                channel.uncork()

    def _accept_batch(self, sock: _socket.socket) -> None:
        while True:
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (_errno.ECONNABORTED, _errno.EPROTO):
                    continue
                # EMFILE and the like: stop until a connection has been handed off
                logger.error("cluster: accept failed: %s", exc)
                self._pause()
                return
            self._distribute(conn, _newconn_tail(addr))
            if self.paused:
                return

    def _pause(self) -> None:
        if not self.paused and self.sock is not None:
            self.paused = True
            self.loop.remove_reader(self.sock.fileno())

    def _distribute(self, conn: _socket.socket, tail: bytes) -> None:
        if self.sock is None:
            conn.close()  # every worker has left this port
            return
        self.handles.append((conn, tail))
        if len(self.handles) >= MAX_PENDING:
            self._pause()
        free = self.free
        while self.handles and free:
            wid = next(iter(free))
            self._handoff(free.pop(wid))

    def _has_room(self, inflight: list[tuple[_socket.socket, float]]) -> bool:
        if not inflight:
            return True
        if len(inflight) >= WINDOW:
            return False
        # a worker that has not acknowledged for a while (its loop is stuck) gets no
        # second connection: it holds one at most, as in Node
        return self.loop.time() - inflight[0][1] < STALLED

    def _handoff(self, worker: PrimaryWorker) -> None:
        wid = worker.id
        if wid not in self.all or not worker.process.connected:
            # gone, or its channel just closed (its pending replies are being failed
            # and redistributed before it leaves the books): a connection sent now
            # would never be answered
            return
        inflight = self.inflight.setdefault(wid, [])
        if not self._has_room(inflight):
            return  # back in turn when it acknowledges
        if not self.handles:
            self.free[wid] = worker
            return
        conn, tail = self.handles.popleft()
        if self.paused and len(self.handles) < MAX_PENDING // 2 and self.sock is not None:
            self.paused = False
            self.loop.add_reader(self.sock.fileno(), self._accept)
        entry = (conn, self.loop.time())
        inflight.append(entry)
        endpoint = worker.process.endpoint
        if self.corked is not None and not endpoint.channel._corked:
            # one sendmsg per worker for the whole accept batch
            endpoint.channel.cork()
            self.corked.append(endpoint.channel)

        def acked(reply: dict[str, Any], _handle: Any) -> None:
            pending = self.inflight.get(wid)
            if pending is None or entry not in pending:
                return
            pending.remove(entry)
            if not pending and wid not in self.all:
                del self.inflight[wid]
            if reply.get("accepted"):
                conn.close()
            elif reply.get("mismatch"):
                # the worker received another connection than this one (it logged
                # both and closed its copy): whoever holds this one may serve it, so
                # it is not handed again
                logger.error(
                    "cluster: worker %d received another connection than the one from %s;"
                    " both dropped",
                    wid,
                    _peer_name(conn),
                )
                conn.close()
            else:
                # refused (the worker is closing that server) or never answered
                self._distribute(conn, tail)
                if reply.get("closed"):
                    return
            self._handoff(worker)

        endpoint.request_frame(self.newconn, tail, ("net.Native", conn.fileno()), acked)
        if self._has_room(inflight) and wid in self.all and worker.process.connected:
            # room for one more: back at the end of the queue (turns stay round-robin)
            self.free[wid] = worker


def _newconn_tail(addr: Any) -> bytes:
    """The end of a newconn frame: the peer address ``accept()`` gave, which the worker
    checks against the descriptor it receives (``getpeername()``), so that a
    descriptor paired with the wrong message is never served."""
    if type(addr) is tuple:
        return b',"peer":["%s",%d]}}\n' % (addr[0].encode(), addr[1])
    return b"}}\n"


def _peer_name(conn: _socket.socket) -> str:
    try:
        host, port = conn.getpeername()[:2]
    except OSError:
        return "a peer now gone"
    return f"{host}:{port}"


# ---------------------------------------------------------------------- disconnect


def disconnect(callback: Callable[[], Any] | None = None) -> None:
    """Disconnect every worker; ``callback`` once all have disconnected."""
    _check_thread("cluster.disconnect()")
    if callback is not None and not callable(callback):
        raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
    if not workers:
        runtime.next_tick(state.intercom.emit, "disconnect")
    else:
        for w in list(workers.values()):
            if w.is_connected():
                w.disconnect()
    if callback is not None:
        state.intercom.once("disconnect", callback)


# ---------------------------------------------------------------------- graceful stop


def _install_stop_signals() -> None:
    """SIGTERM and SIGINT to the primary stop every worker gracefully: each is
    disconnected (its servers drain), and killed if not gone within ``stop_timeout``;
    then the primary exits with 128 + the signal's number. A second signal kills
    the workers at once."""
    from ..process import process

    loop = runtime.get_loop()
    try:
        loop.add_signal_handler(_signal.SIGTERM, stop, int(_signal.SIGTERM))
    except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
        return
    process.on("SIGINT", lambda *_: stop(int(_signal.SIGINT)))


def stop(signum: int = int(_signal.SIGTERM)) -> None:
    """Stop every worker gracefully, then exit the primary (see
    :func:`_install_stop_signals`)."""
    from ..process import process

    code = 128 + signum
    if state.stopping:
        for w in list(workers.values()):
            w.process.kill("SIGKILL")
        return
    state.stopping = True
    logger.warning("cluster: %s: stopping %d worker(s)", _signame(signum), len(workers))
    alive = [w for w in workers.values() if not w.is_dead()]
    if not alive:
        process.exit(code)
    left = len(alive)
    timeout = float(state.settings.get("stop_timeout") or 10.0)
    loop = runtime.get_loop()

    def gone(*_: Any) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            timer.cancel()
            runtime.call_soon(process.exit, code)

    def overdue() -> None:
        for w in alive:
            if not w.is_dead():
                logger.error("cluster: worker %d did not stop in time; killing it", w.id)
                w.process.kill("SIGKILL")

    timer = loop.call_later(timeout, overdue)
    for w in alive:
        w.once("exit", gone)
        if w.is_connected():
            w.disconnect()


# ---------------------------------------------------------------------- respawn, heartbeat


# A worker that dies less than this after coming online (or never came online) counts
# as dying young: a crash loop.
YOUNG = 1.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0


def _respawn(old: PrimaryWorker) -> None:
    # a worker that never came online, or died soon after, is part of a crash loop
    lived = 0.0 if old._online_at is None else time.monotonic() - old._online_at
    if lived < YOUNG:
        state.deaths += 1
    else:
        state.deaths = 0
    delay = 0.0 if state.deaths == 0 else min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (state.deaths - 1))
    logger.warning("cluster: respawning worker %d in %.2f s", old.id, delay)
    h = runtime.HandleRef(runtime.get_loop())
    h.open()

    def again() -> None:
        h.close()
        fork(old._env)

    runtime.get_loop().call_later(delay, runtime.guarded, None, again)


# Seconds a worker that is online gets to start its event loop (the rest of its
# script's start-up) before its first beat is due.
HEARTBEAT_STARTUP = 10.0


def _watch_heartbeat(worker: PrimaryWorker, interval: float) -> None:
    loop = runtime.get_loop()

    def missed() -> bool:
        # beats come from the worker's loop: none is due before it is online, and the
        # first one once its script has started its loop
        if worker.state == "none":
            return False
        limit = 3 * interval if worker._beating else max(3 * interval, HEARTBEAT_STARTUP)
        return time.monotonic() - worker._beat > limit

    def check() -> None:
        worker._heartbeat_timer = None
        if worker.is_dead():
            return
        late = missed()
        if late and worker.process.connected:
            # beats this (busy) primary has not read yet count: read them first
            worker.process.endpoint.channel.read_to_end()
            late = missed() and worker.process.connected  # closed now: it is leaving
        if late and not worker.is_dead():
            logger.error(
                "cluster: worker %d (pid %d) missed 3 heartbeats; killing it",
                worker.id,
                worker.process.pid,
            )
            worker.process.kill("SIGKILL")
            return
        worker._heartbeat_timer = loop.call_later(interval, check)

    worker._heartbeat_timer = loop.call_later(interval, check)
