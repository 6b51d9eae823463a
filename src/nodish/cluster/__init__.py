"""``nodish.cluster``: one server on every core, Node's ``cluster`` module.

    import os
    import nodish
    from nodish import cluster, net

    if cluster.is_primary:
        for _ in range(os.cpu_count() or 1):
            cluster.fork()
        cluster.on('exit', lambda worker, code, signal: print('worker', worker.id, 'died'))
    else:
        net.create_server(lambda sock: sock.end(f'hello from {os.getpid()}\\n')).listen(8000)
    nodish.run()

Mirrors https://nodejs.org/docs/latest-v20.x/api/cluster.html with Python names
(``is_primary``, ``setup_primary``, ``scheduling_policy``). Workers are fresh
interpreters running the same script (or ``-m`` module); ``server.listen()`` and
``dgram`` ``bind()`` in a worker share the port through the primary: under
:data:`SCHED_RR` (the default, as Node on Linux; ``NODE_CLUSTER_SCHED_POLICY=none``
or ``rr`` in the environment) the primary accepts and hands connections round-robin,
under :data:`SCHED_NONE` every worker accepts from one shared socket.
``listen(port, exclusive=True)`` and ``listen(port, reuse_port=True)`` bind in the
worker instead.

The module is Node's ``cluster`` emitter: ``cluster.on('exit', fn)``. Events:
``'setup'`` (settings), ``'fork'``, ``'online'``, ``'listening'`` (worker,
address), ``'message'`` (worker, message, handle), ``'disconnect'``, ``'exit'``
(worker, code, signal).

Beyond Node, off by default (so that event traces match Node's):
``setup_primary(respawn=True)``, ``setup_primary(heartbeat=5.0)``, :func:`reload`
and ``setup_primary(reload_signal='SIGHUP')``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import ERR_INVALID_ARG_VALUE
from .worker import ListeningAddress, Worker, emitter

__all__ = [
    "SCHED_NONE",
    "SCHED_RR",
    "ListeningAddress",
    "Worker",
    "disconnect",
    "emit",
    "fork",
    "is_primary",
    "is_worker",
    "listener_count",
    "off",
    "on",
    "once",
    "reload",
    "remove_all_listeners",
    "remove_listener",
    "scheduling_policy",
    "settings",
    "setup_primary",
    "worker",
    "workers",
]

SCHED_NONE = 1
"""Every worker accepts from one shared listening socket; the kernel chooses."""
SCHED_RR = 2
"""The primary accepts and hands connections to the workers in turn (the default)."""

is_worker: bool = "NODISH_UNIQUE_ID" in os.environ
"""True in a process started by :func:`fork`."""
is_primary: bool = not is_worker
"""True in the process that forks (any process not started by :func:`fork`)."""


def _env_policy() -> int:
    value = os.environ.get("NODE_CLUSTER_SCHED_POLICY", "")
    if value == "none":
        return SCHED_NONE
    return SCHED_RR


scheduling_policy: int = _env_policy()
"""``SCHED_RR`` or ``SCHED_NONE``; may be set before the first :func:`fork` (or
:func:`setup_primary`), frozen after."""

on = emitter.on
once = emitter.once
off = emitter.off
emit = emitter.emit
remove_listener = emitter.remove_listener
remove_all_listeners = emitter.remove_all_listeners
listener_count = emitter.listener_count
prepend_listener = emitter.prepend_listener


def _policy() -> int:
    policy = globals()["scheduling_policy"]
    if policy not in (SCHED_NONE, SCHED_RR):
        raise ERR_INVALID_ARG_VALUE("cluster.scheduling_policy", policy, "must be 1 or 2")
    return int(policy)


worker: Worker | None = None
"""In a worker: this worker. None in the primary."""
workers: dict[int, Worker] | None = None
"""In the primary: the live workers by id. None in a worker."""
settings: dict[str, Any] = {}
"""The settings of the last :func:`setup_primary` (empty before, and in a worker)."""


if is_worker:
    from .child import setup_worker

    worker = setup_worker()

    def fork(env: dict[str, str] | None = None) -> Worker:
        """Only the primary forks.

        Raises:
            ERR_INVALID_STATE: always, in a worker.
        """
        from ..errors import ERR_INVALID_STATE

        raise ERR_INVALID_STATE("cluster.fork() is only available in the primary")

    def setup_primary(**options: Any) -> None:
        """Only the primary has settings.

        Raises:
            ERR_INVALID_STATE: always, in a worker.
        """
        from ..errors import ERR_INVALID_STATE

        raise ERR_INVALID_STATE("cluster.setup_primary() is only available in the primary")

    def disconnect(callback: Callable[[], Any] | None = None) -> None:
        """In a worker: ``cluster.worker.disconnect()``."""
        assert worker is not None
        worker.disconnect()

    def reload(timeout: float = 30.0, *, callback: Callable[..., Any] | None = None) -> Any:
        """Only the primary reloads.

        Raises:
            ERR_INVALID_STATE: always, in a worker.
        """
        from ..errors import ERR_INVALID_STATE

        raise ERR_INVALID_STATE("cluster.reload() is only available in the primary")

else:
    from . import primary as _primary
    from .primary import disconnect, fork, setup_primary
    from .reload import reload

    workers = _primary.workers
    settings = _primary.settings
