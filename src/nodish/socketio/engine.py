"""The Engine.IO v4 server: handshakes, session routing, CORS, WebSocket upgrades.

Theory of operation
-------------------
Every request under ``path`` carries ``EIO=4``, ``transport`` and, after the
handshake, ``sid``. A request without ``sid`` is a handshake (GET only) and makes a
session; one with ``sid`` is routed to its session's transport. Refusals follow
Engine.IO's table, as JSON ``{"code": N, "message": ...}``: 0 ``Transport unknown``,
1 ``Session ID unknown``, 2 ``Bad handshake method``, 3 ``Bad request``,
4 ``Forbidden`` (403, from ``allow_request``), 5 ``Unsupported protocol version``;
each refuses that request alone. A refused WebSocket upgrade gets what engine.io's
``abortUpgrade()`` writes: 400 and the bare message, whatever the code.

A WebSocket upgrade without ``sid`` opens a session directly on WebSocket; with
``sid`` it is the probe of an upgrade from polling (:meth:`EngineSocket.maybe_upgrade`).
The WebSocket handshake itself is the ``ws`` module's (``WebSocketServer`` with
``no_server``); we only decide whether to accept.

CORS follows the ``cors`` npm package that socket.io uses: ``origin`` (True reflects
the request's origin, a string or a list allows those), ``credentials``, ``methods``,
``allowed_headers``; a preflight (OPTIONS) is answered 204.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .. import runtime
from ..events import EventEmitter
from .engine_socket import EngineSocket
from .transports import Polling, WebSocketTransport, error_body

__all__ = ["EngineServer", "HandshakeRequest"]

ERRORS = {
    0: "Transport unknown",
    1: "Session ID unknown",
    2: "Bad handshake method",
    3: "Bad request",
    4: "Forbidden",
    5: "Unsupported protocol version",
}


class HandshakeRequest:
    """What a session keeps of the request that opened it."""

    __slots__ = ("headers", "method", "query", "remote_address", "secure", "url")

    def __init__(self, req: Any, query: dict[str, str]) -> None:
        self.headers: dict[str, Any] = dict(req.headers)
        self.method: str = req.method
        self.url: str = req.url
        self.query = query
        sock = getattr(req, "socket", None)
        self.remote_address: str | None = getattr(sock, "remote_address", None)
        self.secure = bool(getattr(sock, "encrypted", False))


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


class EngineServer(EventEmitter):
    """Engine.IO sessions on an HTTP server: ``'connection'``(EngineSocket)."""

    def __init__(
        self,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        max_http_buffer_size: int = 1_000_000,
        transports: tuple[str, ...] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        allow_request: Callable[..., Any] | None = None,
        cors: dict[str, Any] | None = None,
        close_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.upgrade_timeout = upgrade_timeout
        self.max_http_buffer_size = int(max_http_buffer_size)
        self.transports = tuple(transports)
        self.allow_upgrades = allow_upgrades
        self.allow_request = allow_request
        self.cors = cors
        self.close_timeout = close_timeout
        self.clients: dict[str, EngineSocket] = {}
        self.closing = False
        self._wss: Any = None
        # WebSocket transports that wrote in this turn of the loop (see
        # WebSocketTransport.send_frames)
        self._ws_written: list[WebSocketTransport] = []

    @property
    def clients_count(self) -> int:
        return len(self.clients)

    def upgrades(self, transport: str) -> list[str]:
        if self.allow_upgrades and transport == "polling" and "websocket" in self.transports:
            return ["websocket"]
        return []

    # HTTP answers --------------------------------------------------------------------
    def cors_headers(self, req: Any) -> dict[str, str]:
        cors = self.cors
        if not cors:
            return {}
        origin = cors.get("origin", "*")
        req_origin = req.headers.get("origin")
        out: dict[str, str] = {}
        if origin == "*" and not cors.get("credentials"):
            out["Access-Control-Allow-Origin"] = "*"
        elif origin is True or origin == "*":
            if req_origin:
                out["Access-Control-Allow-Origin"] = req_origin
            out["Vary"] = "Origin"
        else:
            allowed = [origin] if isinstance(origin, str) else list(origin or ())
            if req_origin in allowed:
                out["Access-Control-Allow-Origin"] = req_origin
            out["Vary"] = "Origin"
        if cors.get("credentials"):
            out["Access-Control-Allow-Credentials"] = "true"
        return out

    def respond(
        self,
        req: Any,
        res: Any,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``res`` in one write (CORS headers added); a response already sent,
        or whose client went away (destroyed), is left alone."""
        if res.headers_sent or res.writable_ended or res.destroyed:
            return
        out = self.cors_headers(req)
        if headers:
            out.update(headers)
        out["Content-Length"] = str(len(body))
        res.write_head(status, out)
        res.end(body)

    def _refuse(self, req: Any, res: Any, code: int) -> None:
        self.respond(
            req,
            res,
            403 if code == 4 else 400,
            error_body(code, ERRORS[code]),
            {"Content-Type": "application/json"},
        )

    def _check(self, req: Any, query: dict[str, str], upgrade: bool) -> int | None:
        """The Engine.IO error code that refuses ``req``, or None."""
        transport = query.get("transport")
        if transport not in self.transports:
            return 0
        if query.get("EIO") != "4":
            return 5
        sid = query.get("sid")
        if sid:
            session = self.clients.get(sid)
            if session is None:
                return 1
            if not upgrade and session.transport.name != transport:
                return 3
            if upgrade and (session.transport.name != "polling" or session.upgrading):
                return 3
            return None
        if upgrade:
            return None if req.method == "GET" else 2
        if req.method != "GET":
            return 2
        return None

    # requests ------------------------------------------------------------------------
    def handle_request(self, req: Any, res: Any) -> None:
        """Serve one HTTP request under the Engine.IO path."""
        if req.method == "OPTIONS" and self.cors:
            headers = self.cors_headers(req)
            headers["Access-Control-Allow-Methods"] = self.cors.get(
                "methods", "GET,HEAD,PUT,PATCH,POST,DELETE"
            )
            wanted = self.cors.get("allowed_headers") or req.headers.get(
                "access-control-request-headers"
            )
            if wanted:
                headers["Access-Control-Allow-Headers"] = wanted
            headers["Content-Length"] = "0"
            res.write_head(204, headers)
            res.end()
            return
        query = _query(req.url)
        code = self._check(req, query, False)
        if code is not None:
            self._refuse(req, res, code)
            return
        if query.get("transport") == "websocket":
            # a plain HTTP request for the websocket transport: Node answers 400
            self._refuse(req, res, 3)
            return
        sid = query.get("sid")
        if sid:
            transport = self.clients[sid].transport
            assert isinstance(transport, Polling)
            transport.on_request(req, res)
            return
        self._authorize(
            req,
            lambda: self._handshake_polling(req, res, query),
            lambda: self._refuse(req, res, 4),
        )

    def _authorize(self, req: Any, go: Callable[[], Any], refuse: Callable[[], Any]) -> None:
        """Run ``allow_request(req, callback)``: ``callback(err, ok)`` lets ``req`` in."""
        check = self.allow_request
        if check is None:
            go()
            return
        answered = False

        def done(err: Any = None, ok: bool = False) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            if ok and err is None:
                go()
            else:
                refuse()

        try:
            check(req, done)
        except Exception:
            done(True, False)

    def _new_session(self, req: Any, query: dict[str, str], transport: Any) -> EngineSocket:
        sid = secrets.token_urlsafe(15)
        session = EngineSocket(self, sid, HandshakeRequest(req, query), transport)
        self.clients[sid] = session
        session.once("close", lambda *_: self.clients.pop(sid, None))
        self.emit("connection", session)
        return session

    def _handshake_polling(self, req: Any, res: Any, query: dict[str, str]) -> None:
        transport = Polling(self)
        self._new_session(req, query, transport)
        transport.on_request(req, res)

    # WebSocket -----------------------------------------------------------------------
    def handle_upgrade(self, req: Any, socket: Any, head: bytes) -> None:
        """Serve an HTTP upgrade under the Engine.IO path (the ``ws`` module does the rest)."""
        query = _query(req.url)
        if "websocket" not in self.transports:
            # Node attaches no upgrade handler then: the request is refused as a plain
            # one, with the JSON body
            _refuse_upgrade(socket, 0, json_body=True)
            return
        code = self._check(req, query, True)
        if code is None and query.get("transport") != "websocket":
            code = 3  # a known transport that does not upgrade (Node leaves it hanging)
        if code is not None:
            _refuse_upgrade(socket, code)
            return

        def go() -> None:
            wss = self._ws_server()
            wss.handle_upgrade(req, socket, head, lambda ws, *_: self._on_websocket(ws, req, query))

        if query.get("sid"):
            go()
        else:
            self._authorize(req, go, lambda: _refuse_upgrade(socket, 4))

    def _ws_server(self) -> Any:
        if self._wss is None:
            from .. import ws

            self._wss = ws.WebSocketServer(
                no_server=True, max_payload=self.max_http_buffer_size, per_message_deflate=False
            )
        return self._wss

    def _on_websocket(self, ws: Any, req: Any, query: dict[str, str]) -> None:
        transport = WebSocketTransport(self, ws)
        sid = query.get("sid")
        if not sid:
            self._new_session(req, query, transport)
            return
        session = self.clients.get(sid)
        if session is None or session.upgrading or session.upgraded:
            transport.close()
            return
        session.maybe_upgrade(transport)

    def _ws_turn_ends(self) -> None:
        written, self._ws_written = self._ws_written, []
        for transport in written:
            pending = transport._pending
            transport._pending = None
            if pending:  # transport._turn_ends(), inline: most wrote once, at once
                try:
                    transport._write(pending[0] if len(pending) == 1 else b"".join(pending))
                except BaseException as exc:
                    runtime.report_uncaught(exc, transport)

    def close(self) -> None:
        """Close every session (``'server shutting down'`` to Socket.IO)."""
        # a session whose client has no poll waiting closes at once, not after
        # close_timeout: the HTTP server is going away too
        self.closing = True
        for session in list(self.clients.values()):
            session.close(True, force=True)
        if self._wss is not None:
            runtime.guarded(self._wss, self._wss.close)
            self._wss = None


def _refuse_upgrade(socket: Any, code: int, json_body: bool = False) -> None:
    # engine.io's abortUpgrade(): always 400, the bare message as text/html (polling
    # refusals carry the JSON {code, message} and 403 for Forbidden; upgrades do not)
    if json_body:
        body, kind = error_body(code, ERRORS[code]), b"application/json"
    else:
        body, kind = ERRORS[code].encode(), b"text/html"
    socket.end(
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (kind, len(body), body)
    )
