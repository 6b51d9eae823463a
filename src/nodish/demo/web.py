"""The demo's web servers: the chat page over HTTP (8080) and HTTPS (8443).

Both serve the same page and attach a WebSocketServer on ``/chat`` to the same
:class:`~.chat.Room`, so a tab on ``http://`` and a tab on ``https://`` chat together.
Each request is logged (``[http] GET / 200 from 127.0.0.1:5555``); the HTTPS server
presents a certificate issued at start-up by the development CA (:mod:`.devca`), and
the page served over plain HTTP says where the HTTPS one is and how to trust it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from importlib import resources
from typing import Any

from . import Context, ListenError, Service
from .chat import Room

PAGE_PATHS = ("/", "/index.html")


def page_template() -> str:
    """The chat page; ``<!--TLS-->`` marks where the HTTPS note goes."""
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def tls_note(https_url: str | None, ca_file: str | None) -> str:
    """What the page says about HTTPS: where it is and how to trust its CA."""
    if https_url is None:
        return ""
    trust = ""
    if ca_file is not None:
        ca = html.escape(ca_file)
        trust = (
            f" Its certificate is issued by the demo's development CA, <code>{ca}</code>:"
            " import that file in your browser's certificate settings (Authorities) to"
            f" trust it, or give it to command-line clients (<code>curl --cacert {ca}</code>,"
            f" <code>nodish get --ca {ca}</code>)."
        )
    url = html.escape(https_url)
    return f'<p>The same page over HTTPS and WSS: <a href="{url}">{url}</a>.{trust}</p>'


def handler(ctx: Context, scheme: str, body: Callable[[], bytes]) -> Any:
    """The request listener: the page at ``/``, 404 elsewhere; each request logged."""

    def on_request(req: Any, res: Any) -> None:
        path = req.url.split("?", 1)[0]
        if req.method not in ("GET", "HEAD"):
            status, content, ctype = 405, b"method not allowed\n", "text/plain"
            res.set_header("Allow", "GET, HEAD")
        elif path in PAGE_PATHS:
            status, content, ctype = 200, body(), "text/html; charset=utf-8"
        else:
            status, content, ctype = 404, b"not found: try /\n", "text/plain"
        peer = f"{req.socket.remote_address}:{req.socket.remote_port}"
        ctx.log(scheme, f"{req.method} {req.url} {status} from {peer}")
        res.write_head(
            status,
            {
                "Content-Type": ctype,
                "Content-Length": str(len(content)),
                "Cache-Control": "no-store",
            },
        )
        res.end(content if req.method != "HEAD" else None)

    return on_request


_CANNED = {
    "HPE_HEADER_OVERFLOW": "431 Request Header Fields Too Large",
    "ERR_HTTP_REQUEST_TIMEOUT": "408 Request Timeout",
}


def client_error(ctx: Context, scheme: str) -> Callable[[BaseException, Any], None]:
    """A ``'clientError'`` listener: log the bad request, then answer as Node would
    (a listener replaces Node's canned answer, so it gives that answer itself)."""

    def on_client_error(err: BaseException, sock: Any) -> None:
        code = getattr(err, "code", "") or ""
        peer = f"{sock.remote_address}:{sock.remote_port}"
        ctx.log(scheme, f"bad request from {peer}: {code} {err}")
        if code == "ECONNRESET" or not sock.writable:
            sock.destroy()
            return
        status = _CANNED.get(code, "400 Bad Request")
        sock.end(f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    return on_client_error


async def _serve(ctx: Context, server: Any, room: Room, scheme: str, name: str) -> Service:
    from ..ws import WebSocketServer

    # a chat line is short: 64 KiB is plenty, and bounds what one client can make us hold
    wss = WebSocketServer(server=server, path="/chat", max_payload=64 * 1024)
    ws_scheme = "wss" if scheme == "https" else "ws"
    wss.on("connection", lambda ws, req: room.join(ws, req, ws_scheme))
    port = ctx.ports[scheme]
    try:
        await server.listen(port, ctx.host)
    except OSError as err:
        raise ListenError(name, port, err) from None
    server.on("clientError", client_error(ctx, scheme))
    url = f"{scheme}://{ctx.url_host()}:{server.address().port}/"

    def close() -> None:
        wss.close()
        server.close()

    return Service(name, url, f"open {url} in two tabs and chat", close)


class Web:
    """The two web servers of one demo, sharing a chat room."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.room = Room(ctx)
        self.https_url: str | None = None
        self._template = page_template()

    def page(self) -> bytes:
        """The page as served now (the HTTPS address is known once it listens)."""
        ca = self.ctx.tls
        note = tls_note(self.https_url, str(ca.cert_path) if ca is not None else None)
        return self._template.replace("<!--TLS-->", note).encode()

    async def start_http(self, ctx: Context) -> Service:
        """HTTP and WS on ``ctx.ports['http']``."""
        from .. import http

        server = http.create_server(handler(ctx, "http", self.page))
        return await _serve(ctx, server, self.room, "http", "HTTP")

    async def start_https(self, ctx: Context) -> Service:
        """HTTPS and WSS on ``ctx.ports['https']``, certified by the development CA."""
        from .. import https

        assert ctx.tls is not None
        leaf = ctx.tls.server_certificate(ctx.host)
        server = https.create_server(
            handler(ctx, "https", self.page), cert=leaf.chain_pem, key=leaf.key_pem()
        )
        server.on(
            "tlsClientError",
            lambda err, _sock: ctx.log("https", f"TLS handshake failed: {err}"),
        )
        service = await _serve(ctx, server, self.room, "https", "HTTPS")
        self.https_url = service.url
        return service
