"""``nodish.process``: the process-wide emitter (``'uncaughtException'``, ``'SIGINT'``).

Only what the runtime needs from Node's ``process`` object lives here: the
``'uncaughtException'`` event that receives exceptions raised by callbacks, the
``'SIGINT'`` event that replaces the default Ctrl-C behaviour while it has a listener,
and ``next_tick``. Everything else of Node's ``process`` has a Python home already
(``os.environ``, ``sys.argv``, ``os.getpid()``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .events import EventEmitter

__all__ = ["Process", "process"]


class Process(EventEmitter):
    """The type of :data:`process`."""

    __slots__ = ()

    @property
    def pid(self) -> int:
        """This process's id."""
        return os.getpid()

    @property
    def platform(self) -> str:
        """``sys.platform`` (``'linux'``, ``'darwin'``, ``'win32'``), as Node's."""
        return sys.platform

    @staticmethod
    def next_tick(callback: Any, *args: Any) -> None:
        """Same as :func:`nodish.timers.next_tick`."""
        from .timers import next_tick

        next_tick(callback, *args)


process = Process()
"""The process emitter: ``process.on('uncaughtException', fn)``."""
