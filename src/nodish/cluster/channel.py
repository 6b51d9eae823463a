"""One end of a cluster IPC channel: a Unix socketpair watched by the loop.

Theory of operation
-------------------
Frames (``framing.py``) go out with ``sendmsg``; a message that carries a handle is
wrapped as Node wraps it, ``{"cmd": "NODE_HANDLE", "type": ..., "msg": message}``, and
its descriptor rides as ``SCM_RIGHTS`` on the first byte of the frame (the kernel
duplicates it into the receiving process when the bytes are queued, so the sender may
close its copy as soon as ``sendmsg`` returns). Writes that do not fit go to a FIFO
flushed when the socket is writable again; a send callback runs once its whole frame
is in the kernel.

Reading uses ``recvmsg`` from a loop reader callback (asyncio's transports drop
ancillary data, so the channel cannot be one). Received descriptors queue in a FIFO
and each ``NODE_HANDLE`` frame takes the next one; a descriptor nobody claims is closed
with the channel.

The channel is an unreferenced handle by default (Node's ``process.channel`` too):
it keeps the process alive only while its owner refs it. ``disconnect()`` stops new
sends, lets queued frames go out, then closes; the peer reads EOF. A malformed or
oversize frame, or a socket error, closes the channel with that error.
"""

from __future__ import annotations

import array
import asyncio
import errno as _errno
import itertools
import os
import socket as _socket
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import ERR_IPC_BAD_MESSAGE, ERR_IPC_CHANNEL_CLOSED, NodeError
from .framing import DEFAULT_MAX_MESSAGE, Decoder, encode

__all__ = ["Channel"]

# How many descriptors one recvmsg may carry: a handle per message, frames are small.
_MAX_FDS = 64
# Frames written by one sendmsg at most (so at most _MAX_FDS descriptors).
_BATCH = _MAX_FDS
_RECV_SIZE = 256 * 1024

OnMessage = Callable[[Any, "tuple[str, int] | None"], None]
OnClose = Callable[["BaseException | None"], None]


class Channel:
    """An IPC channel over a connected ``AF_UNIX`` ``SOCK_STREAM`` socket.

    Args:
        sock: this end of the socketpair (the channel owns it from now on).
        on_message: called with ``(message, handle)``; ``handle`` is ``(type, fd)``
            for a message that carried a descriptor (the callee owns the fd), else None.
        on_close: called once with the error that closed the channel, or None.
    """

    __slots__ = (
        "_closing",
        "_corked",
        "_decoder",
        "_fds",
        "_handle",
        "_loop",
        "_on_close",
        "_on_message",
        "_queue",
        "_sock",
        "_writing",
        "connected",
    )

    def __init__(
        self,
        sock: _socket.socket,
        on_message: OnMessage,
        on_close: OnClose,
        *,
        max_message: int = DEFAULT_MAX_MESSAGE,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._loop = loop or runtime.get_loop()
        sock.setblocking(False)
        self._sock = sock
        self._on_message = on_message
        self._on_close = on_close
        self._decoder = Decoder(max_message)
        self._fds: deque[int] = deque()
        self._queue: deque[list[Any]] = deque()
        self._writing = False
        self._closing = False
        self._corked = 0
        self.connected = True
        self._handle = runtime.HandleRef(self._loop, self.disconnect)
        self._handle.unref()
        self._handle.open()
        self._loop.add_reader(sock.fileno(), self._on_readable)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop watching the channel."""
        return self._loop

    # ------------------------------------------------------------------ sending

    def send(
        self,
        message: Any,
        handle: tuple[str, int] | None = None,
        callback: Callable[[BaseException | None], Any] | None = None,
    ) -> bool:
        """Queue ``message`` (with ``handle`` = ``(type, fd)``, sent as a duplicate).

        Returns False when the channel is closed (the callback then gets
        ``ERR_IPC_CHANNEL_CLOSED``) or its queue is long (Node's backpressure hint).

        Raises:
            ERR_INVALID_ARG_TYPE: the message is not JSON-serialisable.
        """
        if handle is not None:
            message = {"cmd": "NODE_HANDLE", "type": handle[0], "msg": message}
        return self.send_frame(encode(message), handle, callback)

    def send_frame(
        self,
        frame: bytes,
        handle: tuple[str, int] | None = None,
        callback: Callable[[BaseException | None], Any] | None = None,
        *,
        batch: bool = False,
    ) -> bool:
        """Queue an encoded frame (the hot paths build theirs from templates). A
        ``batch`` frame waits while the channel is corked; any other goes out at once,
        with whatever waits before it."""
        if not self.connected or self._closing:
            if callback is not None:
                runtime.call_soon(callback, ERR_IPC_CHANNEL_CLOSED())
            return False
        fds = [handle[1]] if handle is not None else None
        self._queue.append([memoryview(frame), fds, callback])
        if not self._writing and not (batch and self._corked):
            self._flush()
        return len(self._queue) < 1024

    def cork(self) -> None:
        """Hold ``batch`` frames until :meth:`uncork` (as many times as corked), then
        send them with one ``sendmsg``: the answers to one read, or the connections of
        one accept batch, cost the peer one wake-up instead of one each. (A channel is
        also corked while it dispatches what one read brought.)"""
        self._corked += 1

    def uncork(self) -> None:
        """Send what was held since :meth:`cork`."""
        self._corked -= 1
        if not self._corked and self._queue and not self._writing and self.connected:
            self._flush()

    def _flush(self) -> None:
        queue = self._queue
        sock = self._sock
        while queue:
            # Frames queued while the socket was full go out together, their
            # descriptors on the first byte of the batch: the receiver has them all
            # before it reads the frames they belong to.
            batch = list(itertools.islice(queue, _BATCH))
            fds = [fd for entry in batch if entry[1] for fd in entry[1]]
            try:
                if fds:
                    anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _pack_fds(fds))]
                    n = sock.sendmsg([entry[0] for entry in batch], anc)
                else:
                    n = sock.sendmsg([entry[0] for entry in batch])
            except (BlockingIOError, InterruptedError):
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(sock.fileno(), self._flush)
                return
            except (BrokenPipeError, ConnectionResetError):
                self._peer_gone()  # an end, not a failure
                return
            except OSError as exc:
                self._close(exc)
                return
            for entry in batch:
                entry[1] = None  # in the kernel now, whatever part of the bytes went
            while n:
                entry = queue[0]
                size = len(entry[0])
                if n < size:
                    entry[0] = entry[0][n:]
                    break
                n -= size
                queue.popleft()
                cb = entry[2]
                if cb is not None:
                    runtime.call_soon(cb, None)
        if self._writing:
            self._writing = False
            self._loop.remove_writer(sock.fileno())
        if self._closing:
            self._close(None)

    # ------------------------------------------------------------------ receiving

    def _on_readable(self) -> None:
        self._read_once()

    def _read_once(self) -> bool:
        """Read and dispatch one chunk; False when nothing was there to read."""
        try:
            data, ancdata, flags, _addr = self._sock.recvmsg(
                _RECV_SIZE, _socket.CMSG_SPACE(_MAX_FDS * 4), _socket.MSG_CMSG_CLOEXEC
            )
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionResetError:
            self._close(None)  # the peer died with bytes unread: an end like EOF
            return False
        except OSError as exc:
            self._close(exc)
            return False
        for level, kind, payload in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                n = len(payload) - len(payload) % 4
                self._fds.extend(memoryview(payload[:n]).cast("i"))
        if flags & _socket.MSG_CTRUNC:
            # descriptors were dropped (this process is out of them): the next
            # handles would be paired with the wrong messages, so stop here
            self._close(OSError(_errno.EMFILE, "IPC channel: received descriptors lost"))
            return False
        if not data:
            self._close(None)
            return False
        failed: BaseException | None = None
        try:
            messages = self._decoder.feed(data)
        except NodeError as exc:
            # what came before the bad frame is delivered, then the channel closes
            messages, failed = getattr(exc, "messages", []), exc
        self._corked += 1  # the batch frames answering one read go out in one write
        try:
            self._dispatch(messages)
        finally:
            self.uncork()
        if failed is not None:
            self._close(failed)
            return False
        if self._fds and self.connected and not self._decoder.buffered:
            # every frame of this read is in, yet descriptors are left: the peer sent
            # them without their handle messages, so they would go with the wrong ones
            self._close(
                ERR_IPC_BAD_MESSAGE("IPC channel: a descriptor came without its handle message")
            )
            return False
        return self.connected

    def _dispatch(self, messages: list[Any]) -> None:
        for msg in messages:
            if not self.connected:
                return
            handle: tuple[str, int] | None = None
            if type(msg) is dict and msg.get("cmd") == "NODE_HANDLE":
                htype = msg.get("type")
                if not self._fds or not isinstance(htype, str):
                    # a handle message whose descriptor never came (or of no type):
                    # the descriptors and messages are out of step from here on
                    self._close(
                        ERR_IPC_BAD_MESSAGE(
                            "IPC channel: a handle message came without its descriptor"
                        )
                    )
                    return
                handle = (htype, self._fds.popleft())
                msg = msg.get("msg")
            try:
                self._on_message(msg, handle)
            except BaseException as exc:
                runtime.report_uncaught(exc, None)

    # ------------------------------------------------------------------ lifetime

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move the channel to ``loop`` (a worker opens its channel at start-up, on
        nodish's default loop; a script that then runs its own loop, ``asyncio.run``,
        gets the channel moved there the first time it is used from that loop)."""
        if loop is self._loop or not self.connected:
            return
        fd = self._sock.fileno()
        old = self._loop
        if not old.is_closed():
            old.remove_reader(fd)
            if self._writing:
                old.remove_writer(fd)
        refed = self._handle.refed
        self._handle.close()
        self._loop = loop
        self._handle = runtime.HandleRef(loop, self.disconnect)
        if not refed:
            self._handle.unref()
        self._handle.open()
        loop.add_reader(fd, self._on_readable)
        if self._writing:
            loop.add_writer(fd, self._flush)

    def ref(self) -> None:
        """Keep the process alive while the channel is open."""
        self._handle.ref()

    def unref(self) -> None:
        """Let the process exit although the channel is open (the default)."""
        self._handle.unref()

    def disconnect(self) -> None:
        """Close after the queued frames have gone out; the peer sees EOF."""
        if not self.connected or self._closing:
            return
        self._closing = True
        if not self._queue:
            self._close(None)

    def _peer_gone(self) -> None:
        """A write found the peer gone. What it wrote before going still counts (the
        replies its side sent, say "accepted"): read it from the loop, in order, then
        close. Sending stops now."""
        self._closing = True
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._sock.fileno())
        self._loop.call_soon(self._read_rest)

    def _read_rest(self) -> None:
        self.read_to_end()
        self._close(None)

    def read_to_end(self) -> None:
        """Read what the peer has written so far, now (up to EOF for a dead peer)."""
        while self.connected and self._read_once():
            pass

    def _close(self, err: BaseException | None) -> None:
        if not self.connected:
            return
        self.connected = False
        fd = self._sock.fileno()
        self._loop.remove_reader(fd)
        if self._writing:
            self._writing = False
            self._loop.remove_writer(fd)
        try:
            self._sock.close()
        except OSError:
            pass  # EBADF: the descriptor was closed behind our back (os.close by hand)
        while self._fds:
            _close_fd(self._fds.popleft())
        pending, self._queue = self._queue, deque()
        for entry in pending:
            if entry[2] is not None:
                runtime.call_soon(entry[2], ERR_IPC_CHANNEL_CLOSED())
        self._handle.close()
        try:
            self._on_close(err)
        except BaseException as exc:
            runtime.report_uncaught(exc, None)


def _pack_fds(fds: list[int]) -> bytes:
    return array.array("i", fds).tobytes()


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
