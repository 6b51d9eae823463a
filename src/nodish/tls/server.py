"""``tls.Server``: a ``net.Server`` whose connections are :class:`TLSSocket` objects.

Each accepted socket starts its handshake at once. The server owns what is shared by
its connections: the :class:`SecureContext` (replaced by ``set_secure_context`` for new
connections while old ones carry on), the client-certificate policy
(``request_cert``/``reject_unauthorized``), SNI (``sni_callback`` and ``add_context``),
ALPN (``alpn_protocols`` or ``alpn_callback``), the handshake deadline, the session
ticket keys, and the events ``'secureConnection'``, ``'tlsClientError'`` and ``'keylog'``.

Ticket keys (Node's 48 bytes: ``ticket_keys``, ``get_ticket_keys``, ``set_ticket_keys``)
belong to the server, not to one context: every context it serves from (the main one,
a ``set_secure_context`` replacement, SNI contexts) is given them before its next
connection, so a certificate reload keeps sessions resumable, and servers given the
same keys resume each other's sessions. Without ``ticket_keys`` the server makes 48
random bytes (as Node does). Where OpenSSL's ticket-key call cannot be reached
(see ``_openssl``), servers keep OpenSSL's own random keys per context and the three
ticket-key entry points raise ``ERR_METHOD_NOT_IMPLEMENTED``.

An ``sni_callback`` that answers later (a coroutine function, or Node's two-argument
``(servername, callback)``, told apart by signature) cannot run in OpenSSL's servername
callback, which must answer at once: each socket of such a server reads its ClientHello
first (``_hello.HelloReader``, no handshake step run meanwhile), ``_ask_sni`` asks the
callback, and ``_sni_answer`` sets the chosen context (or a refusal) on the connection
before OpenSSL reads the held hello. A synchronous one keeps the servername-callback path.

OpenSSL callbacks (SNI, ALPN, keylog) are installed on a context the first time a
connection uses it; pyOpenSSL forbids changing a context once it has served one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Hashable
from typing import Any

from OpenSSL import SSL

from .. import runtime
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_MULTIPLE_CALLBACK,
    ERR_TLS_ALPN_CALLBACK_INVALID_RESULT,
    ERR_TLS_INVALID_CONTEXT,
)
from ..events import _is_coroutine_function, takes_two
from ..net.server import Server as NetServer
from ..net.socket import accepted_socket_maker
from .context import (
    CONTEXT_OPTIONS,
    SecureContext,
    alpn_list,
    as_context,
    check_ticket_keys,
    create_secure_context,
    ticket_keys_unavailable,
)
from .identity import _check, _split_host
from .socket import HandshakeDeadlines, TLSSocket

__all__ = ["Server"]


# Node's server events that nodish never emits: adding a listener warns, so code
# ported from Node learns it at once rather than from a silent session store.
_NOT_EMITTED = {
    "newSession": "sessions resume by tickets only (share ticket_keys between servers)",
    "resumeSession": "sessions resume by tickets only (share ticket_keys between servers)",
    "OCSPRequest": "there is no OCSP stapling",
}


class Server(NetServer):
    """A TLS server; Node's ``tls.Server`` (see :func:`nodish.tls.create_server`)."""

    __slots__ = (
        "_alpn",
        "_alpn_callback",
        "_configured",
        "_contexts",
        "_deadlines",
        "_handshake_timeout",
        "_refusals",
        "_reject_unauthorized",
        "_request_cert",
        "_secure_context",
        "_sni_async",
        "_sni_callback",
        "_socket_opts",
        "_ticket_keys",
    )

    def __init__(
        self,
        secure_connection_listener: Callable[[TLSSocket], Any] | None = None,
        *,
        secure_context: SecureContext | None = None,
        request_cert: bool = False,
        reject_unauthorized: bool = True,
        alpn_protocols: list[str] | None = None,
        alpn_callback: Callable[[dict[str, Any]], str | None] | None = None,
        sni_callback: Callable[..., Any] | None = None,
        handshake_timeout: float = 120.0,
        allow_half_open: bool = False,
        pause_on_connect: bool = False,
        no_delay: bool = False,
        keep_alive: bool = False,
        keep_alive_initial_delay: float = 0,
        high_water_mark: int | None = None,
        **context_options: Any,
    ) -> None:
        unknown = set(context_options) - set(CONTEXT_OPTIONS)
        if unknown:
            raise TypeError(f"tls.Server got unknown options: {', '.join(sorted(unknown))}")
        for name, cb in (("alpn_callback", alpn_callback), ("sni_callback", sni_callback)):
            if cb is not None and not callable(cb):
                raise ERR_INVALID_ARG_TYPE(f"options.{name}", "a function", type(cb).__name__)
        if alpn_callback is not None and alpn_protocols:
            raise TypeError("alpn_callback and alpn_protocols cannot both be given")
        if not isinstance(handshake_timeout, (int, float)) or handshake_timeout < 0:
            raise ERR_INVALID_ARG_TYPE(
                "options.handshake_timeout", "a non-negative number", repr(handshake_timeout)
            )
        super().__init__(
            None,
            allow_half_open=allow_half_open,
            pause_on_connect=pause_on_connect,
            no_delay=no_delay,
            keep_alive=keep_alive,
            keep_alive_initial_delay=keep_alive_initial_delay,
            high_water_mark=high_water_mark,
        )
        keys = context_options.get("ticket_keys")
        if secure_context is None:
            secure_context = create_secure_context(context_options)
        elif not isinstance(secure_context, SecureContext):
            raise ERR_TLS_INVALID_CONTEXT("options.secure_context")
        elif keys is not None:
            secure_context.use_ticket_keys(check_ticket_keys(keys, "options.ticket_keys"))
        # A context shared with another server keeps the keys it already has.
        self._ticket_keys = secure_context.ticket_keys
        if self._ticket_keys is None and ticket_keys_unavailable() is None:
            self._ticket_keys = os.urandom(48)
            secure_context.use_ticket_keys(self._ticket_keys)
        self._secure_context = secure_context
        self._request_cert = request_cert
        self._reject_unauthorized = reject_unauthorized is not False  # Node's rule
        self._alpn = alpn_list(alpn_protocols, "options.alpn_protocols") or None
        self._alpn_callback = alpn_callback
        self._sni_callback = sni_callback
        # An sni_callback that answers later (a coroutine function, or Node's
        # (servername, callback)): its sockets read the ClientHello first (_hello).
        self._sni_async = sni_callback is not None and (
            _is_coroutine_function(sni_callback) or takes_two(sni_callback)
        )
        self._handshake_timeout = handshake_timeout
        self._deadlines: HandshakeDeadlines | None = None  # made by the first socket
        self._socket_opts: dict[str, Any] = {}  # a TLSSocket's _opts (made by _factory)
        self._contexts: list[tuple[list[str], SecureContext]] = []
        self._configured: set[int] = set()
        # Handshakes refused for a bad sni_callback/alpn_callback result: the error the
        # refused socket's 'tlsClientError' carries instead of OpenSSL's alert.
        self._refusals: dict[TLSSocket, BaseException] = {}
        if secure_connection_listener is not None:
            self.on("secureConnection", secure_connection_listener)

    # ------------------------------------------------------------------ contexts

    def set_secure_context(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Replace the certificate, key and settings for *new* connections (Node's
        ``setSecureContext``); connections already open keep theirs. Bad options raise
        here and leave the old context in place. The server's ticket keys and
        ``session_id_context`` carry over (sessions stay resumable) unless given."""
        if options is not None and not isinstance(options, dict):
            raise ERR_INVALID_ARG_TYPE("options", "of type dict", type(options).__name__)
        opts = dict(options or {}, **kwargs)
        if opts.get("session_id_context") is None:
            opts["session_id_context"] = self._secure_context.options.get("session_id_context")
        ctx = create_secure_context(opts)
        if ctx.ticket_keys is None and self._ticket_keys is not None:
            ctx.use_ticket_keys(self._ticket_keys)
        self._ticket_keys = ctx.ticket_keys
        self._secure_context = ctx

    def get_ticket_keys(self) -> bytes:
        """The 48 bytes of session ticket keys in use (Node's ``getTicketKeys``)."""
        if self._ticket_keys is None:
            missing = ticket_keys_unavailable()
            assert missing is not None
            raise missing
        return self._ticket_keys

    def set_ticket_keys(self, keys: bytes | bytearray | memoryview) -> None:
        """Encrypt session tickets with these 48 bytes from now on (Node's
        ``setTicketKeys``): sessions issued under the old keys are no longer resumed;
        servers with the same keys resume each other's sessions."""
        keys = check_ticket_keys(keys, "keys")
        self._secure_context.use_ticket_keys(keys)
        self._ticket_keys = keys

    def add_context(self, hostname: str, context: SecureContext | dict[str, Any]) -> None:
        """Serve ``context`` to clients asking for ``hostname`` by SNI (``*`` wildcards)."""
        if not isinstance(hostname, str) or not hostname:
            raise ERR_INVALID_ARG_TYPE("hostname", "a non-empty string", repr(hostname))
        ctx = as_context(context, "context", is_server=True)
        self._contexts.append((_split_host(hostname), ctx))

    def _add(self, event: Hashable, listener: Any, prepend: bool, once: bool) -> None:
        why = _NOT_EMITTED.get(event) if isinstance(event, str) else None
        if why is not None:
            warnings.warn(
                f"nodish's tls.Server never emits {event!r}: {why}", RuntimeWarning, stacklevel=3
            )
        super()._add(event, listener, prepend, once)

    def _factory(self) -> TLSSocket:  # type: ignore[override]
        if self._refusing:
            self._refuse_late_accept()
        make = self._make
        if make is None and not self._make_tried:
            # built as net.Server builds its sockets (accepted_socket_maker), from a
            # prototype; the context (set_secure_context may change it) and the options
            # dict are each socket's own
            self._make_tried = True
            proto = self._new_socket()
            make = self._make = accepted_socket_maker(self, {}, proto, ("_ctx", "_opts"))
            self._socket_opts = proto._opts
        if make is None:
            return self._new_socket()
        sock: TLSSocket = make(self)  # type: ignore[assignment]
        sock._ctx = self._secure_context
        sock._opts = self._socket_opts.copy()
        return sock

    def _new_socket(self) -> TLSSocket:
        return TLSSocket(
            secure_context=self._secure_context,
            is_server=True,
            request_cert=self._request_cert,
            reject_unauthorized=self._reject_unauthorized,
            handshake_timeout=self._handshake_timeout or None,
            _server=self,
            **self._opts,
        )

    def _configure(self, sc: SecureContext, *, first: bool) -> None:
        keys = self._ticket_keys
        if keys is not None and sc.ticket_keys is not keys:
            sc.use_ticket_keys(keys)
        if id(sc) in self._configured:
            return
        ctx = sc.context
        try:
            if first:
                ctx.set_tlsext_servername_callback(self._on_servername)
            if self._alpn is not None or self._alpn_callback is not None:
                ctx.set_alpn_select_callback(self._on_alpn)
            if self.listener_count("keylog"):
                ctx.set_keylog_callback(self._on_keylog)
        except ValueError:
            return  # already used elsewhere: it keeps the callbacks it has
        self._configured.add(id(sc))

    def _prepare_connection(self, sock: TLSSocket, conn: SSL.Connection) -> None:
        """Per-connection policy, called by the socket before its handshake."""
        if self._request_cert:
            flags = SSL.VERIFY_PEER
            if self._reject_unauthorized:
                flags |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
            conn.set_verify(flags, sock._verify_cb)

    # ------------------------------------------------------------------ callbacks

    def _on_servername(self, conn: SSL.Connection) -> None:
        if (self._sni_callback is None and not self._contexts) or self._sni_async:
            # one certificate for every name (the callback stays: add_context may
            # come), or the context was chosen before the handshake (_ask_sni)
            return
        raw = conn.get_servername()
        if not raw:
            return
        name = raw.decode("ascii", "replace")
        ctx: SecureContext | None = None
        try:
            if self._sni_callback is not None:
                ctx = self._call_sni(conn, name)
                if self._refusals and conn.get_app_data() in self._refusals:
                    return  # refused: no add_context() fallback
            if ctx is None:
                ctx = self._added_context(name)
        except BaseException as exc:
            sock = conn.get_app_data()
            runtime.report_uncaught(exc, sock)
            return
        if ctx is not None:
            self._configure(ctx, first=False)
            conn.set_context(ctx.context)

    def _added_context(self, name: str) -> SecureContext | None:
        """The last ``add_context`` context whose host pattern matches ``name``."""
        parts = _split_host(name)
        for pattern, candidate in reversed(self._contexts):
            if _check(parts, ".".join(pattern), True):
                return candidate
        return None

    def _call_sni(self, conn: SSL.Connection, name: str) -> SecureContext | None:
        cb = self._sni_callback
        assert cb is not None
        ctx = cb(name)
        if ctx is None:
            return None
        try:
            return as_context(ctx, "sni_callback result", is_server=True)
        except Exception as exc:
            # Node: a bad context given to SNICallback's callback fails that handshake
            # ('tlsClientError'), it is not an uncaught exception.
            self._refuse(conn, exc)
            return None

    def _refuse(self, conn: SSL.Connection, exc: BaseException) -> None:
        """Fail this handshake with ``exc`` as its 'tlsClientError': a context with no
        certificate makes OpenSSL end it with an alert."""
        self._refusals[conn.get_app_data()] = exc
        conn.set_context(SSL.Context(SSL.TLS_SERVER_METHOD))

    def _ask_sni(self, sock: TLSSocket, name: str) -> None:
        """Ask an asynchronous ``sni_callback`` for ``name``'s context; the socket's
        handshake waits (its ClientHello held) until the answer, which may come now."""
        cb = self._sni_callback
        assert cb is not None
        answered = False

        def answer(err: Any = None, ctx: Any = None) -> None:
            nonlocal answered
            loop = sock._loop
            if not runtime.on_loop(loop):  # called from a worker thread: hand it over
                loop.call_soon_threadsafe(answer, err, ctx)
                return
            if answered:  # Node: that socket fails with ERR_MULTIPLE_CALLBACK
                if not sock.destroyed:
                    if sock._secure:
                        sock.destroy(ERR_MULTIPLE_CALLBACK())
                    else:
                        sock._handshake_failed(ERR_MULTIPLE_CALLBACK())
                return
            answered = True
            self._sni_answer(sock, name, err, ctx)

        if _is_coroutine_function(cb):

            async def ask() -> None:
                try:
                    ctx = await cb(name)
                except Exception as exc:
                    answer(exc)
                    return
                answer(None, ctx)

            sock._hello = runtime.spawn(ask(), sock)
            return
        try:
            cb(name, answer)
        except Exception as exc:
            answer(exc)

    def _sni_answer(self, sock: TLSSocket, name: str, err: Any, value: Any) -> None:
        conn = sock._conn
        if sock.destroyed or sock._tls_failed or conn is None:
            return  # the client left (or timed out) meanwhile
        ctx: SecureContext | None = None
        if err:  # Node: callback(err) destroys that socket with err ('tlsClientError')
            if not isinstance(err, BaseException):
                err = RuntimeError(str(err))
            self._refuse(conn, err)
        elif value is None:
            ctx = self._added_context(name)
        else:
            try:
                ctx = as_context(value, "sni_callback result", is_server=True)
            except Exception as exc:
                self._refuse(conn, exc)
        if ctx is not None:
            self._configure(ctx, first=False)
            conn.set_context(ctx.context)
        sock._hello_answered()

    def _on_alpn(self, conn: SSL.Connection, offered: list[bytes]) -> bytes | Any:
        if self._alpn_callback is not None:
            name = conn.get_servername()
            try:
                chosen = self._alpn_callback(
                    {
                        "servername": name.decode() if name else None,
                        "protocols": [p.decode("ascii", "replace") for p in offered],
                    }
                )
            except BaseException as exc:
                runtime.report_uncaught(exc, conn.get_app_data())
                return SSL.NO_OVERLAPPING_PROTOCOLS
            if chosen is None:
                return SSL.NO_OVERLAPPING_PROTOCOLS
            raw = chosen.encode() if isinstance(chosen, str) else chosen
            if not isinstance(raw, bytes) or raw not in offered:
                # Node throws ERR_TLS_ALPN_CALLBACK_INVALID_RESULT; here that handshake
                # fails with an alert and 'tlsClientError', and the server serves on.
                self._refusals[conn.get_app_data()] = ERR_TLS_ALPN_CALLBACK_INVALID_RESULT(
                    repr(chosen), ", ".join(p.decode("ascii", "replace") for p in offered)
                )
                raise SSL.Error("invalid ALPN callback result")  # a fatal alert
            return raw
        assert self._alpn is not None
        for proto in self._alpn:  # server preference, as OpenSSL's SSL_select_next_proto
            if proto in offered:
                return proto
        return SSL.NO_OVERLAPPING_PROTOCOLS

    def _on_keylog(self, conn: SSL.Connection, line: bytes) -> None:
        sock = conn.get_app_data()
        try:
            self.emit("keylog", line + b"\n", sock)
        except BaseException as exc:
            runtime.report_uncaught(exc, sock)

    # ------------------------------------------------------------------ events

    def _secure_connection(self, sock: TLSSocket) -> None:
        try:
            self.emit("secureConnection", sock)
        except BaseException as exc:
            runtime.report_uncaught(exc, sock)

    def _tls_client_error(self, err: BaseException, sock: TLSSocket) -> None:
        if self._refusals:
            err = self._refusals.pop(sock, err)
        if not self.listener_count("tlsClientError"):
            return
        try:
            self.emit("tlsClientError", err, sock)
        except BaseException as exc:
            runtime.report_uncaught(exc, sock)
