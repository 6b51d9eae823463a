"""The Engine.IO v4 client (``engine.io-client``): transports, heartbeat, upgrade.

Theory of operation
-------------------
The client opens its first transport (long-polling by default, as
``engine.io-client``; WebSocket first when ``transports`` says so), reads the OPEN
packet (``sid``, ``pingInterval``, ``pingTimeout``, ``maxPayload``, ``upgrades``) and
emits ``'open'``. The server pings; the client answers PONG and expects the next PING
within ``pingInterval + pingTimeout``, else closes with ``'ping timeout'``.

Upgrade from polling: a WebSocket is opened with the session id, sends ``2probe``
and waits for ``3probe``; then the polling transport is paused (its GET and POST in
flight complete, no new ones start), ``5`` (UPGRADE) is sent on the WebSocket, and
everything queued since goes on the WebSocket. A failed probe leaves the session on
polling.

Messages are queued in ``_buffer`` and sent when the transport is writable: polling
sends the whole queue in one POST; WebSocket sends at once.

``'close'``(reason, description) is emitted once: ``'transport close'`` (the server
closed), ``'transport error'``, ``'ping timeout'``, ``'parse error'``,
``'forced close'`` (:meth:`close`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from .. import runtime, timers
from ..events import EventEmitter
from . import engine_parser as eio

__all__ = ["EngineClient", "TransportError"]


def ws_message(data: Any, is_binary: bool) -> str | bytes:
    """A WebSocket message as the codec takes it (text as ``str``)."""
    if is_binary:
        return bytes(data)
    if isinstance(data, str):
        return data
    return bytes(data).decode("utf-8")


class TransportError(Exception):
    """A transport failed (``'xhr poll error'``, ``'websocket error'``...)."""

    def __init__(self, message: str, description: Any = None) -> None:
        super().__init__(message)
        self.type = "TransportError"
        self.description = description


class _ClientTransport(EventEmitter):
    name = ""

    def __init__(self, client: EngineClient) -> None:
        super().__init__()
        self.client = client
        self.writable = False
        self.ready_state = "opening"

    def _packet(self, packet: eio.Packet) -> None:
        self.emit("packet", packet)

    def _error(self, message: str, description: Any = None) -> None:
        if self.ready_state != "closed":
            self.emit("error", TransportError(message, description))

    def _closed(self, description: Any = None) -> None:
        if self.ready_state == "closed":
            return
        self.ready_state = "closed"
        self.writable = False
        self.emit("close", description)


class WebSocketClientTransport(_ClientTransport):
    """Engine.IO over one :class:`nodish.ws.WebSocket`."""

    name = "websocket"

    def __init__(self, client: EngineClient, sid: str | None) -> None:
        super().__init__(client)
        from .. import ws

        url = client.url("ws", "websocket", sid)
        self.ws = ws.WebSocket(
            url,
            **client.tls,
            headers=client.extra_headers or None,
            per_message_deflate=False,
            max_payload=max(client.max_payload, 1 << 20) if client.max_payload else 100 << 20,
        )
        self.ws.on("open", self._on_open)
        self.ws.on("message", self._on_message)
        self.ws.on("error", self._on_ws_error)
        self.ws.on("close", self._on_ws_close)

    def _on_open(self, *_: Any) -> None:
        self.ready_state = "open"
        self.writable = True
        self.emit("open")

    def _on_message(self, data: Any, is_binary: bool) -> None:
        try:
            packet = eio.decode_packet(ws_message(data, is_binary))
        except (UnicodeDecodeError, eio.EngineParseError) as exc:
            self._error("parse error", exc)
            return
        self._packet(packet)

    def _on_ws_error(self, err: BaseException) -> None:
        self._error("websocket error", err)

    def _on_ws_close(self, *_: Any) -> None:
        self._closed("websocket connection closed")

    def send(self, packets: list[eio.Packet]) -> None:
        for packet in packets:
            self.ws.send(eio.encode_packet(packet, True))

    def pause(self, on_pause: Callable[[], Any]) -> None:
        on_pause()

    def close(self) -> None:
        if self.ready_state != "closed":
            self.ws.close()
            self._closed("forced close")


class PollingClientTransport(_ClientTransport):
    """Engine.IO over HTTP long-polling: one GET at a time, one POST at a time."""

    name = "polling"

    def __init__(self, client: EngineClient, sid: str | None) -> None:
        super().__init__(client)
        self.sid = sid
        self.polling = False
        self._posting = False
        self._paused = False
        self._on_paused: Callable[[], Any] | None = None
        self._requests: set[Any] = set()
        self._close_on_open = False
        self._http: Any = importlib.import_module(
            "nodish.https" if client.secure else "nodish.http"
        )
        self.ready_state = "opening"
        self._poll()

    def _request(
        self,
        method: str,
        body: bytes | None,
        on_body: Callable[[bytes], Any],
        on_fail: Callable[[str, Any], Any],
    ) -> None:
        client = self.client
        headers = dict(client.extra_headers)
        if body is not None:
            headers["Content-Type"] = "text/plain;charset=UTF-8"
            headers["Content-Length"] = str(len(body))
        req = self._http.request(
            client.url("http", "polling", self.sid), method=method, headers=headers, **client.tls
        )
        self._requests.add(req)
        chunks: list[bytes] = []
        done = False

        def finish_fail(message: str, desc: Any) -> None:
            nonlocal done
            if done:
                return
            done = True
            self._requests.discard(req)
            on_fail(message, desc)

        def on_response(res: Any) -> None:
            if res.status_code != 200:
                res.resume()
                finish_fail("xhr poll error", res.status_code)
                return
            res.on("data", chunks.append)

            def on_end() -> None:
                nonlocal done
                if done:
                    return
                done = True
                self._requests.discard(req)
                on_body(b"".join(chunks))

            res.on("end", on_end)

        req.on("response", on_response)
        req.on("error", lambda err: finish_fail("xhr poll error", err))
        req.end(body)

    def _poll(self) -> None:
        if self.ready_state == "closed" or self._paused:
            return
        self.polling = True
        self._request("GET", None, self._on_poll_body, self._error)

    def _on_poll_body(self, body: bytes) -> None:
        self.polling = False
        if self._close_on_open:
            self._tell_closed(body)
            return
        try:
            packets = eio.decode_payload(body)
        except eio.EngineParseError as exc:
            self._error("parse error", exc)
            return
        for packet in packets:
            if self.ready_state == "opening" and packet.type == eio.OPEN:
                self.ready_state = "open"
                self.writable = True
                self.emit("open")
            if packet.type == eio.CLOSE:
                self._closed("transport close")
                self.emit("server-close")
                return
            self._packet(packet)
        if self.ready_state == "closed":
            return
        if self._paused:
            self._check_paused()
            return
        self._poll()

    def send(self, packets: list[eio.Packet]) -> None:
        self.writable = False
        self._posting = True
        body = eio.encode_payload(packets).encode()

        def sent(_: bytes) -> None:
            self._posting = False
            self.writable = True
            if self._paused:
                self._check_paused()
            else:
                self.emit("drain")

        self._request("POST", body, sent, self._error)

    def pause(self, on_pause: Callable[[], Any]) -> None:
        """Stop polling once the requests in flight are done, then call ``on_pause``."""
        self._paused = True
        self._on_paused = on_pause
        self._check_paused()

    def _check_paused(self) -> None:
        if self._paused and not self.polling and not self._posting and self._on_paused:
            fn, self._on_paused = self._on_paused, None
            self.writable = False
            fn()

    def close(self) -> None:
        if self.ready_state == "closed":
            return
        if self.ready_state == "open" and self.sid:
            # tell the server, then let the pending GET go
            self._request("POST", b"1", lambda _: None, lambda *_: None)
        elif self.sid is None and self._requests:
            # the handshake is in flight: let it be answered, then tell the server, as
            # engine.io-client does (else the session would wait for its ping timeout)
            self._close_on_open = True
        for req in list(self._requests):
            if getattr(req, "method", "") == "GET" and not self._close_on_open:
                req.destroy()
        self._closed("forced close")

    def _tell_closed(self, handshake: bytes) -> None:
        self._close_on_open = False
        try:
            for packet in eio.decode_payload(handshake):
                if packet.type == eio.OPEN:
                    self.sid = json.loads(packet.data)["sid"]  # type: ignore[arg-type]
                    self._request("POST", b"1", lambda _: None, lambda *_: None)
        except (eio.EngineParseError, TypeError, ValueError, KeyError):
            pass  # nothing to tell


class EngineClient(EventEmitter):
    """An Engine.IO session from the client side.

    Events: ``'open'``, ``'data'``(str | bytes), ``'error'``(err), ``'upgrade'``,
    ``'close'``(reason, description).
    """

    def __init__(
        self,
        uri: str,
        *,
        path: str = "/socket.io",
        transports: tuple[str, ...] = ("polling", "websocket"),
        upgrade: bool = True,
        query: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
        tls: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        parts = urlsplit(uri)
        self.secure = parts.scheme in ("https", "wss")
        # ca / reject_unauthorized / servername, for both transports' TLS connections
        self.tls: dict[str, Any] = dict(tls or {}) if self.secure else {}
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.secure else 80)
        self.path = "/" + path.strip("/") + "/"
        self.transports = tuple(transports)
        self.upgrade = upgrade
        self.query = dict(query or {})
        self.extra_headers = dict(extra_headers or {})
        self.id: str | None = None
        self.ready_state = "opening"
        self.ping_interval = 25.0
        self.ping_timeout = 20.0
        self.max_payload = 0
        self.upgrades: list[str] = []
        self.transport: Any = None
        self._buffer: list[eio.Packet] = []
        self._ping_timer: timers.Timeout | None = None
        self._upgrading = False
        self._open()

    def url(self, scheme: str, transport: str, sid: str | None) -> str:
        if scheme == "ws":
            scheme = "wss" if self.secure else "ws"
        else:
            scheme = "https" if self.secure else "http"
        q = {**self.query, "EIO": "4", "transport": transport}
        if sid:
            q["sid"] = sid
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.path}?{urlencode(q)}"

    def _make(self, name: str, sid: str | None) -> Any:
        if name == "websocket":
            return WebSocketClientTransport(self, sid)
        return PollingClientTransport(self, sid)

    def _open(self) -> None:
        if not self.transports:
            runtime.call_soon(self._on_error, TransportError("No transports available"))
            return
        self._set_transport(self._make(self.transports[0], None))

    def _set_transport(self, transport: Any) -> None:
        if self.transport is not None:
            self.transport.remove_all_listeners()
        self.transport = transport
        transport.on("packet", self._on_packet)
        transport.on("drain", self.flush)
        transport.on("error", self._on_error)
        transport.on("close", lambda desc=None: self._on_close("transport close", desc))

    # incoming -----------------------------------------------------------------------
    def _on_packet(self, packet: eio.Packet) -> None:
        if self.ready_state not in ("opening", "open", "closing"):
            return
        t = packet.type
        if t == eio.OPEN:
            self._on_handshake(packet.data)
        elif t == eio.PING:
            self._reset_ping_timeout()
            self.send_packet(eio.PONG)
            self.emit("ping")
        elif t == eio.MESSAGE:
            self.emit("data", packet.data if packet.data is not None else "")
        elif t == eio.CLOSE:
            self._on_close("transport close")

    def _on_handshake(self, data: Any) -> None:
        try:
            info = json.loads(data)
            self.id = info["sid"]
            self.ping_interval = info["pingInterval"] / 1000
            self.ping_timeout = info["pingTimeout"] / 1000
            self.max_payload = int(info.get("maxPayload") or 0)
            self.upgrades = [u for u in info.get("upgrades", []) if u in self.transports]
        except (TypeError, ValueError, KeyError) as exc:
            self._on_error(TransportError("parse error", exc))
            return
        self.transport.sid = self.id
        self.ready_state = "open"
        self.emit("open")
        self.flush()
        self._reset_ping_timeout()
        if self.upgrade and self.transport.name == "polling" and "websocket" in self.upgrades:
            self._probe()

    def _reset_ping_timeout(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.close()
        self._ping_timer = timers.set_timeout(
            lambda: self._on_close("ping timeout"), self.ping_interval + self.ping_timeout
        )
        self._ping_timer.unref()

    # upgrade ----------------------------------------------------------------------------
    def _probe(self) -> None:
        self._upgrading = True
        ws = WebSocketClientTransport(self, self.id)
        failed = False

        def fail(*_: Any) -> None:
            nonlocal failed
            if failed:
                return
            failed = True
            self._upgrading = False
            self.remove_listener("close", fail)
            ws.remove_all_listeners()
            ws.on("error", lambda *_: None)
            ws.close()
            self.flush()

        def on_open() -> None:
            ws.send([eio.Packet(eio.PING, "probe")])

        def on_packet(packet: eio.Packet) -> None:
            if failed:
                return
            if packet.type == eio.PONG and packet.data == "probe":
                self.emit("upgrading", ws)

                def switch() -> None:
                    if failed or self.ready_state == "closed":
                        return
                    ws.remove_listener("packet", on_packet)
                    ws.remove_listener("error", fail)
                    ws.remove_listener("close", fail)
                    self.remove_listener("close", fail)
                    ws.send([eio.Packet(eio.UPGRADE)])
                    old = self.transport
                    self._set_transport(ws)
                    # the paused polling transport is left to end: closing it would
                    # tell the server to close the session
                    old.remove_all_listeners()
                    old.on("error", lambda *_: None)
                    self._upgrading = False
                    self.emit("upgrade", ws)
                    self.flush()

                self.transport.pause(switch)
            else:
                fail()

        ws.on("open", on_open)
        ws.on("packet", on_packet)
        ws.on("error", fail)
        ws.on("close", fail)
        # a session that ends during the probe closes the probe's WebSocket too
        self.once("close", fail)

    # outgoing -----------------------------------------------------------------------------
    def write(self, data: str | bytes) -> None:
        """Queue a message for the server."""
        self.send_packet(eio.MESSAGE, data)

    send = write

    def send_packet(self, type_: int, data: str | bytes | None = None) -> None:
        if self.ready_state in ("closing", "closed"):
            return
        self._buffer.append(eio.Packet(type_, data))
        self.flush()

    def flush(self) -> None:
        transport = self.transport
        if (
            self.ready_state not in ("open", "closing")
            or transport is None
            or not transport.writable
            or self._upgrading_paused()
        ):
            return
        if self._buffer:
            buffer, self._buffer = self._buffer, []
            transport.send(buffer)
            self.emit("flush")
        if self.ready_state == "closing" and not self._buffer and transport.writable:
            # close() waited for the queue to go out (socket.io-client does the same)
            self._on_close("forced close")

    def _upgrading_paused(self) -> bool:
        return bool(getattr(self.transport, "_paused", False))

    # closing ---------------------------------------------------------------------------------
    def _on_error(self, err: BaseException) -> None:
        self.emit("error", err)
        self._on_close("transport error", err)

    def close(self) -> None:
        """Close the session (``'forced close'``)."""
        transport = self.transport
        if self.ready_state == "open" and (self._buffer or not transport.writable):
            # wait for the queue, and for a POST in flight: a second one would overlap
            self.ready_state = "closing"
            self.flush()
        elif self.ready_state in ("opening", "open"):
            self.ready_state = "closing"
            self._on_close("forced close")

    def _on_close(self, reason: str, description: Any = None) -> None:
        if self.ready_state == "closed":
            return
        self.ready_state = "closed"
        if self._ping_timer is not None:
            self._ping_timer.close()
            self._ping_timer = None
        transport = self.transport
        if transport is not None:
            transport.remove_all_listeners()
            transport.on("error", lambda *_: None)
            transport.close()
        self._buffer = []
        self.emit("close", reason, description)
