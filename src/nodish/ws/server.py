"""``WebSocketServer``: accepts upgrades from an ``http.Server`` (``ws``'s ``Server``).

Theory of operation
-------------------
The server never reads HTTP itself: nodish.http parses the request and emits
``'upgrade'(req, socket, head)``; :meth:`WebSocketServer.handle_upgrade` checks it
(:mod:`.handshake`), asks ``verify_client`` and ``handle_protocols``, negotiates
permessage-deflate, writes the 101 head and hands the socket and ``head`` to a new
:class:`~.websocket.WebSocket`. A refusal is a complete HTTP response (400 for a bad
key, version, method or header; the status ``verify_client`` chose) followed by the
end of that connection only.

Three modes, exactly one of them: ``port=`` (an internal ``http.Server`` that answers
plain requests with 426), ``server=`` (attach to an existing http/https server) and
``no_server=True`` (call ``handle_upgrade`` from your own ``'upgrade'`` listener).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

from .. import runtime
from ..errors import ERR_INVALID_ARG_TYPE, ERR_SERVER_NOT_RUNNING
from ..events import EventEmitter, takes_two
from .deflate import DeflateOptions, PerMessageDeflate, accept_offer
from .handshake import (
    HandshakeError,
    accept_response,
    check_request,
    parse_protocols,
    reject_response,
)
from .receiver import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD
from .websocket import DEFAULT_MAX_BUFFERED, WebSocket, WebSocketError

__all__ = ["Server", "WebSocketServer"]


class WebSocketServer(EventEmitter):
    """A WebSocket server: events ``'connection'(ws, req)``, ``'headers'(lines, req)``,
    ``'listening'``, ``'error'``, ``'wsClientError'(err, socket, req)``, ``'close'``.

    Args:
        port, host: listen standalone on this port (with an internal http.Server).
        server: an ``http.Server``/``https.Server`` to attach to.
        no_server: neither; call :meth:`handle_upgrade` yourself.
        path: accept only this path (others get 400).
        verify_client: ``fn(info)`` returning a bool (or awaitable bool), or
            ``fn(info, cb)`` calling ``cb(result, code=401, message=None, headers=None)``;
            ``info`` has ``origin``, ``secure`` and ``req``.
        handle_protocols: ``fn(protocols: set[str], req)`` → the chosen subprotocol or
            False; by default the first one offered.
        per_message_deflate: False (default, as ``ws``), True, or a dict of
            :class:`~.deflate.DeflateOptions`.
        max_payload: the largest message accepted (100 MiB by default, as ``ws``).
        max_fragments: the most frames per message.
        client_tracking: keep open connections in :attr:`clients`.
        close_timeout, heartbeat, max_buffered_amount: passed to each WebSocket.
        callback: added as a ``'listening'`` listener (standalone mode).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str | None = None,
        server: Any = None,
        no_server: bool = False,
        path: str | None = None,
        verify_client: Callable[..., Any] | None = None,
        handle_protocols: Callable[[set[str], Any], Any] | None = None,
        per_message_deflate: Any = False,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        client_tracking: bool = True,
        close_timeout: float = 30.0,
        heartbeat: float | None = None,
        max_buffered_amount: int | None = DEFAULT_MAX_BUFFERED,
        backlog: int | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__()
        if (port is None) + (server is None) + (not no_server) != 2:
            raise TypeError(
                'One and only one of the "port", "server", or "no_server" options must be specified'
            )
        for name, fn in (("verify_client", verify_client), ("handle_protocols", handle_protocols)):
            if fn is not None and not callable(fn):
                raise ERR_INVALID_ARG_TYPE(name, "a function", type(fn).__name__)
        self.path = path
        self._verify_client = verify_client
        self._handle_protocols = handle_protocols
        self._deflate = DeflateOptions.from_option(per_message_deflate)
        self._ws_options: dict[str, Any] = {
            "max_payload": max_payload,
            "max_fragments": max_fragments,
            "close_timeout": close_timeout,
            "heartbeat": heartbeat,
            "max_buffered_amount": max_buffered_amount,
        }
        self.clients: set[WebSocket] | None = set() if client_tracking else None
        self._closed = False
        self._internal = port is not None
        self._server: Any = None
        if port is not None:
            http: Any = importlib.import_module("nodish.http")

            def refuse(req: Any, res: Any) -> None:
                body = b"Upgrade Required"
                res.write_head(
                    426, {"Content-Length": str(len(body)), "Content-Type": "text/plain"}
                )
                res.end(body)

            server = http.create_server(refuse)
        if server is not None:
            self._server = server
            server.on("listening", self._on_listening)
            server.on("error", self._on_server_error)
            server.on("upgrade", self._on_upgrade)
        if callback is not None:
            self.on("listening", callback)
        if port is not None:
            if backlog is not None:
                server.listen(port, host, backlog=backlog)
            else:
                server.listen(port, host)

    # ------------------------------------------------------------------ server events

    def _on_listening(self, *_: Any) -> None:
        self.emit("listening")

    def _on_server_error(self, err: BaseException) -> None:
        self.emit("error", err)

    def _on_upgrade(self, req: Any, socket: Any, head: bytes) -> None:
        if not self.should_handle(req):
            self._abort(socket, 400, "Invalid path")
            return
        self.handle_upgrade(req, socket, head, self._emit_connection)

    def _emit_connection(self, ws: WebSocket, req: Any) -> None:
        self.emit("connection", ws, req)

    # ------------------------------------------------------------------ public API

    def address(self) -> Any:
        """The internal or attached server's address (``None`` with ``no_server``)."""
        if self._server is None:
            raise WebSocketError('The server is operating in "noServer" mode', "WS_ERR_NO_SERVER")
        return self._server.address()

    def should_handle(self, req: Any) -> bool:
        """Whether ``req`` is for this server (its ``path``)."""
        if self.path is None:
            return True
        return urlsplit(req.url or "/").path == self.path

    def handle_upgrade(
        self, req: Any, socket: Any, head: bytes, callback: Callable[[WebSocket, Any], Any]
    ) -> None:
        """Complete (or refuse) the upgrade of ``req``; ``callback(ws, req)`` on success."""
        if not callable(callback):
            raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
        socket.on("error", _destroy_on_error)
        headers = req.headers
        try:
            key = check_request(req.method, headers)
            try:
                offered = parse_protocols(_get(headers, "sec-websocket-protocol"))
            except ValueError:
                raise HandshakeError(400, "Invalid Sec-WebSocket-Protocol header") from None
        except HandshakeError as exc:
            self._refuse(req, socket, exc.status, exc.message, exc.headers)
            return
        negotiated: tuple[str, PerMessageDeflate] | None = None
        offer = _get(headers, "sec-websocket-extensions")
        if self._deflate is not None and offer:
            negotiated = accept_offer(offer, self._deflate)
        verify = self._verify_client
        if verify is None:
            self._complete(negotiated, key, offered, req, socket, head, callback)
            return
        info = {
            "origin": _get(headers, "origin") or None,
            "secure": bool(getattr(socket, "encrypted", False)),
            "req": req,
        }

        def decided(
            result: Any, code: int = 401, message: str | None = None, headers: Any = None
        ) -> None:
            if result:
                self._complete(negotiated, key, offered, req, socket, head, callback)
            else:
                _abort(socket, code, message or "", headers)

        try:
            if takes_two(verify):
                verify(info, decided)
                return
            result = verify(info)
        except BaseException as exc:
            _abort(socket, 500, "")
            runtime.report_uncaught(exc, None)
            return
        if inspect.isawaitable(result):

            async def wait() -> None:
                try:
                    decided(await result)
                except BaseException as exc:
                    _abort(socket, 500, "")
                    raise exc

            runtime.spawn(wait(), owner=socket)
            return
        decided(result)

    def _complete(
        self,
        negotiated: tuple[str, PerMessageDeflate] | None,
        key: str,
        offered: list[str],
        req: Any,
        socket: Any,
        head: bytes,
        callback: Callable[[WebSocket, Any], Any],
    ) -> None:
        if socket.destroyed or not socket.writable:
            socket.destroy()
            return
        protocol = ""
        if offered:
            if self._handle_protocols is not None:
                chosen = self._handle_protocols(set(offered), req)
                protocol = chosen if isinstance(chosen, str) else ""
            else:
                protocol = offered[0]
        ext = negotiated[0] if negotiated else ""
        lines = accept_response(key, protocol=protocol or None, extensions=ext or None)
        self.emit("headers", lines, req)
        socket.remove_listener("error", _destroy_on_error)
        socket.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        ws = WebSocket(**self._ws_options)
        ws._set_socket(socket, negotiated[1] if negotiated else None, protocol, ext)
        clients = self.clients
        if clients is not None:
            clients.add(ws)
            ws.on("close", lambda *_: clients.discard(ws))
        callback(ws, req)
        ws._start(head)

    def _refuse(self, req: Any, socket: Any, status: int, message: str, headers: Any) -> None:
        if self.listener_count("wsClientError"):
            err = WebSocketError(message, "WS_ERR_HANDSHAKE", status)
            self.emit("wsClientError", err, socket, req)
            return
        _abort(socket, status, message, headers)

    def _abort(self, socket: Any, status: int, message: str) -> None:
        _abort(socket, status, message)

    def close(self, callback: Callable[..., Any] | None = None) -> None:
        """Stop accepting; close the internal http server. Open connections stay open."""
        if callback is not None:
            if not callable(callback):
                raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
            if self._closed:
                runtime.get_loop().call_soon(callback, ERR_SERVER_NOT_RUNNING())
                return
            self.once("close", callback)
        if self._closed:
            return
        self._closed = True
        server = self._server
        if server is not None:
            server.remove_listener("listening", self._on_listening)
            server.remove_listener("error", self._on_server_error)
            server.remove_listener("upgrade", self._on_upgrade)
            if self._internal:
                server.close(callback=lambda *_: self.emit("close"))
                return
        runtime.get_loop().call_soon(self.emit, "close")

    def __await__(self) -> Generator[Any, None, WebSocketServer]:
        """``wss = await WebSocketServer(port=0)``: wait until it listens."""
        server = self._server
        if server is None or not self._internal or server.listening:
            return self
        fut: asyncio.Future[None] = runtime.get_loop().create_future()

        def on_listening(*_: Any) -> None:
            if not fut.done():
                fut.set_result(None)

        def on_error(err: BaseException) -> None:
            if not fut.done():
                fut.set_exception(err)

        self.once("listening", on_listening)
        self.once("error", on_error)
        try:
            yield from fut
        finally:
            self.remove_listener("listening", on_listening)
            self.remove_listener("error", on_error)
        return self


Server = WebSocketServer


def _get(headers: Any, name: str) -> str:
    value = headers.get(name)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(value)
    return str(value)


def _destroy_on_error(*_: Any) -> None:
    """A socket error during the handshake: the socket is destroyed by its own error."""


def _abort(socket: Any, status: int, message: str, headers: Any = None) -> None:
    """Answer ``status`` and end this connection only."""
    socket.remove_listener("error", _destroy_on_error)
    if socket.destroyed or not socket.writable:
        socket.destroy()
        return
    socket.once("finish", lambda *_: socket.destroy())
    socket.on("error", lambda *_: None)
    socket.end(reject_response(status, message, headers))
