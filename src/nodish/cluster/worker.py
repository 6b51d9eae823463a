"""``cluster.Worker``: one worker as seen from the primary, or from inside itself."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._address import _Info
from ..events import EventEmitter

__all__ = ["ListeningAddress", "Worker"]


class _Listening(NamedTuple):
    address_type: Any
    address: str | None
    port: int | None
    fd: int | None


class ListeningAddress(_Info, _Listening):
    """What ``'listening'`` carries in the primary: ``address_type`` (4, 6, ``'udp4'``,
    ``'udp6'``), ``address``, ``port`` and ``fd``; ``info.port`` and ``info['port']``."""

    __slots__ = ()
    _keys = _Listening._fields


class Worker(EventEmitter):
    """A cluster worker; Node's ``cluster.Worker``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/cluster.html#class-worker.
    In the primary, ``cluster.fork()`` returns one and ``cluster.workers`` maps ids to
    them; in a worker, ``cluster.worker`` is the worker itself. Events:
    ``'online'``, ``'listening'`` (address), ``'message'`` (message, handle),
    ``'disconnect'``, ``'exit'`` (code, signal), ``'error'``.

    Attributes:
        id: the worker's unique id (1, 2, ...); ``NODISH_UNIQUE_ID`` in the worker.
        process: in the primary, the :class:`~nodish.cluster.primary.WorkerProcess`
            (``pid``, ``exit_code``, ``signal_code``, ``kill()``); in the worker,
            :data:`nodish.process`.
        state: ``'none'``, ``'online'``, ``'listening'``, ``'disconnected'``,
            ``'dead'``.
        exited_after_disconnect: True once ``disconnect()`` or ``kill()`` was called
            (the exit was asked for), False after an unasked exit, None before.
    """

    __slots__ = ("exited_after_disconnect", "id", "process", "state")

    def __init__(self, id: int, process: Any, state: str = "none") -> None:
        super().__init__()
        self.id = id
        self.process = process
        self.state = state
        self.exited_after_disconnect: bool | None = None

    def send(self, message: Any, handle: Any = None, *, callback: Any = None) -> bool:
        """Send ``message`` (JSON-serialisable) to the other side, with an optional
        ``net.Socket`` handle; ``callback(err)`` once it is written."""
        result: bool = self.process.send(message, handle, callback=callback)
        return result

    def is_connected(self) -> bool:
        """Whether the IPC channel is still open."""
        return bool(self.process.connected)

    def is_dead(self) -> bool:
        """Whether the worker's process has exited."""
        return False

    def disconnect(self) -> Worker:  # pragma: no cover - both sides override
        raise NotImplementedError

    def kill(self, signal: str = "SIGTERM") -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def destroy(self, signal: str = "SIGTERM") -> None:
        """Same as :meth:`kill`."""
        self.kill(signal)

    def __repr__(self) -> str:
        return f"<nodish.cluster.Worker id={self.id} state={self.state}>"


emitter = EventEmitter()
"""The ``cluster`` module's own events (``'fork'``, ``'online'``, ``'exit'`` ...)."""
