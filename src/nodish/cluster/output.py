r"""A silent worker's stdin, stdout and stderr, as the primary holds them.

Theory of operation
-------------------
``setup_primary(silent=True)`` gives each worker a pipe for each of its stdin, stdout
and stderr (Node's ``stdio: 'pipe'``), as Node's ``ChildProcess`` streams:
``worker.process.stdin`` is a :class:`WorkerInput` (a Writable: ``end()`` gives the
worker EOF), ``worker.process.stdout`` and ``worker.process.stderr`` are
:class:`WorkerOutput`\ s, read on the primary's loop: Readables of bytes, ``'data'`` in
the order the worker wrote, ``'end'`` once every writer has closed the pipe (the worker
exited, and any process it started that inherited the pipe), then ``'close'``. Without
``silent`` the worker inherits the primary's stdin, stdout and stderr, and all three
are None.

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

An output pipe is a referenced handle until its end: the primary does not exit with
a worker's last output unread. The stdin pipe keeps the primary alive only while a
write waits for the worker to read (as an idle libuv pipe); as in Node, a write to a
worker that has closed its stdin fails with ``EPIPE`` (``'error'``), and the stream is
destroyed when the worker exits.
"""

from __future__ import annotations

import errno as _errno
import logging
import os
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import system_error
from ..stream import Readable, Writable

__all__ = ["UNREAD_LIMIT", "WorkerInput", "WorkerOutput"]

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


class WorkerInput(Writable):
    """A worker's stdin in the primary (``silent=True``): a Writable; ``end()``
    closes the pipe, and the worker reads EOF."""

    __slots__ = ("_fd", "_handle", "_loop", "_pending", "name")

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self.name = name
        self._fd = fd
        os.set_blocking(fd, False)
        self._loop = runtime.get_loop()
        self._handle = runtime.HandleRef(self._loop, self.destroy)
        # what is left of the chunk being written, and its callback
        self._pending: tuple[memoryview, Callable[..., Any]] | None = None

    def _write(self, chunk: Any, encoding: str, callback: Callable[..., Any]) -> None:
        self._pending = (memoryview(chunk).cast("B"), callback)
        self._try_write()

    def _try_write(self) -> None:
        if self._pending is None or self._fd < 0:
            return
        data, callback = self._pending
        try:
            n = os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            self._idle()
            self._pending = None
            callback(system_error(exc.errno or _errno.EPIPE, "write"))
            return
        if n < len(data):
            # the worker is behind: wait for room in the pipe (that wait keeps us alive)
            self._pending = (data[n:], callback)
            if not self._handle.active:
                self._handle.open()
                self._loop.add_writer(self._fd, self._try_write)
            return
        self._idle()
        self._pending = None
        callback()

    def _idle(self) -> None:
        if self._handle.active:
            self._handle.close()
            self._loop.remove_writer(self._fd)

    def _final(self, callback: Callable[..., Any]) -> None:
        self._release()
        callback()

    def _release(self) -> None:
        if self._fd >= 0:
            self._idle()
            os.close(self._fd)
            self._fd = -1

    def _destroy(self, err: BaseException | None, callback: Callable[..., Any]) -> None:
        self._release()
        callback(err)

    def __repr__(self) -> str:
        return f"<WorkerInput {self.name}>"
