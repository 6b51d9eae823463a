"""The Socket.IO client (``socket.io-client`` v4): ``connect(url)``, Manager and Socket.

Theory of operation
-------------------
``connect('http://host:port/chat')`` returns a :class:`ClientSocket` for namespace
``/chat`` at once and connects in the background, as ``io()`` does. Sockets to the
same server share one :class:`Manager` (one Engine.IO connection), unless
``force_new``. The manager owns reconnection: when the connection drops for any reason
but ``disconnect()``, it retries after ``reconnection_delay`` seconds, doubling up to
``reconnection_delay_max``, with ``randomization_factor`` of jitter, and each socket
sends its CONNECT again once the connection is back.

Events on a socket: ``'connect'``; ``'connect_error'``(err) when the server refuses
(``err.data`` holds what a middleware gave) or the connection cannot open;
``'disconnect'``(reason, description) with socket.io-client's reasons
(``'io server disconnect'``, ``'io client disconnect'``, ``'ping timeout'``,
``'transport close'``, ``'transport error'``, ``'parse error'``); and the server's
events by name, with an ``ack`` callable last when the server asked for one. Emits
made while disconnected are buffered and sent on connect (unless ``volatile``).
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import runtime, timers
from ..events import EventEmitter
from . import _options as opt
from . import parser as sio
from .broadcast import AnyListeners, check_callback, check_event, check_loop
from .engine_client import EngineClient

__all__ = ["ClientSocket", "ConnectError", "Manager", "connect"]


class ConnectError(Exception):
    """The server refused the connection to a namespace (``err.data`` from middleware)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class _Backoff:
    __slots__ = ("attempts", "factor", "jitter", "max", "min")

    def __init__(self, min: float, max: float, jitter: float) -> None:
        self.min, self.max, self.jitter = min, max, jitter
        self.factor = 2.0
        self.attempts = 0

    def duration(self) -> float:
        ms = self.min * self.factor**self.attempts
        self.attempts += 1
        if self.jitter:
            rand = random.random()
            deviation = rand * self.jitter * ms
            ms = ms - deviation if int(rand * 10) & 1 == 0 else ms + deviation
        return min(ms, self.max)

    def reset(self) -> None:
        self.attempts = 0


class Manager(EventEmitter):
    """One connection to a server, shared by the sockets of its namespaces.

    Events: ``'open'``, ``'error'``(err), ``'close'``(reason, description),
    ``'reconnect_attempt'``(n), ``'reconnect'``(n), ``'reconnect_error'``(err),
    ``'reconnect_failed'``, ``'packet'``(packet).
    """

    def __init__(
        self,
        uri: str,
        *,
        path: str = "/socket.io",
        transports: tuple[str, ...] | list[str] = ("polling", "websocket"),
        upgrade: bool = True,
        reconnection: bool = True,
        reconnection_attempts: float = float("inf"),
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        auto_connect: bool = True,
        query: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
        ca: Any = None,
        reject_unauthorized: bool = True,
        servername: str | None = None,
    ) -> None:
        super().__init__()
        # checked at once: a wrong one would otherwise break a later reconnection
        opt.string("path", path)
        transports = opt.transports("transports", transports)
        reconnection_attempts = opt.seconds(
            "reconnection_attempts", reconnection_attempts, allow_inf=True
        )
        reconnection_delay = opt.seconds("reconnection_delay", reconnection_delay)
        reconnection_delay_max = opt.seconds("reconnection_delay_max", reconnection_delay_max)
        randomization_factor = opt.fraction("randomization_factor", randomization_factor)
        timeout = opt.seconds("timeout", timeout)
        opt.mapping("query", query)
        opt.mapping("extra_headers", extra_headers)
        tls = opt.tls(ca, reject_unauthorized, servername)
        self.uri = uri
        self.opts = {
            "path": path,
            "transports": transports,
            "upgrade": upgrade,
            "query": query,
            "extra_headers": extra_headers,
            "tls": tls,
        }
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.timeout = timeout
        self.auto_connect = auto_connect
        self.backoff = _Backoff(reconnection_delay, reconnection_delay_max, randomization_factor)
        self.engine: EngineClient | None = None
        self._loop = runtime.get_loop()
        self.ready_state = "closed"
        self.nsps: dict[str, ClientSocket] = {}
        self.decoder = sio.Decoder()
        self._reconnecting = False
        self._skip_reconnect = False
        self._reconnect_timer: timers.Timeout | None = None
        self._open_timer: timers.Timeout | None = None

    # opening --------------------------------------------------------------------------
    def open(self, callback: Callable[[BaseException | None], Any] | None = None) -> Manager:
        """Open the connection (``callback(err)`` once open or failed)."""
        if "open" in self.ready_state:
            return self
        self._skip_reconnect = False
        engine = EngineClient(self.uri, **self.opts)  # type: ignore[arg-type]
        self.engine = engine
        self.ready_state = "opening"

        def on_open() -> None:
            self._clear_open_timer()
            engine.remove_listener("error", on_error)
            self._on_open()
            if callback is not None:
                callback(None)

        def on_error(err: BaseException) -> None:
            self._clear_open_timer()
            engine.remove_listener("open", on_open)
            self._cleanup_engine()
            self.ready_state = "closed"
            self.emit("error", err)
            if callback is not None:
                callback(err)
            else:
                self._maybe_reconnect_on_open()

        engine.once("open", on_open)
        engine.once("error", on_error)
        if self.timeout:

            def on_timeout() -> None:
                self._open_timer = None
                engine.remove_listener("open", on_open)
                engine.remove_listener("error", on_error)
                engine.close()
                on_error(TimeoutError("timeout"))

            self._open_timer = timers.set_timeout(on_timeout, self.timeout)
        return self

    connect = open

    def _clear_open_timer(self) -> None:
        if self._open_timer is not None:
            self._open_timer.close()
            self._open_timer = None

    def _maybe_reconnect_on_open(self) -> None:
        if not self._reconnecting and self.reconnection and self.backoff.attempts == 0:
            self._reconnect()

    def _on_open(self) -> None:
        engine = self.engine
        assert engine is not None
        self.ready_state = "open"
        self.decoder = sio.Decoder()
        engine.on("data", self._on_data)
        engine.on("error", self._on_engine_error)
        engine.on("close", self._on_close)
        self.emit("open")

    def _on_data(self, data: str | bytes) -> None:
        try:
            packet = self.decoder.add(data)
        except sio.SocketIOParseError:
            self._on_close("parse error")
            return
        if packet is not None:
            self.emit("packet", packet)

    def _on_engine_error(self, err: BaseException) -> None:
        self.emit("error", err)

    def socket(self, nsp: str, auth: Any = None) -> ClientSocket:
        """The socket of namespace ``nsp`` on this connection (made on first use)."""
        socket = self.nsps.get(nsp)
        if socket is None:
            socket = ClientSocket(self, nsp, auth)
            self.nsps[nsp] = socket
        elif self.auto_connect and not socket.active:
            socket.connect()
        return socket

    def _destroy(self, socket: ClientSocket) -> None:
        if any(s.active for s in self.nsps.values()):
            return
        self._close()

    def packet(self, packet: sio.Packet) -> None:
        engine = self.engine
        if engine is None:
            return
        for message in sio.encode(packet):
            engine.write(message)

    # closing and reconnecting ---------------------------------------------------------------
    def _cleanup_engine(self) -> None:
        engine = self.engine
        if engine is not None:
            engine.remove_listener("data", self._on_data)
            engine.remove_listener("error", self._on_engine_error)
            engine.remove_listener("close", self._on_close)
        self.decoder.destroy()

    def _close(self) -> None:
        self._skip_reconnect = True
        self._reconnecting = False
        if self._reconnect_timer is not None:
            self._reconnect_timer.close()
            self._reconnect_timer = None
        self._clear_open_timer()
        engine = self.engine
        self._on_close("forced close")
        if engine is not None:
            engine.close()

    disconnect = _close

    def _on_close(self, reason: str, description: Any = None) -> None:
        if self.ready_state == "closed":
            return
        was_open = self.ready_state == "open"
        self._cleanup_engine()
        engine = self.engine
        if engine is not None:
            engine.remove_all_listeners("open")
            engine.remove_all_listeners("error")
            engine.on("error", lambda *_: None)
            engine.close()
        self.backoff.reset()
        self.ready_state = "closed"
        if was_open:
            self.emit("close", reason, description)
        if self.reconnection and not self._skip_reconnect:
            self._reconnect()

    def _reconnect(self) -> None:
        if self._reconnecting or self._skip_reconnect:
            return
        if self.backoff.attempts >= self.reconnection_attempts:
            self.backoff.reset()
            self.emit("reconnect_failed")
            self._reconnecting = False
            return
        delay = self.backoff.duration()
        self._reconnecting = True

        def attempt() -> None:
            self._reconnect_timer = None
            if self._skip_reconnect:
                return
            self.emit("reconnect_attempt", self.backoff.attempts)
            if self._skip_reconnect:
                return

            def opened(err: BaseException | None) -> None:
                if err is not None:
                    self._reconnecting = False
                    self._reconnect()
                    self.emit("reconnect_error", err)
                else:
                    attempts = self.backoff.attempts
                    self._reconnecting = False
                    self.backoff.reset()
                    self.emit("reconnect", attempts)

            self.open(opened)

        self._reconnect_timer = timers.set_timeout(attempt, delay)


class ClientSocket(AnyListeners, EventEmitter):
    """The client's end of one namespace (socket.io-client's ``Socket``)."""

    def __init__(self, io: Manager, nsp: str, auth: Any = None) -> None:
        super().__init__()
        self.io = io
        self.nsp = nsp
        self.auth = auth
        self.id: str | None = None
        self.connected = False
        self.acks: dict[int, Callable[..., Any]] = {}
        self._ids = 0
        self._send_buffer: list[list[str | bytes]] = []
        self._flags: dict[str, Any] = {}
        self._any: list[Callable[..., Any]] = []
        self._subs: list[tuple[str, Callable[..., Any]]] = []
        if io.auto_connect:
            self.connect()

    @property
    def disconnected(self) -> bool:
        return not self.connected

    @property
    def active(self) -> bool:
        """Whether the socket is subscribed to its manager (connected or trying)."""
        return bool(self._subs)

    def connect(self) -> ClientSocket:
        """Connect (or reconnect after :meth:`disconnect`)."""
        check_loop(self.io._loop, "socketio.ClientSocket.connect()")
        if self.connected:
            return self
        self._subscribe()
        if not self.io._reconnecting:
            self.io.open()
        if self.io.ready_state == "open":
            self._on_open()
        return self

    open = connect

    def _subscribe(self) -> None:
        if self._subs:
            return
        io = self.io
        self._subs = [
            ("open", self._on_open),
            ("packet", self._on_packet),
            ("error", self._on_error),
            ("close", self._on_io_close),
        ]
        for event, fn in self._subs:
            io.on(event, fn)

    def _unsubscribe(self) -> None:
        for event, fn in self._subs:
            self.io.remove_listener(event, fn)
        self._subs = []

    # manager events --------------------------------------------------------------------
    def _on_open(self) -> None:
        auth = self.auth
        if callable(auth):
            auth(lambda data: self._send_connect(data))
        else:
            self._send_connect(auth)

    def _send_connect(self, data: Any) -> None:
        self.io.packet(sio.Packet(sio.CONNECT, data if data else None, self.nsp))

    def _on_error(self, err: BaseException) -> None:
        if not self.connected:
            EventEmitter.emit(self, "connect_error", err)

    def _on_close(self, reason: str, description: Any = None) -> None:
        was = self.connected
        self.connected = False
        self.id = None
        if was:
            EventEmitter.emit(self, "disconnect", reason, description)

    def _on_io_close(self, reason: str, description: Any = None) -> None:
        # as socket.io-client: 'disconnect' even when the namespace never connected (the
        # server closed the connection while its middleware had not answered)
        self.connected = False
        self.id = None
        EventEmitter.emit(self, "disconnect", reason, description)

    def _on_packet(self, packet: sio.Packet) -> None:
        if packet.nsp != self.nsp:
            return
        t = packet.type
        if t == sio.CONNECT:
            data = packet.data
            if isinstance(data, dict) and isinstance(data.get("sid"), str):
                self._on_connect(data["sid"])
            else:
                EventEmitter.emit(self, "connect_error", ConnectError("invalid CONNECT packet"))
        elif t == sio.EVENT:
            if self.connected:
                args = packet.data
                if packet.id is not None:
                    args.append(self._ack(packet.id))
                for listener in tuple(self._any):
                    runtime.guarded(self, listener, *args)
                runtime.guarded(self, EventEmitter.emit, self, *args)
        elif t == sio.ACK:
            ack = self.acks.pop(packet.id, None)  # type: ignore[arg-type]
            if ack is not None:
                runtime.guarded(self, ack, *packet.data)
        elif t == sio.DISCONNECT:
            self._destroy()
            self._on_close("io server disconnect")
        elif t == sio.CONNECT_ERROR:
            self._destroy()
            data = packet.data
            if isinstance(data, dict):
                err = ConnectError(str(data.get("message")), data.get("data"))
            else:
                err = ConnectError(str(data))
            EventEmitter.emit(self, "connect_error", err)

    def _on_connect(self, sid: str) -> None:
        self.id = sid
        self.connected = True
        buffered, self._send_buffer = self._send_buffer, []
        engine = self.io.engine
        if engine is not None:
            for messages in buffered:
                for message in messages:
                    engine.write(message)
        EventEmitter.emit(self, "connect")

    def _ack(self, id: int) -> Callable[..., None]:
        sent = False

        def ack(*args: Any) -> None:
            nonlocal sent
            if sent:
                return
            sent = True
            self.io.packet(sio.Packet(sio.ACK, list(args), self.nsp, id))

        return ack

    # sending ----------------------------------------------------------------------------------
    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:  # type: ignore[override]
        """Send ``event`` to the server; ``callback`` gets the server's ack arguments."""
        check_loop(self.io._loop, "socketio.ClientSocket.emit()")
        check_event(event)
        check_callback(callback)
        flags, self._flags = self._flags, {}
        id = None
        if callback is not None:
            id = self._ids
            self._ids += 1
        # encoded first: a value JSON cannot carry raises here, with nothing registered
        messages = sio.encode_parts(sio.EVENT, [event, *args], self.nsp, id)
        if id is not None:
            assert callback is not None
            timeout = flags.get("timeout")
            if timeout is None:
                self.acks[id] = callback
            else:
                timer = timers.set_timeout(
                    lambda: (
                        self.acks.pop(id, None)
                        and callback(TimeoutError("operation has timed out"))
                    ),
                    timeout,
                )

                def answered(*answer: Any) -> None:
                    timer.close()
                    callback(None, *answer)

                self.acks[id] = answered
        engine = self.io.engine
        if self.connected and engine is not None:
            for message in messages:
                engine.write(message)
        elif not flags.get("volatile"):
            self._send_buffer.append(messages)
        return True

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and wait for the server's ack: its first argument."""
        fut: asyncio.Future[Any] = runtime.get_loop().create_future()
        if timeout is not None:
            self.timeout(timeout)
        with_err = "timeout" in self._flags

        def on_ack(*answer: Any) -> None:
            if fut.done():
                return
            if with_err:
                err, answer = answer[0], answer[1:]
                if err is not None:
                    fut.set_exception(err)
                    return
            fut.set_result(answer[0] if answer else None)

        self.emit(event, *args, callback=on_ack)
        return await fut

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> ClientSocket:
        self.emit("message", *args, callback=callback)
        return self

    def timeout(self, seconds: float) -> ClientSocket:
        self._flags["timeout"] = timers._delay(seconds)
        return self

    @property
    def volatile(self) -> ClientSocket:
        self._flags["volatile"] = True
        return self

    # closing ---------------------------------------------------------------------------------
    def _destroy(self) -> None:
        self._unsubscribe()
        self.io._destroy(self)

    def disconnect(self) -> ClientSocket:
        """Leave the namespace; the connection closes when no namespace uses it."""
        check_loop(self.io._loop, "socketio.ClientSocket.disconnect()")
        if self.connected:
            self.io.packet(sio.Packet(sio.DISCONNECT, None, self.nsp))
        self._destroy()
        if self.connected:
            self._on_close("io client disconnect")
        return self

    close = disconnect

    def _on_uncaught(self, exc: BaseException) -> None:
        # a listener raised: keep the connection (Node would have exited)
        pass

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<ClientSocket {self.nsp} {self.id} {state}>"


# managers shared by connect() calls, per loop (a manager belongs to its loop)
_managers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Manager]] = (
    weakref.WeakKeyDictionary()
)


def connect(
    url: str,
    *,
    auth: Any = None,
    force_new: bool = False,
    multiplex: bool = True,
    **options: Any,
) -> ClientSocket:
    """A socket for the namespace in ``url``'s path, connecting in the background.

    Options are socket.io-client's in snake_case: ``path``, ``transports``,
    ``reconnection``, ``reconnection_attempts``, ``reconnection_delay``,
    ``reconnection_delay_max``, ``randomization_factor``, ``timeout``,
    ``auto_connect``, ``query``, ``extra_headers``, ``upgrade``, and for an
    ``https://`` server ``ca``, ``reject_unauthorized``, ``servername`` (both transports).
    """
    opt.string("url", url)
    if auth is not None and not isinstance(auth, dict) and not callable(auth):
        # socket.io-client's auth: an object, or a function handing one to a callback
        from ..errors import ERR_INVALID_ARG_TYPE

        raise ERR_INVALID_ARG_TYPE("auth", "a dict, a function or None", type(auth).__name__)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"Invalid URL: {url!r}")
    nsp = parts.path or "/"
    if parts.query:
        options["query"] = {**dict(parse_qsl(parts.query)), **(options.get("query") or {})}
    origin = f"{parts.scheme}://{parts.netloc}"
    key = f"{origin}{options.get('path', '/socket.io')}"
    cache = _managers.setdefault(runtime.get_loop(), {})
    manager = None if force_new or not multiplex else cache.get(key)
    if manager is not None and (nsp in manager.nsps and manager.nsps[nsp].active):
        manager = None
    if manager is None:
        manager = Manager(origin, **options)
        if multiplex and not force_new:
            cache[key] = manager
    return manager.socket(nsp, auth)
