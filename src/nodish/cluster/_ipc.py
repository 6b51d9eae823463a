"""The cluster protocol over one channel, shared by the primary and the worker side.

Node's ``lib/internal/cluster/utils.js`` in Python: internal requests are
``{"cmd": "NODE_CLUSTER", "act": ..., "seq": n}`` and a reply carries ``"ack": n``,
which routes it to the callback registered with the request. Other ``NODE_*``
messages are internal too; anything else is the user's and becomes a ``'message'``
event.

A user message may carry a handle (an accepted ``net.Socket``); turning the received
descriptor back into a Socket takes a turn of the loop, so user messages are delivered
through a FIFO that holds later messages until the handle in front is ready: the
receiver sees them in the order they were sent.
"""

from __future__ import annotations

import asyncio
import os
import socket as _socket
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import ERR_INVALID_HANDLE_TYPE
from .channel import Channel

__all__ = ["Endpoint", "adopt_handle", "export_handle"]

Reply = Callable[[dict[str, Any], "tuple[str, int] | None"], Any]


class _Adopted:
    """Stands in as the 'server' of a socket received from another process: the
    socket is already connected, so it must not emit ``'connect'``."""

    @staticmethod
    def _accepted(sock: Any) -> bool:
        return True

    @staticmethod
    def _released(sock: Any) -> None:
        return None


ADOPTED = _Adopted()


def export_handle(handle: Any) -> tuple[str, int, Callable[[], None]]:
    """``(type, fd, after_send)`` for a handle a user passes to ``send()``.

    The descriptor is a duplicate, closed by ``after_send``. A ``net.Socket`` is then
    destroyed in the sender, as Node does (``keepOpen`` false); a listening
    ``net.Server`` and a bound ``dgram.Socket`` stay open in both processes.

    Raises:
        ERR_INVALID_HANDLE_TYPE: not a connected ``net.Socket``, a listening
            ``net.Server`` with a socket of its own, or a bound ``dgram.Socket``.
    """
    from ..dgram.socket import Socket as UdpSocket
    from ..net.server import Server
    from ..net.socket import Socket

    raw: Any = None
    kind = ""
    if isinstance(handle, Socket):
        raw, kind = handle._raw_socket(), "net.Socket"
    elif isinstance(handle, Server):
        # a round-robin server in a worker has no socket of its own: nothing to send
        sockets = getattr(handle._aserver, "sockets", None)
        raw, kind = (sockets[0] if sockets else None), "net.Server"
    elif isinstance(handle, UdpSocket):
        raw, kind = (handle._sock if handle._transport is not None else None), "dgram.Socket"
    if raw is None:
        raise ERR_INVALID_HANDLE_TYPE()
    fd = os.dup(raw.fileno())

    def after_send() -> None:
        os.close(fd)
        if kind == "net.Socket":
            handle.destroy()

    return kind, fd, after_send


async def adopt_handle(kind: str, fd: int) -> Any:
    """The object for a received handle: a connected ``net.Socket``, a listening
    ``net.Server`` or a bound ``dgram.Socket`` (the user adds its listeners)."""
    raw = _socket.socket(fileno=fd)
    try:
        if kind == "net.Socket":
            from ..net.socket import Socket

            sock = Socket(_server=ADOPTED)
            await runtime.get_loop().connect_accepted_socket(lambda: sock, sock=raw)
            return sock
        if kind == "net.Server":
            from ..net.server import Server

            server = Server()
            return await server._listen_adopted(raw)
        if kind == "dgram.Socket":
            from ..dgram import create_socket

            udp = create_socket("udp6" if raw.family == _socket.AF_INET6 else "udp4")
            return await udp._bind_adopted(raw)
    except BaseException:
        raw.close()
        raise
    raw.close()
    return None


class Endpoint:
    """One side of a worker's channel speaking the cluster protocol.

    Args:
        sock: this end of the socketpair.
        on_internal: ``(message, handle)`` for internal messages that are not replies.
        on_user: ``(message, handle_object)`` for the user's messages, in order.
        on_close: ``(error)`` once the channel has closed.
    """

    __slots__ = (
        "_callbacks",
        "_inbox",
        "_on_internal",
        "_on_user",
        "_seq",
        "before_send",
        "channel",
    )

    def __init__(
        self,
        sock: _socket.socket,
        on_internal: Reply,
        on_user: Callable[[Any, Any], Any],
        on_close: Callable[[BaseException | None], Any],
    ) -> None:
        self._seq = 0
        self._callbacks: dict[int, Reply] = {}
        self._inbox: deque[list[Any]] = deque()
        self._on_internal = on_internal
        self._on_user = on_user
        self.channel = Channel(sock, self._received, on_close)
        # called before each user send (a worker moves its channel to the running loop)
        self.before_send: Callable[[], Any] | None = None

    @property
    def connected(self) -> bool:
        return self.channel.connected

    def request(
        self,
        message: dict[str, Any],
        handle: tuple[str, int] | None = None,
        callback: Reply | None = None,
    ) -> None:
        """Send an internal message (Node's ``sendHelper``); ``callback`` gets the reply."""
        seq = self._seq
        self._seq = seq + 1
        msg = {"cmd": "NODE_CLUSTER", **message, "seq": seq}
        if callback is not None:
            self._callbacks[seq] = callback
        self.channel.send(msg, handle)

    def request_frame(
        self,
        head: bytes,
        tail: bytes,
        handle: tuple[str, int] | None = None,
        callback: Reply | None = None,
        sent: Callable[[BaseException | None], Any] | None = None,
    ) -> None:
        """:meth:`request` for a frame prebuilt as ``head + seq + tail`` (the per-connection
        round-robin messages, built once per server instead of encoded each time);
        ``sent(err)`` once the frame is in the kernel (or could not be sent). The frame
        is a ``batch`` one: it waits while the channel is corked."""
        seq = self._seq
        self._seq = seq + 1
        if callback is not None:
            self._callbacks[seq] = callback
        self.channel.send_frame(head + str(seq).encode() + tail, handle, sent, batch=True)

    def send(self, message: Any, handle: Any = None, callback: Any = None) -> bool:
        """Send a user message, with an optional ``net.Socket`` handle.

        Raises:
            ERR_INVALID_THREAD: called from a thread other than the channel's loop's.
        """
        loop = self.channel.loop
        if not runtime.on_loop(loop):
            runtime.check_thread(loop, "cluster send()")
        if self.before_send is not None:
            self.before_send()
        if handle is None:
            return self.channel.send(message, None, callback)
        kind, fd, after = export_handle(handle)

        def sent(err: BaseException | None) -> None:
            after()
            if callback is not None:
                callback(err)

        try:
            return self.channel.send(message, (kind, fd), sent)
        except BaseException:
            os.close(fd)  # not sent (the message cannot be serialised): keep the socket
            raise

    def _received(self, msg: Any, handle: tuple[str, int] | None) -> None:
        if type(msg) is dict:
            cmd = msg.get("cmd")
            if cmd == "NODE_CLUSTER":
                ack = msg.get("ack")
                cb = self._callbacks.pop(ack, None) if ack is not None else None
                (cb or self._on_internal)(msg, handle)
                return
            if isinstance(cmd, str) and cmd.startswith(("NODE_", "NODISH_")):
                self._on_internal(msg, handle)
                return
        if handle is None and not self._inbox:
            self._on_user(msg, None)
            return
        entry: list[Any] = [msg, None, handle is None]
        self._inbox.append(entry)
        if handle is not None:
            task = runtime.get_loop().create_task(adopt_handle(*handle))
            task.add_done_callback(lambda t: self._adopted(entry, t))
        self._pump()

    def _adopted(self, entry: list[Any], task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is None:
            entry[1] = task.result()
        entry[2] = True
        self._pump()

    def _pump(self) -> None:
        inbox = self._inbox
        while inbox and inbox[0][2]:
            msg, obj, _ = inbox.popleft()
            runtime.guarded(None, self._on_user, msg, obj)

    def fail_pending(self) -> list[Reply]:
        """The reply callbacks still waiting (the channel closed): taken out."""
        pending = list(self._callbacks.values())
        self._callbacks.clear()
        return pending
