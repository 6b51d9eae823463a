"""A silent worker's stdout and stderr, read in the primary.

Theory of operation
-------------------
``setup_primary(silent=True)`` gives each worker a pipe for its stdout and one for its
stderr (Node's ``stdio: 'pipe'``), and the primary reads them on its loop into a
:class:`WorkerOutput` each: ``worker.process.stdout`` and ``worker.process.stderr``,
Node's ``ChildProcess`` streams. They are Readables of bytes: ``'data'`` in the order
the worker wrote, ``'end'`` once every writer has closed the pipe (the worker exited,
and any process it started that inherited the pipe), then ``'close'``. Without
``silent`` the worker inherits the primary's stdout and stderr, and both are None.

A worker never waits on output nobody reads. Node differs here: its pipe fills and
the child blocks in ``write()`` until the parent reads, so a chatty silent worker
whose output is ignored hangs. Until a stream has a consumer (``readable_flowing`` is
None: no ``'data'`` or ``'readable'`` listener, no ``pipe()``, ``resume()`` or async
iteration) the primary keeps reading the pipe and holds up to :data:`UNREAD_LIMIT`
bytes unread; the rest is discarded, and logged once per stream. A consumer that comes
later gets what was held, then the output that follows. Once consumed, a stream follows
Node's flow control: while it is paused past its high water mark (``pause()``, or a
``pipe()`` destination that is full) the primary stops reading the pipe, and a worker
that fills the pipe waits, as in Node. ``destroy()`` closes the pipe: the worker's
next write to it fails (``BrokenPipeError`` in Python).

The pipe is a referenced handle until its end: the primary does not exit with a
worker's last output unread.
"""

from __future__ import annotations

import errno as _errno
import logging
import os
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import system_error
from ..stream import Readable

__all__ = ["UNREAD_LIMIT", "WorkerOutput"]

logger = logging.getLogger("nodish")

UNREAD_LIMIT = 1024 * 1024
"""Bytes of a worker's stdout (or stderr) the primary holds while nobody reads it."""

_CHUNK = 64 * 1024


class WorkerOutput(Readable):
    """A worker's stdout or stderr in the primary (``silent=True``): a Readable of
    bytes. ``name`` says whose (``"worker 3's stdout"``), for the log."""

    __slots__ = ("_discarded", "_fd", "_handle", "_loop", "_watching", "name")

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self.name = name
        self._fd = fd
        self._discarded = 0
        os.set_blocking(fd, False)
        self._loop = runtime.get_loop()
        self._handle = runtime.HandleRef(self._loop, self.destroy)
        self._handle.open()
        self._watching = False
        self._watch()

    def _watch(self) -> None:
        if not self._watching and self._fd >= 0:
            self._watching = True
            self._loop.add_reader(self._fd, self._on_readable)

    def _unwatch(self) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_reader(self._fd)

    def _read(self, size: int) -> None:
        self._watch()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, _CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._release()
            self.destroy(system_error(exc.errno or _errno.EIO, "read"))
            return
        if not data:
            self._release()
            self.push(None)
            return
        if self.readable_flowing is None:
            # nobody reads this stream (yet): hold some, never stop the worker
            room = UNREAD_LIMIT - self.readable_length
            if len(data) > room:
                self._discard(len(data) - max(room, 0))
                data = data[: max(room, 0)]
                if not data:
                    return
            self.push(data)
        elif not self.push(data):
            self._unwatch()  # the consumer is behind: _read() watches again

    def _discard(self, n: int) -> None:
        if not self._discarded:
            logger.warning(
                "cluster: %s is not read: output past %d bytes held is discarded"
                " (add a 'data' listener, or pipe() it)",
                self.name,
                UNREAD_LIMIT,
            )
        self._discarded += n

    @property
    def discarded(self) -> int:
        """Bytes thrown away while nobody read this stream."""
        return self._discarded

    def _release(self) -> None:
        if self._fd >= 0:
            self._unwatch()
            os.close(self._fd)
            self._fd = -1
            self._handle.close()

    def _destroy(self, err: BaseException | None, callback: Callable[..., Any]) -> None:
        self._release()
        callback(err)

    def __repr__(self) -> str:
        return f"<WorkerOutput {self.name}>"
