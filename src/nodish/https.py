"""``nodish.https``: HTTP over TLS, Node's ``https`` module.

    from nodish import https

    def handler(req, res):
        res.write_head(200)
        res.end('hello world\\n')

    https.create_server(handler, key=key_pem, cert=cert_pem).listen(8443)

    res = await https.get('https://localhost:8443/', ca=ca_pem)

Mirrors https://nodejs.org/docs/latest-v20.x/api/https.html. As in Node, there is no
HTTPS code here: :class:`Server` is a :class:`nodish.tls.Server` that serves each
``'secureConnection'`` with http's connection handling (:class:`HttpServerMixin`), so
every HTTP behaviour (keep-alive, pipelining, timeouts, ``'upgrade'``, bad input) is
http's; every TLS one (certificates, SNI, ALPN, mutual TLS, ``'tlsClientError'``,
``set_secure_context``) is tls's. On the client, :class:`Agent` is http's Agent whose
``create_connection`` calls :func:`nodish.tls.connect`; requests are http's
``ClientRequest``.

The TLS options of a request (``ca``, ``cert``, ``key``, ``passphrase``, ``pfx``,
``servername``, ``reject_unauthorized``, ``check_server_identity``, ``min_version``,
``max_version``, ``ciphers``) go to ``tls.connect`` and, as in Node, into the
agent's pool key, so connections made with other certificates are never shared. The
agent keeps the latest TLS session of each pool key and offers it on the next
connection (Node's ``maxCachedSessions``), so new connections resume.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from . import tls
from .errors import ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE
from .http.agent import Agent as _HttpAgent
from .http.client import ClientRequest
from .http.client import get as _http_get
from .http.incoming import IncomingMessage
from .http.server import HttpServerMixin

__all__ = ["Agent", "Server", "create_server", "get", "global_agent", "request"]

# The options that make a connection's TLS identity (Node's https.Agent.getName list).
_TLS_OPTIONS = (
    "ca",
    "cert",
    "key",
    "passphrase",
    "pfx",
    "servername",
    "reject_unauthorized",
    "check_server_identity",
    "min_version",
    "max_version",
    "ciphers",
    "alpn_protocols",
)

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


def _no_node_spelling(options: dict[str, Any]) -> None:
    """http's request options pass unknown names through, as Node's do; but Node's own
    spelling of a TLS option (``rejectUnauthorized=False``) would be ignored quietly,
    the request then failing, or verifying in a way its author did not mean."""
    for name in options:
        if name != name.lower() and name.isidentifier():
            snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
            raise TypeError(f"unknown option {name!r}: nodish spells Node's options {snake}=")


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


class Agent(_HttpAgent):
    """Node's ``https.Agent``: http's connection pool over :func:`nodish.tls.connect`.

    Takes http.Agent's options (``keep_alive``, ``max_sockets`` ...), TLS options
    used for every connection it makes (``ca``, ``cert``, ``key``,
    ``reject_unauthorized`` ...), and ``max_cached_sessions`` (100; 0 disables
    session resumption).
    """

    __slots__ = ("_sessions", "max_cached_sessions")

    def __init__(self, *, max_cached_sessions: int = 100, **options: Any) -> None:
        if isinstance(max_cached_sessions, bool) or not isinstance(max_cached_sessions, int):
            raise ERR_INVALID_ARG_TYPE(
                "options.max_cached_sessions", "of type int", type(max_cached_sessions).__name__
            )
        if max_cached_sessions < 0:
            raise ERR_OUT_OF_RANGE("options.max_cached_sessions", ">= 0", max_cached_sessions)
        _no_node_spelling(options)
        super().__init__(**options)
        self.default_port = 443
        self.protocol = "https:"
        self.max_cached_sessions = max_cached_sessions
        self._sessions: OrderedDict[str, bytes] = OrderedDict()

    def get_name(self, options: dict[str, Any]) -> str:
        """http's pool key plus every TLS option that changes the connection."""
        name = super().get_name(options)
        for key in _TLS_OPTIONS:
            value = options.get(key, self.options.get(key))
            name += ":" if value is None else f":{_fingerprint(value)}"
        return name

    def create_connection(
        self, options: dict[str, Any], callback: Callable[..., Any] | None = None
    ) -> tls.TLSSocket:
        """A new TLS connection for ``options`` (Node's ``https.Agent.createConnection``)."""
        opts = {**self.options, **options}
        host = opts.get("host") or "localhost"
        servername = opts.get("servername")
        name = self.get_name(options)
        session = self._sessions.get(name) if self.max_cached_sessions else None
        path = opts.get("socket_path")
        sock = tls.connect(
            None if path else opts.get("port") or self.default_port,
            host,
            path=path,
            local_address=opts.get("local_address"),
            family=opts.get("family") or 0,
            servername=servername,
            ca=opts.get("ca"),
            cert=opts.get("cert"),
            key=opts.get("key"),
            passphrase=opts.get("passphrase"),
            pfx=opts.get("pfx"),
            reject_unauthorized=opts.get("reject_unauthorized", True) is not False,
            check_server_identity=opts.get("check_server_identity"),
            session=session,
            alpn_protocols=opts.get("alpn_protocols"),
            min_version=opts.get("min_version"),
            max_version=opts.get("max_version"),
            ciphers=opts.get("ciphers"),
            no_delay=True,
            callback=callback,
        )
        if self.max_cached_sessions:
            sock.on("session", lambda data: self._cache_session(name, data))
            if session is not None:
                # a session the server refused to resume is not offered again
                sock.once("secure", lambda: self._check_resumed(name, sock))
        return sock

    def _cache_session(self, name: str, data: bytes) -> None:
        self._sessions[name] = data
        self._sessions.move_to_end(name)
        while len(self._sessions) > self.max_cached_sessions:
            self._sessions.popitem(last=False)

    def _check_resumed(self, name: str, sock: tls.TLSSocket) -> None:
        if not sock.is_session_reused():
            self._sessions.pop(name, None)


def _fingerprint(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_fingerprint(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        import hashlib

        return hashlib.sha256(bytes(value)).hexdigest()[:16]
    if isinstance(value, str) and len(value) > 64:
        import hashlib

        return hashlib.sha256(value.encode()).hexdigest()[:16]
    if callable(value):
        return f"fn{id(value)}"
    return str(value)


global_agent = Agent(keep_alive=True, scheduling="lifo", timeout=5)
"""The agent of requests made without ``agent=`` (Node's ``https.globalAgent``)."""


def request(
    url: Any = None,
    callback: Callable[[IncomingMessage], Any] | None = None,
    **options: Any,
) -> ClientRequest:
    """Start an HTTPS request (Node's ``https.request``); ``end()`` it when written.

    ``url`` is an ``https://`` URL; options are http.request's plus the TLS options
    (``ca``, ``cert``, ``key``, ``servername``, ``reject_unauthorized`` ...). ``agent``
    is an :class:`Agent`, None for :data:`global_agent`, or False for a one-off
    connection. ``res = await https.request(url)`` ends it and returns the response.
    A certificate that does not verify fails the request with Node's code
    (``DEPTH_ZERO_SELF_SIGNED_CERT``, ``ERR_TLS_CERT_ALTNAME_INVALID`` ...).
    """
    return ClientRequest(url, callback, **_with_agent(options))


def get(
    url: Any = None,
    callback: Callable[[IncomingMessage], Any] | None = None,
    **options: Any,
) -> ClientRequest:
    """Like :func:`request` with method GET, already ended (Node's ``https.get``)."""
    return _http_get(url, callback, **_with_agent(options))


def _with_agent(options: dict[str, Any]) -> dict[str, Any]:
    _no_node_spelling(options)
    agent = options.get("agent")
    if agent is None:
        options["agent"] = global_agent
    elif agent is False:
        options["agent"] = Agent(keep_alive=False)  # a one-off connection, as in Node
    return options
