"""``nodish.process``: the process-wide emitter.

Only what the runtime needs from Node's ``process`` object lives here:

* ``'uncaughtException'`` ``(exc, origin)``: receives exceptions raised by callbacks
  run from the loop (see :func:`nodish.runtime.report_uncaught`).
* ``'unhandledRejection'`` ``(exc, task)``: a coroutine listener failed and its
  emitter does not capture rejections. Without a listener it goes to
  ``'uncaughtException'`` with origin ``'unhandledRejection'``.
* ``'SIGINT'``: while it has a listener, Ctrl-C under :func:`nodish.run` calls it instead
  of closing every handle and exiting with 130.
* ``'beforeExit'`` ``(exit_code)`` and ``'exit'`` ``(exit_code)``, emitted by
  :func:`nodish.run` when nothing is left to do, as Node emits them.
* ``next_tick``, ``exit_code``, ``exit()``.
* In a cluster worker: ``send()``, ``connected``, ``disconnect()``, ``'message'``
  and ``'disconnect'`` (the channel to the primary, set up by ``nodish.cluster``).

Everything else of Node's ``process`` has a Python home already (``os.environ``,
``sys.argv``, ``os.getpid()``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from . import runtime
from .events import EventEmitter

__all__ = ["Process", "process"]


class Process(EventEmitter):
    """The type of :data:`process` (Node's ``process`` object, the parts nodish needs)."""

    __slots__ = ("_ipc", "exit_code")

    def __init__(self) -> None:
        super().__init__()
        self.exit_code: int = 0
        """The code ``run()`` reports in ``'beforeExit'``/``'exit'`` (Node's ``exitCode``)."""
        self._ipc: Any = None

    def send(self, message: Any, handle: Any = None, *, callback: Any = None) -> bool:
        """Send ``message`` to the cluster primary (Node's ``process.send``), with an
        optional ``net.Socket`` handle; ``callback(err)`` once it is written.

        Raises:
            ERR_IPC_CHANNEL_CLOSED: this process has no channel (not a cluster worker).
        """
        from .errors import ERR_INVALID_ARG_TYPE, ERR_IPC_CHANNEL_CLOSED

        if callback is not None and not callable(callback):
            raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
        ipc = self._ipc
        if ipc is None:
            raise ERR_IPC_CHANNEL_CLOSED()
        if not ipc.connected:
            err = ERR_IPC_CHANNEL_CLOSED()
            if callback is not None:
                runtime.call_soon(callback, err)
            else:
                runtime.call_soon(self.emit, "error", err)
            return False
        result: bool = ipc.send(message, handle, callback)
        return result

    @property
    def connected(self) -> bool:
        """Whether the channel to the cluster primary is open."""
        return self._ipc is not None and bool(self._ipc.connected)

    def disconnect(self) -> None:
        """Close the channel to the primary (``'disconnect'`` follows).

        Raises:
            ERR_IPC_DISCONNECTED: there is no open channel.
        """
        from .errors import ERR_IPC_DISCONNECTED

        if not self.connected:
            raise ERR_IPC_DISCONNECTED()
        self._ipc.channel.disconnect()

    @property
    def pid(self) -> int:
        """This process's id."""
        return os.getpid()

    @property
    def platform(self) -> str:
        """``sys.platform`` (``'linux'``, ``'darwin'``, ``'win32'``), as Node's."""
        return sys.platform

    @property
    def argv(self) -> list[str]:
        """``sys.argv``."""
        return sys.argv

    @property
    def env(self) -> os._Environ[str]:
        """``os.environ``."""
        return os.environ

    @staticmethod
    def next_tick(callback: Callable[..., object], *args: Any) -> None:
        """Same as :func:`nodish.timers.next_tick`."""
        from .timers import next_tick

        next_tick(callback, *args)

    def exit(self, code: int | None = None) -> NoReturn:
        """Emit ``'exit'`` and end the process with ``code`` (default: ``exit_code``).

        Raises:
            SystemExit: always; from a callback it ends ``run()`` at once.
        """
        if code is not None:
            self.exit_code = code
        runtime.guarded(None, self.emit, "exit", self.exit_code)
        runtime.exiting_from_task()
        raise SystemExit(self.exit_code)


process = Process()
"""The process emitter: ``process.on('uncaughtException', fn)``."""
