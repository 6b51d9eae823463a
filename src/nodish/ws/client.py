"""The client's opening handshake, on ``http.request`` and its ``'upgrade'`` event.

Theory of operation
-------------------
As ``ws`` does on Node: the upgrade request is an ordinary ``http.request`` (GET with
``Upgrade``, ``Sec-WebSocket-Key`` ...) on a one-off connection, over ``tls.connect``
for ``wss://``. The request's ``'upgrade'(res, socket, head)`` hands over the socket:
the answer is checked (:func:`~.handshake.check_response`, the extension header) and
the socket and ``head`` go to the :class:`~.websocket.WebSocket`. Any other answer is a
redirect to follow (``follow_redirects``), ``'unexpected-response'(req, res)`` when
somebody listens, else an ``'error'``; then ``'close'`` with 1006.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from .. import runtime
from .._address import is_ip
from ..errors import ERR_INVALID_ARG_TYPE
from .deflate import DeflateOptions, client_offer, parse_response
from .handshake import HandshakeError, check_response, new_key

if TYPE_CHECKING:
    from .websocket import WebSocket

__all__ = ["ClientHandshake"]

_BAD_PROTOCOL = "An invalid or duplicated subprotocol was specified"
_REDIRECTS = (301, 302, 303, 307, 308)


def _error(message: str, code: str, status: int | None = None) -> BaseException:
    from .websocket import WebSocketError

    return WebSocketError(message, code, status)


class ClientHandshake:
    """One client's opening handshake (and its redirects)."""

    def __init__(
        self,
        ws: WebSocket,
        url: str,
        protocols: list[str],
        *,
        headers: Mapping[str, str] | None,
        origin: str | None,
        timeout: float | None,
        deflate: DeflateOptions | None,
        follow_redirects: bool,
        max_redirects: int,
        tls: dict[str, Any],
    ) -> None:
        self.ws = ws
        self.protocols = protocols
        self.headers = dict(headers or {})
        self.origin = origin
        self.deflate = deflate
        self.follow_redirects = follow_redirects
        self.redirects_left = max_redirects
        self.tls = {k: v for k, v in tls.items() if v is not None}
        self.timer: asyncio.TimerHandle | None = None
        self.req: Any = None
        self.key = ""
        self.done = False
        for p in protocols:
            if not isinstance(p, str) or not p or "," in p or " " in p:
                raise _error(_BAD_PROTOCOL, "ERR_INVALID_ARG_VALUE")
        if len(set(protocols)) != len(protocols):
            raise _error(_BAD_PROTOCOL, "ERR_INVALID_ARG_VALUE")
        target = self._parse(url)
        if timeout:
            self.timer = ws._loop.call_later(timeout, self.abort, "Opening handshake has timed out")
        self._request(*target)

    def _parse(self, url: str) -> tuple[bool, str, int, str, str]:
        if not isinstance(url, str):
            raise ERR_INVALID_ARG_TYPE("url", "of type str", type(url).__name__)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ws", "wss", "http", "https"):
            raise ValueError(
                f'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:": {url!r}'
            )
        if parts.fragment:
            raise ValueError(f"The URL contains a fragment identifier: {url!r}")
        if not parts.hostname:
            raise ValueError(f"Invalid URL: {url!r}")
        secure = scheme in ("wss", "https")
        port = parts.port or (443 if secure else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname
        default = (secure and port == 443) or (not secure and port == 80)
        host_header = (f"[{host}]" if ":" in host else host) + ("" if default else f":{port}")
        self.ws._url = url
        return secure, host, port, path, host_header

    def _request(self, secure: bool, host: str, port: int, path: str, host_header: str) -> None:
        http: Any = importlib.import_module("nodish.http")
        self.key = new_key()
        headers = {
            "Host": host_header,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": self.key,
            "Sec-WebSocket-Version": "13",
        }
        if self.protocols:
            headers["Sec-WebSocket-Protocol"] = ", ".join(self.protocols)
        if self.deflate is not None:
            headers["Sec-WebSocket-Extensions"] = client_offer(self.deflate)
        if self.origin:
            headers["Origin"] = self.origin
        headers.update(self.headers)
        options: dict[str, Any] = {"host": host, "port": port, "path": path, "headers": headers}
        if secure:
            tls: Any = importlib.import_module("nodish.tls")
            opts = dict(self.tls)
            if not is_ip(host):
                opts.setdefault("servername", host)  # SNI never carries an address
            options["create_connection"] = lambda *_: tls.connect(port, host, **opts)
        else:
            options["agent"] = False  # a connection of its own, never pooled
        req = self.req = http.request(**options)
        req.on("upgrade", self._on_upgrade)
        req.on("response", self._on_response)
        req.on("error", self._on_error)
        req.end()

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_error(self, err: BaseException) -> None:
        self._fail(err)

    def _fail(self, err: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        self._stop()
        req = self.req
        if req is not None:
            req.on("error", lambda *_: None)  # the request's own errors after ours
            req.destroy()
        ws = self.ws
        from .websocket import CLOSED, CLOSING

        ws._ready_state = CLOSING
        if err is not None:
            try:
                ws.emit("error", err)
            except BaseException as exc:
                runtime.report_uncaught(exc, None)
        ws._ready_state = CLOSED
        ws._wake_drain_waiters()
        ws.emit("close", 1006, "")

    def abort(self, message: str) -> None:
        """Give up the handshake: ``'error'`` with ``message``, then ``'close'``."""
        self._fail(_error(message, "WS_ERR_HANDSHAKE"))

    def _on_upgrade(self, res: Any, socket: Any, head: bytes) -> None:
        if self.done:
            socket.destroy()
            return
        headers = res.headers
        try:
            protocol = check_response(res.status_code, headers, self.key, self.protocols)
            codec = None
            extensions = headers.get("sec-websocket-extensions") or ""
            if extensions:
                if self.deflate is None:
                    raise HandshakeError(
                        101,
                        "Server sent a Sec-WebSocket-Extensions header but no "
                        "extension was requested",
                    )
                try:
                    codec = parse_response(extensions, self.deflate)
                except ValueError as exc:
                    raise HandshakeError(
                        101, f"Invalid Sec-WebSocket-Extensions header: {exc}"
                    ) from None
        except HandshakeError as exc:
            socket.destroy()
            self.abort(exc.message)
            return
        self.done = True
        self._stop()
        ws = self.ws
        ws._handshake = None
        ws.emit("upgrade", res)
        ws._set_socket(socket, codec, protocol, extensions)
        ws.emit("open")
        ws._start(head)

    def _on_response(self, res: Any) -> None:
        if self.done:
            return
        location = res.headers.get("location")
        if (
            self.follow_redirects
            and res.status_code in _REDIRECTS
            and location
            and self.redirects_left > 0
        ):
            self.redirects_left -= 1
            self.req.destroy()
            base = self.ws._url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
            url = urljoin(base, location)  # urljoin knows http(s), not ws(s)
            if url.startswith("http"):
                url = "ws" + url[4:]
            try:
                target = self._parse(url)
            except ValueError as exc:
                self._fail(exc)
                return
            self._request(*target)
            return
        ws = self.ws
        if ws.listener_count("unexpected-response"):
            ws.emit("unexpected-response", self.req, res)
            self._fail(None)
            return
        self._fail(
            _error(
                f"Unexpected server response: {res.status_code}",
                "WS_ERR_UNEXPECTED_RESPONSE",
                res.status_code,
            )
        )
