"""The server's end of one client in one namespace (socket.io's ``Socket``).

Theory of operation
-------------------
``emit`` sends to the client; events from the client arrive as local events, emitted
with :meth:`nodish.events.EventEmitter.emit` under the event's name, the client's
arguments first and, when the client asked for an acknowledgement, an ``ack``
callable last (Node's rule: the ack is the last argument). ``'disconnecting'`` and
``'disconnect'`` carry Node's reason strings (``'server namespace disconnect'``,
``'client namespace disconnect'``, ``'transport close'``, ``'transport error'``,
``'ping timeout'``, ``'parse error'``, ``'forced close'``, ``'forced server close'``,
``'server shutting down'``).

Acks this side asked for are kept in ``acks`` by id; the namespace hands out the ids so
that a broadcast with acks and a socket's own emits never share one. A listener that
raises goes to the uncaught path (``nodish.process``), and this socket alone is
disconnected.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import runtime, timers
from ..events import EventEmitter
from . import parser as sio
from .broadcast import AnyListeners, BroadcastOperator, check_callback, check_event, check_loop
from .engine_parser import MESSAGE

if TYPE_CHECKING:
    from ._client import Client
    from .namespace import Namespace
    from .server import Server

__all__ = ["Socket", "generate_id"]


def generate_id() -> str:
    """A fresh socket or session id: 20 URL-safe characters, like ``base64id``."""
    return secrets.token_urlsafe(15)


def js_date(t: float) -> str:
    """``new Date() + ""`` for a UTC clock: ``Mon Nov 30 2026 07:50:13 GMT+0000 (...)``."""
    return time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(t)
    )


class Socket(AnyListeners, EventEmitter):
    """One client connected to one namespace.

    Events: the client's events by name; ``'disconnecting'``(reason, description) while
    the socket is still in its rooms, ``'disconnect'``(reason, description) after;
    ``'error'``(err) when a socket middleware refuses an event.
    """

    def __init__(self, nsp: Namespace, client: Client, auth: Any) -> None:
        super().__init__()
        self.nsp = nsp
        self.server: Server = nsp.server
        self.adapter = nsp.adapter
        self.client = client
        self.id = generate_id()
        self.connected = False
        self.data: Any = {}
        self.acks: dict[int, Callable[..., Any]] = {}
        self._fns: list[Callable[..., Any]] = []
        self._any: list[Callable[..., Any]] = []
        self._flags: dict[str, Any] = {}
        self._cleaned = False
        self.handshake = self._build_handshake(auth)
        # socket.io adds a no-op 'error' listener so a refused event never throws
        self.on("error", _noop)

    def _build_handshake(self, auth: Any) -> dict[str, Any]:
        conn = self.client.conn
        req = conn.request
        now = time.time()
        headers = dict(req.headers)
        return {
            "headers": headers,
            "time": js_date(now),
            "address": conn.remote_address,
            "xdomain": "origin" in headers,
            "secure": bool(req.secure),
            "issued": int(now * 1000),
            "url": req.url,
            "query": dict(req.query),
            "auth": auth if auth is not None else {},
        }

    # properties --------------------------------------------------------------------
    @property
    def conn(self) -> Any:
        """The Engine.IO connection (``socket.conn.transport.name``...)."""
        return self.client.conn

    @property
    def request(self) -> Any:
        return self.client.conn.request

    @property
    def rooms(self) -> set[Any]:
        """The rooms this socket is in (its own id among them)."""
        return set(self.adapter.socket_rooms(self.id) or ())

    @property
    def disconnected(self) -> bool:
        return not self.connected

    # sending -----------------------------------------------------------------------
    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:  # type: ignore[override]
        """Send ``event`` with ``args`` to the client; ``callback`` gets its ack's arguments.

        After :meth:`timeout`, ``callback(err, *args)``: ``err`` is a
        :class:`TimeoutError` when the client did not answer in time, else None.
        """
        check_loop(self.server._loop, "socketio.Socket.emit()")
        check_event(event)
        check_callback(callback)
        flags = self._flags
        id = None
        if flags:
            self._flags = {}
        if callback is not None:
            id = self.nsp.next_ack_id()
        client = self.client
        if client.conn.ready_state == "open":
            # encoded first: a value JSON cannot carry raises here, with nothing registered
            encoded = sio.encode_parts(sio.EVENT, [event, *args], self.nsp.name, id)
            if id is not None:
                self._register_ack(id, callback, flags.get("timeout"))  # type: ignore[arg-type]
            client.write_to_engine(encoded, bool(flags.get("volatile")) if flags else False)
        elif id is not None:
            self._register_ack(id, callback, flags.get("timeout"))  # type: ignore[arg-type]
        return True

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and wait for the client's ack: its first argument.

        Raises :class:`TimeoutError` after ``timeout`` seconds (or the one set by
        :meth:`timeout`) without an answer.
        """
        if timeout is not None:
            self.timeout(timeout)
        with_err = "timeout" in self._flags
        fut: asyncio.Future[Any] = runtime.get_loop().create_future()

        def on_ack(*answer: Any) -> None:
            if fut.done():
                return
            if with_err:
                err, answer = (answer[0], answer[1:]) if answer else (None, ())
                if err is not None:
                    fut.set_exception(err)
                    return
            fut.set_result(answer[0] if answer else None)

        self.emit(event, *args, callback=on_ack)
        return await fut

    def _register_ack(self, id: int, callback: Callable[..., Any], timeout: float | None) -> None:
        if timeout is None:
            self.acks[id] = callback
            return

        def on_timeout() -> None:
            self.acks.pop(id, None)
            callback(TimeoutError("operation has timed out"))

        timer = timers.set_timeout(on_timeout, timeout)

        def answered(*args: Any) -> None:
            timer.close()
            callback(None, *args)

        self.acks[id] = answered

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> Socket:
        """``emit('message', *args)``."""
        self.emit("message", *args, callback=callback)
        return self

    write = send

    def _packet(self, packet: sio.Packet, volatile: bool = False) -> None:
        packet.nsp = self.nsp.name
        self.client.packet(packet, volatile)

    def timeout(self, seconds: float) -> Socket:
        """The next emit's callback gets ``(err, ...)`` and an error after ``seconds``."""
        self._flags["timeout"] = timers._delay(seconds)
        return self

    @property
    def volatile(self) -> Socket:
        self._flags["volatile"] = True
        return self

    def compress(self, compress: bool) -> Socket:
        self._flags["compress"] = compress
        return self

    # broadcasting from this socket --------------------------------------------------
    def _operator(self) -> BroadcastOperator:
        flags = self._flags
        self._flags = {}
        return BroadcastOperator(self.adapter, (), (self.id,), flags)

    def to(self, room: Any) -> BroadcastOperator:
        """Broadcast to ``room``, leaving this socket out."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: Any) -> BroadcastOperator:
        return self._operator().except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Every socket of the namespace but this one."""
        return self._operator()

    @property
    def local(self) -> BroadcastOperator:
        return self._operator().local

    # rooms ---------------------------------------------------------------------------
    def join(self, rooms: Any) -> None:
        """Join a room or a list of rooms."""
        check_loop(self.server._loop, "socketio.Socket.join()")
        if self._cleaned:
            return
        self.adapter.add_all(self.id, rooms if isinstance(rooms, (list, tuple, set)) else [rooms])

    def leave(self, room: Any) -> None:
        check_loop(self.server._loop, "socketio.Socket.leave()")
        self.adapter.delete(self.id, room)

    def leave_all(self) -> None:
        self.adapter.del_all(self.id)

    # receiving -----------------------------------------------------------------------
    def use(self, fn: Callable[..., Any]) -> Socket:
        """A middleware for incoming events: ``fn(event_args, next)``."""
        self._fns.append(fn)
        return self

    def _on_connect(self) -> None:
        self.connected = True
        self.join(self.id)
        self._packet(sio.Packet(sio.CONNECT, {"sid": self.id}))

    def _on_packet(self, packet: sio.Packet) -> None:
        type_ = packet.type
        if type_ == sio.EVENT:
            args = packet.data
            if packet.id is not None:
                args.append(_Ack(self, packet.id))
            if self._any:
                for listener in tuple(self._any):
                    listener(*args)
            if self._fns:
                self._dispatch(args)
                return
            listeners = self._events.get(args[0])
            if listeners is not None and len(listeners) == 1 and args[0] != "error":
                # emit()'s path for one listener, inline: every event passes here
                listeners[0](*args[1:])
            else:
                EventEmitter.emit(self, *args)
        elif type_ == sio.ACK:
            ack = self.acks.pop(packet.id, None)  # type: ignore[arg-type]
            if ack is not None:
                ack(*packet.data)
        elif type_ == sio.DISCONNECT:
            self._on_close("client namespace disconnect")

    def _dispatch(self, args: list[Any]) -> None:
        fns = list(self._fns)

        def run(i: int, err: Any = None) -> None:
            if err is not None:
                EventEmitter.emit(self, "error", err)
                return
            if i == len(fns):
                if self.connected:
                    EventEmitter.emit(self, *args)
                return
            fns[i](args, lambda err=None: run(i + 1, err))

        run(0)

    def _on_error(self, err: BaseException) -> None:
        EventEmitter.emit(self, "error", err)

    def _on_close(self, reason: str, description: Any = None) -> None:
        if not self.connected:
            return
        EventEmitter.emit(self, "disconnecting", reason, description)
        self._cleanup()
        self.client._remove(self)
        self.connected = False
        EventEmitter.emit(self, "disconnect", reason, description)

    def _cleanup(self) -> None:
        self.leave_all()
        self.nsp._remove(self)
        self._cleaned = True

    def _on_uncaught(self, exc: BaseException) -> None:
        # a listener of this socket raised: this socket alone is disconnected
        self.disconnect()

    def _error(self, data: Any) -> None:
        self._packet(sio.Packet(sio.CONNECT_ERROR, data))

    def disconnect(self, close: bool = False) -> Socket:
        """Leave the namespace; ``close=True`` closes the whole connection."""
        check_loop(self.server._loop, "socketio.Socket.disconnect()")
        if not self.connected:
            return self
        if close:
            self.client.disconnect_all()
        else:
            self._packet(sio.Packet(sio.DISCONNECT))
            self._on_close("server namespace disconnect")
        return self

    def __repr__(self) -> str:
        state = "" if self.connected else " disconnected"
        return f"<Socket {self.id} nsp={self.nsp.name!r}{state}>"


class _Ack:
    """The ``ack`` handed to a listener: answers the client's packet ``id``, once."""

    __slots__ = ("id", "socket")

    def __init__(self, socket: Socket, id: int) -> None:
        self.socket: Socket | None = socket
        self.id = id

    def __call__(self, *args: Any) -> None:
        socket = self.socket
        if socket is not None:
            self.socket = None
            conn = socket.client.conn
            if conn.ready_state == "open":
                nsp = socket.nsp.name
                text = sio.ack_text(nsp, self.id, args)
                if text is not None:
                    conn.send_packet(MESSAGE, text)  # the common ack: one text message
                    return
                for message in sio.encode_parts(sio.ACK, list(args), nsp, self.id):
                    conn.send_packet(MESSAGE, message)

    def __repr__(self) -> str:
        return f"<ack {self.id}>"


def _noop(*_: Any) -> None:
    pass
