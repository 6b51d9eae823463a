"""``tls.TLSSocket``: a ``net.Socket`` whose bytes pass through OpenSSL.

Theory of operation
-------------------
A TLSSocket is the asyncio Protocol of the raw TCP transport, like any net.Socket, and
OpenSSL runs over memory BIOs in between (pyOpenSSL ``Connection(ctx, None)``):

    raw transport ──data_received──▶ bio_write → recv() ──▶ net.Socket.data_received
    net.Socket._write ──▶ _TLSTransport.write → send() → bio_read ──▶ raw.write

net.Socket keeps all of its stream logic (backpressure, half-open, timeouts, close
order) because it sees a transport: :class:`_TLSTransport`, which encrypts on the way
out. Writes made before the handshake finishes are held there and flushed, in order,
right after it; ``end()`` before then is held too. ``pause()`` during the handshake is
remembered and applied once the connection is secure (the handshake must read).

Half-close (Node's ``allowHalfOpen`` over TLS): ``end()`` sends close_notify and then
TCP FIN; the other direction stays readable (TLS 1.3 closes each direction on its own,
RFC 8446 6.1). A peer's close_notify, or a FIN without one, is ``'end'``.

Verification follows Node, not Python's ssl: the OpenSSL verify callback accepts every
certificate and remembers the last error (as Node's ``VerifyCallback`` does), then
after the handshake a client checks ``check_server_identity`` (Node's rule with the CN
fallback) and either emits ``'secureConnect'`` with ``authorized``/
``authorization_error`` set, or, with ``reject_unauthorized``, is destroyed with the
error (``DEPTH_ZERO_SELF_SIGNED_CERT``, ``ERR_TLS_CERT_ALTNAME_INVALID`` ...). A server
with ``request_cert`` and ``reject_unauthorized`` lets OpenSSL refuse a bad or missing
client certificate during the handshake (a proper alert for the client); without
``reject_unauthorized`` it accepts and reports.

Errors before the connection is secure: a client emits ``'error'`` (then ``'close'``);
an accepted socket is destroyed quietly and its server emits ``'tlsClientError'``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, cast

from OpenSSL import SSL
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib

from .. import runtime
from .._address import is_ip
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_OUT_OF_RANGE,
    ERR_TLS_CERT_ALTNAME_INVALID,
    ERR_TLS_HANDSHAKE_TIMEOUT,
    NodeError,
    system_error,
)
from ..net.socket import Socket
from ._hello import HelloError, HelloReader
from .context import SecureContext, TLSError, alpn_list, ssl_error, verify_error
from .identity import PeerCertificate, ascii_host, check_server_identity, peer_certificate

__all__ = ["TLSSocket"]

_BIO = 65536
_RECORD = 16384
# What a server holds unread while an asynchronous sni_callback answers: a client sends
# nothing after its ClientHello until the server's reply, so more is a flood.
_HELD_MAX = 131072
# The hot path calls OpenSSL directly, checking return codes (pyOpenSSL's recv/bio_read
# raise an exception each time the buffers run dry, i.e. once per read), and reads
# into one scratch buffer per thread that every socket of that thread's loop shares:
# a loop runs one callback at a time and each read is copied out at once (cffi
# releases the GIL around OpenSSL, so threads must not share one). A socket keeps a
# reference to its thread's buffer from the start.
_local = threading.local()


def _scratch() -> tuple[Any, memoryview]:
    """This thread's scratch buffer: (cffi pointer for OpenSSL, memoryview to copy out)."""
    try:
        return _local.buf  # type: ignore[no-any-return]
    except AttributeError:
        buf = bytearray(_BIO)
        _local.buf = (_ffi.from_buffer(buf), memoryview(buf))
        return _local.buf  # type: ignore[no-any-return]


_SSL_read = _lib.SSL_read
_SSL_write = _lib.SSL_write
_SSL_get_error = _lib.SSL_get_error
_SSL_do_handshake = _lib.SSL_do_handshake
_BIO_read = _lib.BIO_read
_BIO_write = _lib.BIO_write
_BIO_pending = _lib.BIO_get_mem_data  # (bio, NULL): the bytes a memory BIO holds
_NULL = _ffi.NULL
_unpack = _ffi.unpack  # (pointer, n) -> bytes: one call, cheaper than a memoryview copy
_WANT_READ = _lib.SSL_ERROR_WANT_READ
_RECORD22: dict[Any, bool] = {}  # (see _record22) by OpenSSL's cipher object
_ZERO_RETURN = _lib.SSL_ERROR_ZERO_RETURN
_ECONNRESET_MSG = "Client network socket disconnected before secure TLS connection was established"


def _disconnected() -> BaseException:
    import errno

    return system_error(errno.ECONNRESET, "read", message=_ECONNRESET_MSG)


def _record22(conn: SSL.Connection) -> bool:
    """Whether each application record of ``conn`` is its plaintext plus 22 bytes
    unless padded: TLS 1.3 (header 5, inner content type 1) with a 16-byte AEAD tag
    (every TLS 1.3 cipher but CCM_8). A record is then never shorter than that, so a
    chunk of exactly the plaintext read + 22 bytes, into an empty input, was that
    record and nothing else."""
    ssl = conn._ssl
    if _lib.SSL_version(ssl) != _lib.TLS1_3_VERSION:
        return False
    cipher = _lib.SSL_get_current_cipher(ssl)  # one of OpenSSL's static cipher objects
    known = _RECORD22.get(cipher)
    if known is None:
        known = _RECORD22[cipher] = "CCM_8" not in (conn.get_cipher_name() or "CCM_8")
    return known


def _alpn_selected(ssl: Any) -> str | bool:
    """The protocol ALPN chose (Node's ``alpnProtocol``), or False: pyOpenSSL's
    get_alpn_proto_negotiated without its two allocations (the out-parameters are
    this thread's, as the scratch buffer is)."""
    try:
        out, size = _local.alpn
    except AttributeError:
        out, size = _local.alpn = (_ffi.new("unsigned char **"), _ffi.new("unsigned int *"))
    _lib.SSL_get0_alpn_selected(ssl, out, size)
    n = size[0]
    return _ffi.buffer(out[0], n)[:].decode() if n else False


class HandshakeDeadlines:
    """The handshake deadlines of one server's sockets, on one loop timer.

    Every socket of a server has the same ``handshake_timeout``, so deadlines fall in the
    order the handshakes began: an insertion-ordered dict holds them and one loop timer
    waits for the earliest (Node keeps one timer list per duration the same way),
    instead of a loop timer made and cancelled per connection. A socket leaves the dict
    when its handshake ends, fails or its connection closes; the timer, once due,
    fails the sockets past their deadline and waits for the next one.
    """

    __slots__ = ("_due", "_timeout", "_timer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self._timeout = timeout
        self._due: dict[TLSSocket, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, sock: TLSSocket) -> None:
        self._due[sock] = self.loop.time() + self._timeout
        if self._timer is None:
            self._timer = self.loop.call_later(self._timeout, self._fire)

    def drop(self, sock: TLSSocket) -> None:
        self._due.pop(sock, None)

    def _fire(self) -> None:
        self._timer = None
        now = self.loop.time()
        expired = []
        for sock, when in self._due.items():
            if when - now > 0.001:  # (the loop's timers have millisecond steps)
                self._timer = self.loop.call_later(when - now, self._fire)
                break
            expired.append(sock)
        for sock in expired:
            del self._due[sock]
            sock._on_handshake_timeout()


class _TLSTransport:
    """What a TLSSocket's net.Socket machinery writes to: encrypts, then the raw transport."""

    __slots__ = ("_owner", "_paused", "_pending", "_pending_eof", "_scr", "_ssl", "_wbio", "raw")

    def __init__(self, owner: TLSSocket, raw: asyncio.Transport) -> None:
        self._owner = owner
        self.raw = raw
        self._pending: list[bytes] | None = []  # plaintext held until the handshake is done
        self._pending_eof = False
        self._paused = False
        self._ssl: Any = None  # the SSL and its outgoing BIO, once the connection is secure
        self._wbio: Any = None
        self._scr: tuple[Any, memoryview] | None = None

    def write(self, data: Any) -> None:
        ssl = self._ssl
        if ssl is None:
            if self._pending is not None:
                self._pending.append(bytes(data))
            return
        # The common case, a response: one record, one BIO_read, one raw write.
        if type(data) is bytes and 0 < len(data) <= _RECORD and not self._owner._lost:
            size = len(data)
            written = _SSL_write(ssl, data, size)
            if written == size:
                ptr, view = self._scr  # type: ignore[misc]
                n = _BIO_read(self._wbio, ptr, _BIO)
                if 0 < n < _BIO:
                    self.raw.write(_unpack(ptr, n))
                    return
                if n <= 0:
                    return  # (not expected: a record was just written)
                self._owner._flush(view[:n].tobytes())
                return
            self._owner._flush()
            self._owner._write_failed(written)
            return
        self._owner._encrypt(data)

    def writelines(self, chunks: Any) -> None:
        if self._pending is not None:
            self._pending.extend(bytes(c) for c in chunks)
            return
        self._owner._encrypt(b"".join(chunks))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._pending is not None:
            self._pending_eof = True
            return
        self._owner._send_close_notify()

    def flush_pending(self, conn: SSL.Connection) -> None:
        self._ssl, self._wbio, self._scr = conn._ssl, conn._from_ssl, _scratch()
        pending, self._pending = self._pending, None
        if pending:
            self._owner._encrypt(b"".join(pending))
        if self._pending_eof:
            self._owner._send_close_notify()
        if self._paused:
            self.raw.pause_reading()

    def pause_reading(self) -> None:
        self._paused = True
        if self._pending is None:
            self.raw.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        self.raw.resume_reading()

    def get_write_buffer_size(self) -> int:
        held = sum(len(c) for c in self._pending) if self._pending else 0
        return held + self.raw.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.raw.set_write_buffer_limits(high=high, low=low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.raw.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def close(self) -> None:
        self.raw.close()

    def abort(self) -> None:
        if self._owner._tls_failed:
            self.raw.close()  # a failed handshake: let the alert reach the peer, then FIN
        else:
            self.raw.abort()


class TLSSocket(Socket):
    """A TLS connection; Node's ``tls.TLSSocket`` (a :class:`nodish.net.Socket`).

    Made by :func:`nodish.tls.connect` and by a :class:`nodish.tls.Server`. Events
    besides net.Socket's: ``'secureConnect'`` (client), ``'secure'``, ``'session'``,
    ``'keylog'``. ``await tls.connect(...)`` waits for ``'secureConnect'``.

    To upgrade a connected plain socket (STARTTLS), pass it: ``TLSSocket(sock, ...)``
    (or ``tls.connect(socket=sock, ...)``); the plain socket is detached and must not
    be used afterwards.
    """

    __slots__ = (
        "_conn",
        "_ctx",
        "_hello",
        "_hs_timeout",
        "_hs_timer",
        "_is_server",
        "_opts",
        "_plain",
        "_rbio_empty",
        "_read_failure",
        "_record22",
        "_secure",
        "_session_pending",
        "_tls_eof",
        "_tls_failed",
        "_tls_transport",
        "_verify_errno",
        "alpn_protocol",
        "authorization_error",
        "authorized",
        "encrypted",
        "servername",
    )

    _ready_event = "secureConnect"
    # Nagle (no_delay=False) goes on before the first write: the handshake's came before.
    _nagle_first_write = -1

    def __init__(
        self,
        socket: Socket | None = None,
        *,
        secure_context: SecureContext | None = None,
        is_server: bool = False,
        request_cert: bool = False,
        reject_unauthorized: bool = True,
        servername: str | None = None,
        alpn_protocols: list[str] | list[bytes] | None = None,
        session: Any = None,
        check_server_identity: Callable[[str, Any], Any] | None = None,
        handshake_timeout: float | None = None,
        allow_half_open: bool = False,
        no_delay: bool = False,
        keep_alive: bool = False,
        keep_alive_initial_delay: float = 0,
        high_water_mark: int | None = None,
        _server: Any = None,
        _host: str | None = None,
    ) -> None:
        super().__init__(
            allow_half_open=allow_half_open,
            no_delay=no_delay,
            keep_alive=keep_alive,
            keep_alive_initial_delay=keep_alive_initial_delay,
            high_water_mark=high_water_mark,
            _server=_server,
        )
        if secure_context is None:
            from .context import create_secure_context

            secure_context = create_secure_context(is_server=is_server)
        self._ctx = secure_context
        self._is_server = is_server
        if servername is not None:
            ascii_host(servername)  # a bad name raises here, not at the handshake
        if session is not None:
            session = _session_from(session)
        self._opts = {
            "request_cert": request_cert,
            "reject_unauthorized": reject_unauthorized,
            "servername": servername,
            "alpn_protocols": alpn_list(alpn_protocols, "options.alpn_protocols"),
            "session": session,
            "check_server_identity": check_server_identity,
            "host": _host,
        }
        self._conn: SSL.Connection | None = None
        self._tls_transport: _TLSTransport | None = None
        self._secure = False
        self._tls_eof = False
        self._tls_failed = False
        self._verify_errno = 0
        self._hs_timeout = handshake_timeout
        # the handshake's deadline: a loop timer (client), or its server's clock
        self._hs_timer: asyncio.TimerHandle | HandshakeDeadlines | None = None
        # Asynchronous sni_callback (server): the ClientHello reader, then whatever
        # stands for the pending answer (its task), then None once the context is set.
        self._hello: Any = None
        self._plain: Socket | None = None
        self._read_failure: SSL.Error | None = None
        self._session_pending = 0  # the session's size before a TLS 1.3 ticket
        self._record22 = False  # an application record is its plaintext + 22 bytes
        self._rbio_empty = False  # OpenSSL's input held nothing before the last chunk
        self.encrypted = True
        self.authorized = False
        self.authorization_error: str | None = None
        self.alpn_protocol: str | bool = False
        self.servername: str | None = None
        if socket is not None:
            self._adopt(socket)

    # ------------------------------------------------------------------ STARTTLS

    def _adopt(self, plain: Socket) -> None:
        """Take over a connected plain socket's transport (``new TLSSocket(socket)``)."""
        if not isinstance(plain, Socket):
            raise ERR_INVALID_ARG_TYPE("options.socket", "a net.Socket", type(plain).__name__)
        raw = plain._transport
        if raw is None or plain._lost or plain.destroyed:
            from ..errors import ERR_SOCKET_CLOSED

            raise ERR_SOCKET_CLOSED()
        leftover = []
        while (chunk := plain.read()) is not None:
            leftover.append(bytes(chunk) if not isinstance(chunk, bytes) else chunk)
        plain._transport = None
        plain._lost = True
        self._plain = plain  # it closes with us (its server counts it until then)
        raw.set_protocol(self)
        if plain._read_paused:
            raw.resume_reading()
        self.connection_made(raw)
        if leftover:
            self.data_received(b"".join(leftover))

    # ------------------------------------------------------------------ protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        raw = cast(asyncio.Transport, transport)
        if self.destroyed:
            raw.abort()
            return
        tt = _TLSTransport(self, raw)
        self._tls_transport = tt
        super().connection_made(cast(asyncio.Transport, tt))
        if self._transport is not None and not self.destroyed and self._conn is None:
            try:
                self._start_handshake()
            except Exception as exc:  # a bad session or servername: fail this socket
                self._handshake_failed(exc)

    def _start_handshake(self) -> None:
        if self._is_server and self._server is not None:
            self._server._configure(self._ctx, first=True)  # before any Connection uses it
        conn = SSL.Connection(self._ctx.context, None)
        conn.set_app_data(self)
        o = self._opts
        if self._is_server:
            server = self._server
            if server is not None:
                server._prepare_connection(self, conn)
                if server._sni_async:
                    self._hello = HelloReader()
            conn.set_accept_state()
        else:
            name = o["servername"]
            if name is None:
                host = o["host"] or "localhost"
                name = None if is_ip(host) else host
            if name:
                if not is_ip(name):  # RFC 6066: SNI carries no IP address
                    conn.set_tlsext_host_name(ascii_host(name).encode())
                self.servername = name
            conn.set_verify(SSL.VERIFY_PEER, self._verify_cb)
            if o["alpn_protocols"]:
                conn.set_alpn_protos(o["alpn_protocols"])
            if o["session"] is not None:
                session = _session_from(o["session"])
                session._context = self._ctx.context  # it is resumed with our context
                conn.set_session(session)
            conn.set_connect_state()
        self._conn = conn
        if self._hs_timeout:
            server = self._server if self._is_server else None
            if server is not None:
                # one clock per server (module notes of HandshakeDeadlines)
                deadlines = server._deadlines
                if deadlines is None or deadlines.loop is not self._loop:
                    deadlines = server._deadlines = HandshakeDeadlines(self._loop, self._hs_timeout)
                deadlines.add(self)
                self._hs_timer = deadlines
            else:
                self._hs_timer = self._loop.call_later(self._hs_timeout, self._on_handshake_timeout)
        if not self._is_server:
            self._handshake()  # the ClientHello (a server waits for it)

    def _wait_hello(self, data: bytes) -> bool:
        """Asynchronous sni_callback: True while the handshake must wait (the bytes stay
        in OpenSSL's input BIO, no handshake step run) for the rest of the ClientHello
        or for the callback's answer."""
        reader = self._hello
        if not isinstance(reader, HelloReader):  # the callback has not answered yet
            conn = self._conn
            assert conn is not None
            if _BIO_pending(conn._into_ssl, _NULL) > _HELD_MAX:  # a client flooding
                self._handshake_failed(
                    TLSError(
                        "ERR_SSL_EXCESSIVE_MESSAGE_SIZE", "SSL routines::excessive message size"
                    )
                )
            return True
        try:
            if not reader.feed(data):
                return True
        except HelloError:
            self._hello = None
            return False  # not a ClientHello: OpenSSL reads it and refuses it as usual
        name = reader.servername
        if name is None:
            self._hello = None
            return False  # no SNI: the default context, as Node (no callback call)
        self._hello = True  # pending (or the coroutine's task, set by _ask_sni)
        self._server._ask_sni(self, name)
        return True

    def _hello_answered(self) -> None:
        """The sni_callback answered and the context is set: run the held handshake."""
        self._hello = None
        try:
            self._handshake()
        except Exception as exc:
            self._handshake_failed(exc)
        self._flush()

    def _drop_hello(self) -> None:
        """The handshake failed or the client left: stop waiting for the callback."""
        pending, self._hello = self._hello, None
        if isinstance(pending, asyncio.Future):
            pending.cancel()

    @staticmethod
    def _verify_cb(conn: Any, cert: Any, errno: int, depth: int, ok: int) -> bool:
        # (a function, not a bound method: pyOpenSSL keeps it in a reference cycle of
        # its own, which must not hold the socket)
        if not ok:
            sock = conn.get_app_data()
            sock._verify_errno = errno
            if sock._is_server and sock._opts["reject_unauthorized"]:
                return False  # OpenSSL refuses the client with an alert
        return True

    def _handshake(self) -> None:
        conn = self._conn
        assert conn is not None
        ssl = conn._ssl
        result = _SSL_do_handshake(ssl)
        if result != 1 and _SSL_get_error(ssl, result) != _WANT_READ:
            exc = self._ssl_exception(result)
            self._flush()  # the alert, so the peer learns why
            self._handshake_failed(self._handshake_error(exc))
            return
        if result == 1 and self._is_server:
            # A server's last handshake bytes (TLS 1.3: its session ticket) wait in
            # OpenSSL's output: the client's Finished usually comes with its request,
            # and the answer takes them along in one write. data_received moves them
            # at its end otherwise (its caller here; _hello_answered flushes itself).
            self._on_secure()
            return
        self._flush()
        if result == 1:
            self._on_secure()

    def _handshake_error(self, exc: SSL.Error) -> BaseException:
        if self._verify_errno and self._is_server:
            err = verify_error(self._verify_errno)
            return err
        return ssl_error(exc)

    def _handshake_failed(self, err: BaseException) -> None:
        if self._tls_failed or self.destroyed:
            return
        self._tls_failed = True
        self._stop_hs_timer()
        if self._hello is not None:
            self._drop_hello()
        if self._is_server:
            server = self._server
            self.destroy()
            if server is not None:
                server._tls_client_error(err, self)
        else:
            self.destroy(err)

    def _on_handshake_timeout(self) -> None:
        self._hs_timer = None
        if not self._secure:
            self._handshake_failed(ERR_TLS_HANDSHAKE_TIMEOUT())

    def _stop_hs_timer(self) -> None:
        timer = self._hs_timer
        if timer is not None:
            self._hs_timer = None
            if isinstance(timer, HandshakeDeadlines):
                timer.drop(self)
            else:
                timer.cancel()

    def _on_secure(self) -> None:
        conn = self._conn
        assert conn is not None
        self._secure = True
        self._record22 = _record22(conn)
        self._stop_hs_timer()
        self.alpn_protocol = _alpn_selected(conn._ssl)
        if self._is_server:
            name = _lib.SSL_get_servername(conn._ssl, _lib.TLSEXT_NAMETYPE_host_name)
            self.servername = _ffi.string(name).decode() if name != _NULL else None
            if self._opts["request_cert"]:
                if self._verify_errno:
                    self.authorization_error = verify_error(self._verify_errno).code
                elif conn.get_peer_certificate() is None:
                    self.authorization_error = "UNABLE_TO_GET_ISSUER_CERT"
                else:
                    self.authorized = True
        else:
            err: Any = verify_error(self._verify_errno) if self._verify_errno else None
            # Node skips the identity check on a resumed session (it was checked when the
            # session was made, and a resumed handshake carries no certificate).
            if err is None and not self.is_session_reused():
                host = ascii_host(self.servername or self._opts["host"] or "localhost")
                check = self._opts["check_server_identity"] or check_server_identity
                try:
                    err = check(host, self.get_peer_certificate(True) or PeerCertificate({}))
                except Exception as exc:  # a throwing check is an error, as in Node
                    err = exc
                if not err:  # Node: any falsy result passes
                    err = None
                elif not isinstance(err, BaseException):  # Node: any other one fails
                    err = ERR_TLS_CERT_ALTNAME_INVALID(str(err))
            if err is not None:
                self.authorization_error = getattr(err, "code", None) or str(err)
                if self._opts["reject_unauthorized"]:
                    self._tls_failed = True
                    self.destroy(err)
                    return
            else:
                self.authorized = True
        tt = self._tls_transport
        if tt is not None:
            tt.flush_pending(conn)
        # In Node, 'secure' is emitted first and its own listener (added before any of
        # the user's) emits 'secureConnect' or the server's 'secureConnection': so a
        # user's 'secure' listener runs after those, and one added by them does not run.
        secure_listeners = self.listeners("secure") if "secure" in self._events else ()
        if self._is_server:
            server = self._server
            if server is not None:
                server._secure_connection(self)
        else:
            self._emit_guarded("secureConnect")
        for listener in secure_listeners:
            try:
                listener()
            except Exception as exc:
                runtime.report_uncaught(exc, self)
        if not self._is_server:
            # TLS 1.2 sessions exist now; TLS 1.3 tickets follow the handshake, so
            # 'session' waits for the first records read after it (data_received).
            if conn.get_protocol_version_name() == "TLSv1.3":
                self._session_pending = _session_id(conn)
            else:
                self._emit_session()

    def _emit_session(self) -> None:
        self._session_pending = 0
        if self.listener_count("session"):
            session = self.get_session()
            if session:
                self._emit_guarded("session", session)

    # ------------------------------------------------------------------ bytes

    def _flush(self, first: bytes | None = None) -> None:
        """Move everything OpenSSL wrote into the outgoing BIO onto the wire (after
        ``first``, a full scratch buffer's worth already taken from it)."""
        conn, tt = self._conn, self._tls_transport
        if conn is None or tt is None:
            return
        wbio = conn._from_ssl
        ptr, view = _scratch()
        out = [] if first is None else [first]
        if first is None or len(first) == _BIO:
            while (n := _BIO_read(wbio, ptr, _BIO)) > 0:  # a memory BIO says "retry" when empty
                out.append(view[:n].tobytes())
                if n < _BIO:  # it held less than asked for: now it is empty
                    break
        if out and not self._lost:
            tt.raw.write(b"".join(out) if len(out) > 1 else out[0])

    def _encrypt(self, data: Any) -> None:
        """Encrypt any amount of plaintext and send it (the transport's general path)."""
        conn = self._conn
        if conn is None or self._lost:
            return
        if type(data) is not bytes:
            data = bytes(data)
        size = len(data)
        if not size:
            return  # an empty write is no record
        ssl = conn._ssl
        # pyOpenSSL enables partial writes: SSL_write takes one record (16 KiB) at most.
        ptr = _ffi.from_buffer(data)
        off = 0
        while off < size:
            n = _SSL_write(ssl, ptr + off, min(size - off, _RECORD))
            if n <= 0:
                self._flush()
                self._write_failed(n)
                return
            off += n
        self._flush()

    def _write_failed(self, result: int) -> None:
        """SSL_write refused (after our close_notify, or a fatal error): destroy with
        the error."""
        exc = self._read_failure or self._ssl_exception(result)
        self._fail(exc)

    def _ssl_exception(self, result: int) -> SSL.Error:
        """pyOpenSSL's exception for an OpenSSL call's failed ``result`` (it also takes
        the error off OpenSSL's queue)."""
        conn = self._conn
        assert conn is not None
        try:
            conn._raise_ssl_error(conn._ssl, result)
        except SSL.Error as exc:
            return exc
        return SSL.Error([])

    def _send_close_notify(self) -> None:
        conn, tt = self._conn, self._tls_transport
        if conn is None or tt is None or self._lost:
            return
        try:
            conn.shutdown()
        except SSL.Error:
            pass
        self._flush()
        if tt.raw.can_write_eof():
            try:
                tt.raw.write_eof()
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        if conn is None:
            return
        rbio = conn._into_ssl
        size = len(data)
        if _BIO_write(rbio, data, size) != size:
            try:
                conn.bio_write(data)  # not expected with a memory BIO: raises the error
            except SSL.Error as exc:
                self._fail(exc)
                return
        if not self._secure:
            if self._hello is not None and self._wait_hello(data):
                return
            self._handshake()
            if not self._secure or self.destroyed:
                return
        ssl = conn._ssl
        tt = self._tls_transport
        ptr, view = tt._scr if tt is not None and tt._scr is not None else _scratch()
        n = _SSL_read(ssl, ptr, _BIO)
        eof = False
        # The chunk was exactly one unpadded TLS 1.3 application record, with nothing
        # before it in OpenSSL's input (see _record22): then nothing is left to read,
        # and reading it made OpenSSL write nothing (only other record types do), so
        # neither BIO needs asking (two OpenSSL calls fewer per request).
        exact = n > 0 and n == size - 22 and self._rbio_empty and self._record22
        if exact or (n > 0 and not _BIO_pending(rbio, _NULL)):
            # The common case: one record came, and it is read. (A record holds 16 KiB
            # of plaintext at most, so nothing of it is left in OpenSSL.)
            plain: bytes | None = _unpack(ptr, n)
            self._rbio_empty = True
        else:
            self._rbio_empty = False  # (a part of a record may be left)
            chunks = []
            while n > 0:
                chunks.append(view[:n].tobytes())
                n = _SSL_read(ssl, ptr, _BIO)
            err = _SSL_get_error(ssl, n)
            if err == _ZERO_RETURN:
                eof = True
            elif err != _WANT_READ:  # a bad record, a fatal alert ...
                failure = self._ssl_exception(n)
                if chunks:
                    # what came before the bad record is data; a reply written meanwhile
                    # fails with this error, the cause (OpenSSL's queue is empty then)
                    self._read_failure = failure
                    Socket.data_received(self, b"".join(chunks))
                self._fail(failure)
                return
            plain = (b"".join(chunks) if len(chunks) > 1 else chunks[0]) if chunks else None
        if self._session_pending and _session_id(conn) != self._session_pending:
            self._emit_session()  # a ticket arrived (before the data that followed it)
        if plain is not None:
            consumer = self._consumer
            if consumer is not None and not self._timeout and not self._read_paused:
                # http's parser (Socket.data_received's common case, without its call)
                self._bytes_read += len(plain)
                try:
                    consumer(plain)
                except BaseException as exc:
                    runtime.report_uncaught(exc, self)
            else:
                Socket.data_received(self, plain)
        # what OpenSSL wrote while reading (a KeyUpdate's answer, an alert): rare
        if not exact and _BIO_pending(conn._from_ssl, _NULL):
            self._flush()
        if eof:
            self._tls_end()

    def _fail(self, exc: SSL.Error) -> None:
        err = ssl_error(exc)
        if not self._secure:
            self._handshake_failed(err)
        else:
            self.destroy(err)

    def _tls_end(self) -> None:
        if not self._tls_eof:
            self._tls_eof = True
            Socket.eof_received(self)

    def eof_received(self) -> bool:
        if not self._secure:
            self._handshake_failed(_disconnected())
            return False
        self._tls_end()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_hs_timer()
        if self._hello is not None:
            self._drop_hello()
        if not self._secure and not self._tls_failed and not self.destroyed:
            self._tls_failed = True
            if self._is_server:
                server = self._server
                if server is not None:
                    server._tls_client_error(_disconnected(), self)
                exc = None
            elif exc is None:
                exc = cast(Exception, _disconnected())
        super().connection_lost(exc)

    def _transport_reads(self) -> bool:
        # Until the connection is secure it reads, paused or not (the handshake must
        # read; pause() applies after it).
        return not self._secure or super()._transport_reads()

    def _emit_close_event(self) -> None:
        super()._emit_close_event()
        # Its two other references to itself (through the OpenSSL connection's app data
        # and the encrypting transport), dropped as net.Socket drops its own, so that
        # reference counting frees a closed TLS socket too: OpenSSL calls back no more
        # (no handshake follows a close), and every writer checks _lost before the
        # transport. The connection stays for the getters (get_session ...).
        conn, tt = self._conn, self._tls_transport
        if conn is not None:
            conn._app_data = None
        if tt is not None:
            tt._owner = None  # type: ignore[assignment]
        plain, self._plain = self._plain, None
        if plain is not None:
            plain._had_error = self._had_error
            plain._emit_close_event()

    def _is_ready(self) -> bool:
        return self._secure and not self.destroyed

    # ------------------------------------------------------------------ API

    def get_peer_certificate(self, detailed: bool = False) -> PeerCertificate | None:
        """Node's ``getPeerCertificate``: the peer's certificate fields (``subject``,
        ``issuer``, ``subjectaltname``, ``valid_from``, ``valid_to``, ``fingerprint256``,
        ``serial_number``, ``raw`` ...); ``detailed`` links ``issuer_certificate``.
        An empty record when the peer sent none, None before the handshake."""
        conn = self._conn
        if conn is None:
            return None
        chain = conn.get_peer_cert_chain(as_cryptography=True) or []
        if self._is_server:
            # a server's chain does not include the client's own certificate
            leaf = conn.get_peer_certificate(as_cryptography=True)
            chain = [leaf, *chain] if leaf is not None else []
        return peer_certificate(list(chain), detailed)

    def get_peer_x509_certificate(self) -> Any:
        """The peer's certificate as a ``cryptography.x509.Certificate`` (Node's
        ``getPeerX509Certificate``), or None."""
        conn = self._conn
        return conn.get_peer_certificate(as_cryptography=True) if conn is not None else None

    def get_certificate(self) -> PeerCertificate | None:
        """Our own certificate's fields (Node's ``getCertificate``)."""
        conn = self._conn
        if conn is None:
            return None
        cert = conn.get_certificate(as_cryptography=True)
        return peer_certificate([cert] if cert is not None else [])

    def get_protocol(self) -> str | None:
        """The negotiated protocol version: ``'TLSv1.3'``, ``'TLSv1.2'`` (or None)."""
        conn = self._conn
        if conn is None or not self._secure:
            return None
        return conn.get_protocol_version_name()

    def get_cipher(self) -> dict[str, Any] | None:
        """``{'name', 'standard_name', 'version'}`` of the negotiated cipher."""
        conn = self._conn
        if conn is None or not self._secure:
            return None
        name = conn.get_cipher_name()
        return {"name": name, "standard_name": name, "version": conn.get_cipher_version()}

    def get_session(self) -> bytes | None:
        """The TLS session as bytes (DER), for ``tls.connect(session=...)``."""
        runtime.check_thread(self._loop, "TLSSocket.get_session()")
        conn = self._conn
        if conn is None:
            return None
        session = conn.get_session()
        return _session_to_bytes(session) if session is not None else None

    def is_session_reused(self) -> bool:
        """True when the handshake resumed an earlier session."""
        conn = self._conn
        if conn is None:
            return False
        from OpenSSL._util import lib

        return bool(lib.SSL_session_reused(conn._ssl))

    def export_keying_material(
        self, length: int, label: str, context: bytes | None = None
    ) -> bytes:
        """RFC 5705 keying material (Node's ``exportKeyingMaterial``)."""
        runtime.check_thread(self._loop, "TLSSocket.export_keying_material()")
        conn = self._conn
        if conn is None or not self._secure:
            raise NodeError(message="TLS socket connection must be securely established")
        if isinstance(length, bool) or not isinstance(length, int):
            raise ERR_INVALID_ARG_TYPE("length", "of type int", type(length).__name__)
        if not 0 <= length <= 2**32 - 1:
            raise ERR_OUT_OF_RANGE("length", ">= 0 && <= 4294967295", length)
        if not isinstance(label, str):
            raise ERR_INVALID_ARG_TYPE("label", "of type str", type(label).__name__)
        if context is not None and not isinstance(context, (bytes, bytearray, memoryview)):
            raise ERR_INVALID_ARG_TYPE("context", "an instance of bytes", type(context).__name__)
        ctx = None if context is None else bytes(context)
        return bytes(conn.export_keying_material(label.encode(), length, ctx))

    def get_finished(self) -> bytes | None:
        """Our latest Finished message (Node's ``getFinished``)."""
        return self._conn.get_finished() if self._conn is not None else None

    def get_peer_finished(self) -> bytes | None:
        """The peer's latest Finished message."""
        return self._conn.get_peer_finished() if self._conn is not None else None

    def set_servername(self, name: str) -> None:
        """Set the SNI name before the handshake starts (client only)."""
        runtime.check_thread(self._loop, "TLSSocket.set_servername()")
        ascii_host(name, "name")
        self._opts["servername"] = name


def _session_id(conn: SSL.Connection) -> int:
    """The size of the current session's encoding: it grows when a ticket arrives."""
    from OpenSSL._util import ffi, lib

    session = lib.SSL_get_session(conn._ssl)
    return int(lib.i2d_SSL_SESSION(session, ffi.NULL)) if session != ffi.NULL else 1


def client_keylog(conn: SSL.Connection, line: bytes) -> None:
    """OpenSSL's keylog callback on client contexts: ``'keylog'`` on the socket."""
    sock = conn.get_app_data()
    if sock is not None and sock.listener_count("keylog"):
        sock._emit_guarded("keylog", line + b"\n")


def _session_to_bytes(session: Any) -> bytes:
    from OpenSSL._util import ffi, lib

    size = lib.i2d_SSL_SESSION(session._session, ffi.NULL)
    buf = ffi.new("unsigned char[]", size)
    ptr = ffi.new("unsigned char **", buf)
    lib.i2d_SSL_SESSION(session._session, ptr)
    return bytes(ffi.buffer(buf, size))


def _session_from(value: Any) -> Any:
    if isinstance(value, SSL.Session):
        return value
    from OpenSSL._util import ffi, lib

    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ERR_INVALID_ARG_TYPE(
            "options.session", "an instance of bytes or OpenSSL.SSL.Session", type(value).__name__
        )
    data = bytes(value)
    buf = ffi.new("unsigned char[]", data)
    ptr = ffi.new("unsigned char **", buf)
    raw = lib.d2i_SSL_SESSION(ffi.NULL, ptr, len(data))
    if raw == ffi.NULL:
        lib.ERR_clear_error()  # else the next, unrelated OpenSSL error reports this one
        raise TLSError("ERR_SSL_INVALID_SESSION", "the session is not a TLS session")
    session = SSL.Session.__new__(SSL.Session)
    session._session = ffi.gc(raw, lib.SSL_SESSION_free)
    return session
