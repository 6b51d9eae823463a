"""``nodish.https``: HTTP over TLS, Node's ``https`` module.

    from nodish import https

    def handler(req, res):
        res.write_head(200)
        res.end('hello world\\n')

    https.create_server(handler, key=key_pem, cert=cert_pem).listen(8443)

Mirrors https://nodejs.org/docs/latest-v20.x/api/https.html. As in Node, there is no
HTTPS code here: :class:`Server` is a :class:`nodish.tls.Server` that serves each
``'secureConnection'`` with http's connection handling (:class:`HttpServerMixin`), so
every HTTP behaviour (keep-alive, pipelining, timeouts, ``'upgrade'``, bad input) is
http's; every TLS one (certificates, SNI, ALPN, mutual TLS, ``'tlsClientError'``,
``set_secure_context``) is tls's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import tls
from .http.server import HttpServerMixin

__all__ = ["Server", "create_server"]

_HTTP_OPTIONS = (
    "headers_timeout",
    "request_timeout",
    "keep_alive_timeout",
    "max_header_size",
    "max_headers_count",
    "max_requests_per_socket",
    "require_host_header",
    "insecure_http_parser",
)


class Server(HttpServerMixin, tls.Server):
    """Node's ``https.Server``: a :class:`nodish.tls.Server` speaking HTTP/1.1.

    Events: http.Server's (``'request'``, ``'upgrade'``, ``'clientError'`` ...) and
    tls.Server's (``'secureConnection'``, ``'tlsClientError'``, ``'keylog'`` ...).
    """

    __slots__ = ("_http", "timeout")

    def __init__(self, request_listener: Callable[..., Any] | None = None, **options: Any) -> None:
        http_options = {k: options.pop(k) for k in _HTTP_OPTIONS if k in options}
        options.setdefault("no_delay", True)  # as http.Server: responses go out at once
        if options.get("alpn_callback") is None:
            options.setdefault("alpn_protocols", ["http/1.1"])  # as Node's https.Server
        tls.Server.__init__(self, None, allow_half_open=True, **options)
        self.timeout = 0.0
        self._http_setup(request_listener, event="secureConnection", **http_options)

    def close(self, callback: Callable[..., Any] | None = None) -> Server:
        """Stop accepting; close idle keep-alive connections now, the others when their
        response is done. ``'close'`` follows when all are gone."""
        tls.Server.close(self, callback)
        self.close_idle_connections()
        return self

    def set_timeout(self, timeout: float = 0, callback: Callable[..., Any] | None = None) -> Server:
        """Idle timeout of each connection's socket (``'timeout'`` on the server)."""
        from .http.server import _seconds

        self.timeout = _seconds("timeout", timeout)
        if callback is not None:
            self.on("timeout", callback)
        return self

    def __repr__(self) -> str:
        return f"<nodish.https.Server listening={self.listening} address={self.address()!r}>"


def create_server(request_listener: Callable[..., Any] | None = None, **options: Any) -> Server:
    """A new HTTPS :class:`Server` (Node's ``https.createServer``).

    ``options`` are tls.create_server's (``key``, ``cert``, ``ca``, ``request_cert``,
    ``alpn_protocols``, ``sni_callback``, ``min_version`` ...) and http.create_server's
    (``keep_alive_timeout``, ``headers_timeout``, ``max_header_size`` ...), together.
    """
    return Server(request_listener, **options)
