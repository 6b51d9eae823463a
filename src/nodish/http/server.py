"""``http.Server``: HTTP/1.1 over any net.Socket-like duplex.

Theory of operation
-------------------
The server is a ``net.Server`` whose ``'connection'`` listener (registered first, as
Node's ``connectionListener``) wraps each socket in a :class:`Connection`: one
:class:`~nodish.http.parser.Engine` fed straight from the socket's ``data_received``
(Node's ``parser.consume``) when the socket is a ``net.Socket`` (a ``tls.TLSSocket``
too: it hands its decrypted bytes to that path), and from its ``'data'`` events
otherwise. The connection is the engine's delegate:

* head complete → an :class:`IncomingMessage` and a :class:`ServerResponse`, then
  ``'request'`` (or ``'checkContinue'`` / ``'checkExpectation'``), while the body
  streams into the request afterwards, as in Node;
* an ``Upgrade`` request with ``'upgrade'`` listeners, or any ``CONNECT``, is not a
  request: once its head is parsed the socket is detached from HTTP (no parser, no
  listeners of ours, reading resumed) and handed over as ``'upgrade'`` /
  ``'connect'`` ``(req, socket, head)`` with the bytes that followed the head;
* pipelined requests are answered in order: a response that is not first in line keeps
  its bytes until the one before it finishes;
* a response that finishes makes the request dump its unread body, then the connection
  goes on (keep-alive), or ends (``Connection: close``, HTTP/1.0, server closing).

Bad input never reaches a handler: the engine's :class:`ParseError` becomes
``'clientError'`` (err, socket) when someone listens (they answer and close), else
Node's canned answer (400, 431 for an oversize head, 408 on timeout) and the socket
is ended; other connections are untouched. A request whose body was cut short
(disconnect, bad chunk, timeout) gets ``'aborted'`` and an error, never ``'end'``.

Timeouts use one lazily re-armed timer per connection (no timer work per request):
``headers_timeout`` from a message's first byte (or the accept) to its complete head,
``request_timeout`` to its complete body, ``keep_alive_timeout`` while idle between
requests. Expiry in a message answers 408 and closes; idle expiry just closes. The
first deadline, from the accept, waits on a timer the server's connections share
(``HttpOptions.watch``): a connection that closes before needing another deadline (one
``Connection: close`` request) makes no loop timer of its own.

Plugging in HTTPS. The HTTP side lives in :class:`HttpServerMixin` (slots-free) and
:class:`Connection`, which use only the socket's public duplex API (``write``,
``end``, ``destroy``, ``pause``/``resume``, events). ``https.Server`` is
``class Server(HttpServerMixin, tls.Server)`` with ``__slots__ = ('_http',)``, calling
``self._http_setup(request_listener, options..., event='secureConnection')`` in its
constructor: each TLS socket is then served exactly as a TCP one. On the client,
``https.Agent`` overrides ``Agent.create_connection`` to return ``tls.connect(...)``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import ERR_HTTP_REQUEST_TIMEOUT, ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE
from ..events import _drop_bound_listeners
from ..net.server import Server as NetServer
from ..net.socket import Socket as _PlainSocket
from .incoming import IncomingMessage
from .outgoing import pause_socket, resume_socket
from .parser import Engine, Head, ParseError
from .response import ServerResponse

__all__ = ["Connection", "HttpServerMixin", "Server", "create_server"]

_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
_UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n"
_EXPECTATION = b"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Connection phases (what the timer checks)
_HEAD, _BODY, _WAIT, _IDLE = 0, 1, 2, 3
_NEVER = float("inf")
# what IncomingMessage(...) and ServerResponse(...) make (see http/_lazy.py)
_new = object.__new__
_Request = IncomingMessage._lazy_twin
_Response = ServerResponse._lazy_twin


class HttpOptions:
    """The HTTP settings of a server, the set of its live connections, and the shared
    timer of their first deadlines."""

    __slots__ = (
        "connections",
        "first_due",
        "first_timer",
        "headers_timeout",
        "insecure_http_parser",
        "keep_alive_line",
        "keep_alive_timeout",
        "last_due",
        "limits",
        "max_header_size",
        "max_headers_count",
        "max_requests_per_socket",
        "request_timeout",
        "require_host_header",
        "server",
    )

    def __init__(self, server: Any) -> None:
        self.server = server
        self.connections: set[Connection] = set()
        self.headers_timeout = 60.0
        self.request_timeout = 300.0
        self.keep_alive_timeout = 5.0
        self.max_header_size = 16384
        self.max_headers_count = 2000
        self.max_requests_per_socket = 0
        self.require_host_header = True
        self.insecure_http_parser = False
        self.keep_alive_line = b""
        self.limits = (0.0, 0.0, 0.0, 0.0)
        # the connections' first deadlines (from the accept), on one loop timer: see watch
        self.first_due: dict[Connection, float] = {}
        self.first_timer: asyncio.TimerHandle | None = None
        self.last_due = 0.0

    def refresh(self) -> None:
        """Pre-render the keep-alive lines every response on this server sends, and the
        time limit of each connection phase (head, body, waiting, idle; 0: none)."""
        head = self.headers_timeout
        if self.request_timeout and (not head or self.request_timeout < head):
            head = self.request_timeout
        self.limits = (head, self.request_timeout, 0.0, self.keep_alive_timeout)
        line = b"Connection: keep-alive\r\n"
        kat = self.keep_alive_timeout
        if kat:
            line += b"Keep-Alive: timeout=%d" % int(kat)
            if self.max_requests_per_socket:
                line += b", max=%d" % self.max_requests_per_socket
            line += b"\r\n"
        self.keep_alive_line = line

    def watch(self, conn: Connection, due: float) -> None:
        """Wait for ``conn``'s first deadline on the server's timer: deadlines made with
        the same limit fall in the order the connections came, so an insertion-ordered
        dict holds them and one loop timer waits for the earliest, instead of a loop
        timer made and cancelled per connection (~2 us on uvloop). The connection
        leaves the dict when it closes or arms a timer of its own (:meth:`unwatch`)."""
        self.first_due[conn] = due
        self.last_due = due
        if self.first_timer is None:
            self.first_timer = conn.loop.call_at(due, self._fire, conn.loop)

    def unwatch(self, conn: Connection) -> None:
        due = self.first_due
        due.pop(conn, None)
        if not due and self.first_timer is not None:
            self.first_timer.cancel()
            self.first_timer = None

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self.first_timer = None
        now = loop.time() + 0.001  # (the loop's timers have millisecond steps)
        due = self.first_due
        expired = []
        for conn, when in due.items():
            if when > now:
                self.first_timer = loop.call_at(when, self._fire, loop)
                break
            expired.append(conn)
        for conn in expired:
            del due[conn]
            conn._on_timer()  # (re-arms on its own if not quite due yet)


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ERR_OUT_OF_RANGE(name, ">= 0", repr(value))
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ERR_OUT_OF_RANGE(name, "an integer >= 0", repr(value))
    return value


class HttpServerMixin:
    """The HTTP part of a server (``http.Server``, ``https.Server``); see the module notes.

    The class using it must be an EventEmitter with a ``_http`` slot.
    """

    __slots__ = ()

    _http: HttpOptions

    def _http_setup(
        self,
        request_listener: Callable[..., Any] | None,
        *,
        headers_timeout: float = 60,
        request_timeout: float = 300,
        keep_alive_timeout: float = 5,
        max_header_size: int = 16384,
        max_headers_count: int = 2000,
        max_requests_per_socket: int = 0,
        require_host_header: bool = True,
        insecure_http_parser: bool = False,
        event: str = "connection",
    ) -> None:
        o = HttpOptions(self)
        setattr(self, "_http", o)  # the slot is declared by the concrete class
        o.headers_timeout = _seconds("headers_timeout", headers_timeout)
        o.request_timeout = _seconds("request_timeout", request_timeout)
        o.keep_alive_timeout = _seconds("keep_alive_timeout", keep_alive_timeout)
        o.max_header_size = _count("max_header_size", max_header_size)
        o.max_headers_count = _count("max_headers_count", max_headers_count)
        o.max_requests_per_socket = _count("max_requests_per_socket", max_requests_per_socket)
        o.require_host_header = bool(require_host_header)
        o.insecure_http_parser = bool(insecure_http_parser)
        o.refresh()
        emitter: Any = self
        emitter._capture_rejections = True  # async request handlers: see _rejection
        emitter.on(event, self._http_connection)
        if request_listener is not None:
            if not callable(request_listener):
                raise ERR_INVALID_ARG_TYPE(
                    "requestListener", "a function", type(request_listener).__name__
                )
            emitter.on("request", request_listener)

    def _http_connection(self, socket: Any) -> None:
        Connection(self._http, socket)

    def _rejection(self, exc: BaseException, event: Any, *args: Any) -> None:
        # An async 'request' listener failed: handled as a plain listener's exception
        # (500 if nothing was sent, else the connection is cut).
        if event in ("request", "checkContinue", "checkExpectation") and len(args) == 2:
            runtime.report_uncaught(exc, args[1])
            return
        runtime.report_uncaught(exc, None)

    # ------------------------------------------------------------------ settings

    @property
    def headers_timeout(self) -> float:
        """Seconds a client has to send a complete head (408 after)."""
        return self._http.headers_timeout

    @headers_timeout.setter
    def headers_timeout(self, value: float) -> None:
        self._http.headers_timeout = _seconds("headers_timeout", value)
        self._http.refresh()

    @property
    def request_timeout(self) -> float:
        """Seconds a client has to send a whole request (408 after); 0 disables."""
        return self._http.request_timeout

    @request_timeout.setter
    def request_timeout(self, value: float) -> None:
        self._http.request_timeout = _seconds("request_timeout", value)
        self._http.refresh()

    @property
    def keep_alive_timeout(self) -> float:
        """Seconds an idle keep-alive connection is kept open; 0 disables the limit."""
        return self._http.keep_alive_timeout

    @keep_alive_timeout.setter
    def keep_alive_timeout(self, value: float) -> None:
        self._http.keep_alive_timeout = _seconds("keep_alive_timeout", value)
        self._http.refresh()

    @property
    def max_headers_count(self) -> int:
        """Most header lines a request may have (431 past it); 0: no limit."""
        return self._http.max_headers_count

    @max_headers_count.setter
    def max_headers_count(self, value: int) -> None:
        self._http.max_headers_count = _count("max_headers_count", value)

    @property
    def max_requests_per_socket(self) -> int:
        """Requests served on one connection before it closes; 0: no limit."""
        return self._http.max_requests_per_socket

    @max_requests_per_socket.setter
    def max_requests_per_socket(self, value: int) -> None:
        self._http.max_requests_per_socket = _count("max_requests_per_socket", value)
        self._http.refresh()

    @property
    def max_header_size(self) -> int:
        """Largest request head in bytes (431 past it)."""
        return self._http.max_header_size

    # ------------------------------------------------------------------ closing

    def close_all_connections(self) -> None:
        """Destroy every connection of this server, busy or not."""
        for conn in list(self._http.connections):
            conn.socket.destroy()

    def close_idle_connections(self) -> None:
        """Close the connections that have no request in progress."""
        for conn in list(self._http.connections):
            if conn.idle:
                conn.socket.destroy()


class Server(HttpServerMixin, NetServer):
    """Node's ``http.Server`` (a ``net.Server``).

    Mirrors https://nodejs.org/docs/latest-v20.x/api/http.html#class-httpserver.
    Events: ``'request'`` (req, res), ``'connection'``, ``'close'``,
    ``'checkContinue'``, ``'checkExpectation'``, ``'clientError'`` (err, socket),
    ``'connect'`` and ``'upgrade'`` (req, socket, head), ``'dropRequest'``
    (req, socket), ``'timeout'`` (socket), plus net.Server's.

    A request listener may be a coroutine function: it runs as a task, and an exception
    from it is handled like one from a plain listener (a 500 if nothing was sent yet,
    otherwise the connection is destroyed); the server keeps serving.
    """

    __slots__ = ("_http", "timeout")

    def __init__(
        self,
        request_listener: Callable[..., Any] | None = None,
        *,
        headers_timeout: float = 60,
        request_timeout: float = 300,
        keep_alive_timeout: float = 5,
        max_header_size: int = 16384,
        max_headers_count: int = 2000,
        max_requests_per_socket: int = 0,
        require_host_header: bool = True,
        insecure_http_parser: bool = False,
        no_delay: bool = True,
        keep_alive: bool = False,
        keep_alive_initial_delay: float = 0,
        high_water_mark: int | None = None,
    ) -> None:
        NetServer.__init__(
            self,
            allow_half_open=True,
            no_delay=no_delay,
            keep_alive=keep_alive,
            keep_alive_initial_delay=keep_alive_initial_delay,
            high_water_mark=high_water_mark,
        )
        self.timeout = 0.0
        self._http_setup(
            request_listener,
            headers_timeout=headers_timeout,
            request_timeout=request_timeout,
            keep_alive_timeout=keep_alive_timeout,
            max_header_size=max_header_size,
            max_headers_count=max_headers_count,
            max_requests_per_socket=max_requests_per_socket,
            require_host_header=require_host_header,
            insecure_http_parser=insecure_http_parser,
        )

    def close(self, callback: Callable[..., Any] | None = None) -> Server:
        """Stop accepting; close idle keep-alive connections now, the others when their
        response is done (Node 19+). ``'close'`` follows when all are gone."""
        NetServer.close(self, callback)
        self.close_idle_connections()
        return self

    def set_timeout(self, timeout: float = 0, callback: Callable[..., Any] | None = None) -> Server:
        """Idle timeout of each connection's socket (``'timeout'`` on the server)."""
        self.timeout = _seconds("timeout", timeout)
        if callback is not None:
            self.on("timeout", callback)
        return self

    def __repr__(self) -> str:
        return f"<nodish.http.Server listening={self.listening} address={self.address()!r}>"


def create_server(
    request_listener: Callable[..., Any] | None = None,
    **options: Any,
) -> Server:
    """A new :class:`Server`; ``request_listener`` is added for ``'request'``.

    Options (keyword): ``headers_timeout=60``, ``request_timeout=300``,
    ``keep_alive_timeout=5``, ``max_header_size=16384``, ``max_headers_count=2000``,
    ``max_requests_per_socket=0``, ``require_host_header=True``,
    ``insecure_http_parser=False``, ``no_delay=True``, ``keep_alive=False``,
    ``keep_alive_initial_delay=0``, ``high_water_mark``.
    """
    return Server(request_listener, **options)


class Connection:
    """One HTTP connection on the server side: the engine's delegate (module notes)."""

    __slots__ = (
        "_consumer",
        "_deadline",
        "_engine",
        "_phase",
        "_since",
        "_timer",
        "closing",
        "current",
        "draining",
        "ending",
        "incoming",
        "loop",
        "opts",
        "paused",
        "queue",
        "req",
        "served",
        "server",
        "socket",
        "upgrading",
    )

    def __init__(self, opts: HttpOptions, socket: Any) -> None:
        self.opts = opts
        self.server = opts.server
        self.socket = socket
        self.loop = socket._loop
        self._engine = Engine(
            self,
            request=True,
            max_header_size=opts.max_header_size,
            max_headers_count=opts.max_headers_count,
            lenient=opts.insecure_http_parser,
        )
        self.req: IncomingMessage | None = None  # the request being parsed
        self.current: ServerResponse | None = None  # the response on the wire
        self.queue: deque[ServerResponse] | None = None  # pipelined responses waiting
        self.incoming: deque[IncomingMessage] = deque()  # requests not yet answered
        self.served = 0
        self.closing = False
        self.draining = False
        self.ending = False  # the last response is out: close once its request is read
        self.paused = False
        self.upgrading: IncomingMessage | None = None
        self._phase = _HEAD
        self._since = self.loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = _NEVER  # when the timer fires (_NEVER: none armed)
        opts.connections.add(self)
        # tls.TLSSocket too: it hands decrypted bytes to net.Socket.data_received
        self._consumer = isinstance(socket, _PlainSocket)
        if self._consumer:
            socket._consumer = self.on_data
        else:
            socket.on("data", self.on_data)
        events = socket._events
        if not events:  # a fresh socket (the usual): what on() stores, without its calls
            events["end"] = (self.on_end,)
            events["close"] = (self.on_close,)
            events["error"] = (self.on_socket_error,)
        else:
            socket.on("end", self.on_end)
            socket.on("close", self.on_close)
            socket.on("error", self.on_socket_error)
        timeout = getattr(self.server, "timeout", 0)
        if timeout:
            socket.set_timeout(timeout)
            socket.on("timeout", self.on_socket_timeout)
        limit = opts.limits[_HEAD]
        if limit:
            due = self._since + limit
            if due >= opts.last_due:  # in order: on the server's timer
                self._deadline = due  # (with no _timer: the server's)
                opts.watch(self, due)
            else:  # (headers_timeout was lowered meanwhile)
                self._arm()

    # ------------------------------------------------------------------ socket events

    def on_data(self, data: bytes) -> None:
        try:
            self._engine.feed(data)
        except ParseError as err:
            self.client_error(err)

    def on_end(self) -> None:
        # Node's socketOnEnd (httpAllowHalfOpen false): the requests in progress are
        # aborted and our side ends; no response goes to a client that half-closed.
        try:
            self._engine.feed_eof()
        except ParseError as exc:
            self.client_error(exc)
            return
        self._engine.stop()
        self.closing = True
        req = self.req
        if req is not None and not req.complete:
            req._abort(_aborted())
        while self.incoming:
            self.incoming.popleft()._abort(_aborted())
        sock = self.socket
        if sock.writable:
            sock.end()

    def on_close(self, *_: Any) -> None:
        self._stop_timer()
        self.opts.connections.discard(self)
        # Nothing is parsed after 'close': the engine lets go of its parser and of us,
        # and our listeners leave the socket, so that reference counting frees the
        # connection, its socket and its engine (no cycle left for the collector).
        self._engine.release()
        sock = self.socket
        if self._consumer and sock._consumer == self.on_data:
            sock._consumer = None
        _drop_bound_listeners(sock, self)
        while self.incoming:
            self.incoming.popleft()._abort(_aborted())
        for res in self._responses():
            if not res._finished:
                res._msg_destroyed = True
                runtime.next_tick(res.emit, "close", owner=None)
        self.current = None
        self.queue = None

    def on_socket_error(self, err: BaseException) -> None:
        server = self.server
        if server.listener_count("clientError"):
            server.emit("clientError", err, self.socket)
        else:
            self.socket.destroy()

    def want_drain(self) -> None:
        """A response's write() returned False: relay the socket's next 'drain'."""
        if not self.draining:
            self.draining = True
            self.socket.on("drain", self.on_drain)

    def on_drain(self) -> None:
        res = self.current
        if res is not None:
            res._on_socket_drain()

    def on_socket_timeout(self) -> None:
        sock = self.socket
        handled = False
        req = self.incoming[0] if self.incoming else None
        if req is not None and req._events.get("timeout"):
            req.emit("timeout")
            handled = True
        res = self.current
        if res is not None and res._events.get("timeout"):
            res.emit("timeout", sock)
            handled = True
        if self.server.emit("timeout", sock):
            handled = True
        if not handled:
            sock.destroy()

    def _responses(self) -> list[ServerResponse]:
        out = [] if self.current is None else [self.current]
        if self.queue:
            out.extend(self.queue)
        return out

    # ------------------------------------------------------------------ engine events

    def on_message_begin(self) -> None:
        if self._phase != _HEAD and not self._engine._stopped:
            self._phase = _HEAD
            now = self._since = self.loop.time()
            limit = self.opts.limits[_HEAD]
            if limit and now + limit < self._deadline:  # (_arm's test, without its call)
                self._arm()

    def on_headers(self, head: Head) -> None:
        if self._engine._stopped:  # the attribute: no property call per request
            # RFC 9112 9.6: a request pipelined after one that said Connection: close
            return
        self._phase = _BODY
        opts = self.opts
        sock = self.socket
        req = _new(_Request)  # IncomingMessage(sock, head), without LazyStream.__new__'s call
        req.__init__(sock, head)
        self.req = req
        if opts.require_host_header and head.minor == 1 and not head.has_host:
            self._reject(_BAD_REQUEST)
            return
        if head.upgrade:
            if head.method == "CONNECT" or self.server.listener_count("upgrade"):
                self.upgrading = req
                return
            req.upgrade = False
        self.served += 1
        limit = opts.max_requests_per_socket
        if limit and self.served > limit:
            self.server.emit("dropRequest", req, sock)
            self._reject(_UNAVAILABLE)
            return
        res = _new(_Response)  # ServerResponse(...), as for the request
        res.__init__(
            req,
            self,
            head.keep_alive and not self.closing and not (limit and self.served >= limit),
            opts.keep_alive_line,
        )
        if not head.keep_alive:
            # RFC 9112 9.6: no further request is read after Connection: close; its own
            # body still is (the engine stops when this message completes)
            self.closing = True
        self.incoming.append(req)
        if self.current is None:
            self.current = res
            res.socket = sock
        else:
            q = self.queue
            if q is None:
                q = self.queue = deque()
            q.append(res)
        server = self.server
        try:
            if head.expect is not None:
                expect = head.expect.decode("latin-1").strip()
                if expect.lower() == "100-continue":
                    if server.listener_count("checkContinue"):
                        server.emit("checkContinue", req, res)
                        return
                    res._send_interim(_CONTINUE, None)
                elif server.listener_count("checkExpectation"):
                    server.emit("checkExpectation", req, res)
                    return
                else:
                    res.write_head(417)
                    res._last = True
                    res.end()
                    return
            listeners = server._events.get("request")
            if listeners is not None and len(listeners) == 1:
                listeners[0](req, res)  # emit's one-listener case, without its call
            else:
                server.emit("request", req, res)
        except BaseException as exc:
            runtime.report_uncaught(exc, res)

    def on_body(self, data: bytes) -> None:
        req = self.req
        if req is None or (req._dumped and not req._stream_ready):
            return  # answered already and nobody reads: discard (Node's _dump)
        if not req.push(data) and not self.paused:
            self.paused = True
            req._resume_cb = self._resume_reading
            self._pause_reading()

    def on_message_complete(self, trailers: list[bytes] | None) -> None:
        if self.closing:
            self._engine.stop()
        req = self.req
        if self.paused:
            # Node's parserOnMessageComplete: read on, for the next message. A body that
            # ended in the buffer is never asked for more (no _read after EOF), so the
            # socket its last chunks paused would stay paused: keep-alive would stall.
            self._resume_reading()
        if req is None:
            return
        req._resume_cb = None  # its reads no longer concern this socket
        self.req = None
        if req is self.upgrading:
            req.complete = True
            return
        if self.ending:  # answered with the last response: nothing more to read or send
            req._on_end(trailers)
            self.socket.destroy_soon()
            return
        if self.incoming:
            self._phase = _WAIT
        else:  # answered already: idle from now on
            self._phase = _IDLE
            now = self._since = self.loop.time()
            limit = self.opts.limits[_IDLE]
            if limit and now + limit < self._deadline:  # (_arm's test, without its call)
                self._arm()
        req._on_end(trailers)

    def on_upgrade(self, rest: bytes) -> bool:
        req = self.upgrading
        if req is None:
            return False
        self.upgrading = None
        req.complete = True
        sock = self.socket
        self.detach()
        event = "connect" if req.method == "CONNECT" else "upgrade"
        server = self.server
        if not server.listener_count(event):
            sock.destroy()
            return True
        try:
            server.emit(event, req, sock, rest)
        except BaseException as exc:
            runtime.report_uncaught(exc, sock)
        return True

    def detach(self) -> None:
        """Hand the socket back: no parser, none of our listeners, reading on."""
        sock = self.socket
        self._engine.stop()
        self._stop_timer()
        self.opts.connections.discard(self)
        if self._consumer:
            sock._consumer = None
        else:
            sock.remove_listener("data", self.on_data)
        sock.remove_listener("end", self.on_end)
        sock.remove_listener("close", self.on_close)
        sock.remove_listener("error", self.on_socket_error)
        sock.remove_listener("drain", self.on_drain)
        sock.remove_listener("timeout", self.on_socket_timeout)
        if self.paused:
            self._resume_reading()

    # ------------------------------------------------------------------ responses

    def response_done(self, res: ServerResponse) -> None:
        """``res`` is on the wire: dump its request, then the next one (or close)."""
        req = res.req
        incoming = self.incoming
        if incoming and incoming[0] is req:
            incoming.popleft()
        else:
            try:
                incoming.remove(req)
            except ValueError:
                pass
        if not req._dumped:  # an unread body is read and discarded, so keep-alive goes on
            if req._stream_ready or req._events:
                req._dump()
            else:
                req._dumped = True  # (nothing buffered, nobody to tell)
        if "close" in res._events:
            runtime.next_tick(res.emit, "close", owner=res)
        if res is not self.current:
            return
        sock = self.socket
        if res._last or not res._keep_alive:
            # Node's resOnFinish: destroySoon (the socket closes once the response is
            # written, without waiting for the client's FIN); when the request is not
            # complete yet, only if its end is in the bytes being parsed now (a GET's
            # completion comes after its head's handler: on_message_complete). Else
            # the socket ends and the rest is read and dropped until the client's FIN,
            # so a client still sending is not reset.
            self.current = None
            self.queue = None
            self._engine.stop()
            if self.req is None:
                sock.destroy_soon()
                return
            self.ending = True
            if sock.writable:
                sock.end()
            return
        q = self.queue
        if q:
            nxt = self.current = q.popleft()
            nxt._attach(sock)
            return
        self.current = None
        if self.closing or self.server._aserver is None:  # net.Server: closed
            if sock.writable:
                sock.end()
            return
        if self._phase == _WAIT and not self._engine.in_message:
            self._phase = _IDLE
            self._since = self.loop.time()
            self._arm()

    @property
    def idle(self) -> bool:
        """No request in progress: between requests, or nothing sent yet."""
        if self.current is not None or self.incoming:
            return False
        if self._phase == _IDLE:
            return True
        return self._phase == _HEAD and not self._engine.in_message

    # ------------------------------------------------------------------ errors

    def client_error(self, err: BaseException) -> None:
        """A parse error or timeout: ``'clientError'``, or Node's canned answer."""
        req = self.req
        self.req = None
        self._engine.stop()
        self._stop_timer()
        sock = self.socket
        server = self.server
        if server.listener_count("clientError"):
            try:
                server.emit("clientError", err, sock)
            except BaseException as exc:
                runtime.report_uncaught(exc, sock)
        else:
            self._canned_answer(err)
        if req is not None and not req.complete:
            # the peer vanished mid-body: Node's 'aborted' error; else what went wrong
            code = getattr(err, "code", "")
            req._abort(_aborted() if code == "HPE_INVALID_EOF_STATE" else err)

    def _canned_answer(self, err: BaseException) -> None:
        sock = self.socket
        res = self.current
        if sock.writable and (res is None or not res._header_sent):
            code = getattr(err, "code", "")
            if code == "HPE_HEADER_OVERFLOW":
                sock.write(_TOO_LARGE)
            elif code == "ERR_HTTP_REQUEST_TIMEOUT":
                sock.write(_TIMEOUT)
            else:
                sock.write(_BAD_REQUEST)
            sock.destroy_soon()
        else:
            sock.destroy()

    def _reject(self, answer: bytes) -> None:
        self._engine.stop()
        self.req = None
        sock = self.socket
        if self.current is None and sock.writable:
            sock.write(answer)
            sock.destroy_soon()
        else:
            sock.destroy()

    # ------------------------------------------------------------------ flow

    def _pause_reading(self) -> None:
        pause_socket(self.socket)

    def _resume_reading(self) -> None:
        if self.paused:
            self.paused = False
            resume_socket(self.socket)

    # ------------------------------------------------------------------ timer

    def _due(self) -> float:
        """When the current phase expires (0: never)."""
        limit = self.opts.limits[self._phase]
        return self._since + limit if limit else 0.0

    def _arm(self) -> None:
        limit = self.opts.limits[self._phase]
        if not limit:
            return
        due = self._since + limit
        if due >= self._deadline:
            return  # the timer fires earlier and re-arms
        t = self._timer
        if t is not None:
            t.cancel()
        elif self._deadline != _NEVER:
            self.opts.unwatch(self)
        self._deadline = due
        self._timer = self.loop.call_at(due, self._on_timer)

    def _stop_timer(self) -> None:
        t = self._timer
        if t is not None:
            self._timer = None
            t.cancel()
        elif self._deadline != _NEVER:
            self.opts.unwatch(self)
        self._deadline = _NEVER

    def _on_timer(self) -> None:
        self._timer = None
        self._deadline = _NEVER
        due = self._due()
        if not due:
            return
        if self.loop.time() < due:
            self._deadline = due
            self._timer = self.loop.call_at(due, self._on_timer)
            return
        try:
            if self._phase == _IDLE:
                self.socket.destroy()
            elif self._phase == _HEAD and not self._engine.in_message and self.served:
                self.socket.destroy()  # idle keep-alive that never started a request
            else:
                self.client_error(ERR_HTTP_REQUEST_TIMEOUT())
        except BaseException as exc:
            runtime.report_uncaught(exc, self.socket)


def _aborted() -> BaseException:
    import errno

    from ..errors import system_error

    return system_error(errno.ECONNRESET, "read", code="ECONNRESET", message="aborted")
