"""``ClientRequest``, ``request()`` and ``get()``: the HTTP client.

Theory of operation
-------------------
A ClientRequest is an :class:`OutgoingMessage` (its head and body are framed exactly as
a response's, with the client's defaults: chunked only for methods that carry a body,
``Connection: keep-alive`` when the agent keeps sockets). It asks its agent for a
socket at once; whatever is written meanwhile is kept and flushed when the socket
arrives (``'socket'`` is emitted on the next tick, as in Node).

On its socket the request owns a response :class:`~nodish.http.parser.Engine` (fed
straight from ``data_received`` on a ``net.Socket`` or a ``tls.TLSSocket``, which hands
its decrypted bytes to the same path; from ``'data'`` on any other duplex). The head
of the response becomes an :class:`IncomingMessage` and ``'response'`` (with nobody
listening the body is kept for a later ``await``, not dumped as in Node); ``100`` is
``'continue'``, other 1xx ``'information'``; ``101`` and a 2xx answer to CONNECT hand
the socket over as ``'upgrade'`` / ``'connect'`` ``(res, socket, head)``.

When both the request and its response are complete and both sides agreed on
keep-alive, the socket goes back to the agent; otherwise it is closed. A socket that
fails before the first byte of the response gives ``'error'`` (``ECONNRESET``
"socket hang up"), except that an idempotent request on a *reused* socket (the
server may have closed it just as we sent) is sent again, once, on a new connection.

``await http.request(...)`` and ``await http.get(...)`` end the request if the caller
has not, and return the response (or raise the request's error).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import SplitResult, urlsplit

from .. import runtime
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_HTTP_TOKEN,
    ERR_INVALID_PROTOCOL,
    ERR_INVALID_URL,
    ERR_UNESCAPED_CHARACTERS,
    system_error,
)
from ..net.socket import Socket as _PlainSocket
from .agent import Agent, global_agent
from .incoming import IncomingMessage, headers_dict
from .outgoing import OutgoingMessage, pause_socket, resume_socket
from .parser import Engine, Head, ParseError

__all__ = ["ClientRequest", "get", "request"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _hang_up(message: str = "socket hang up") -> BaseException:
    return system_error(errno.ECONNRESET, "read", code="ECONNRESET", message=message)


# What the WHATWG URL parser (Node's ``new URL()``) percent-encodes, as UTF-8, in the
# path and in the query of an http(s) URL; a '%' already there is left as it is.
_PATH_ESCAPES = re.compile(r'[\x00-\x20"<>`{}\x7f-\U0010ffff]')
_QUERY_ESCAPES = re.compile(r"""[\x00-\x20"'<>\x7f-\U0010ffff]""")
_INVALID_PATH = re.compile(r"[^\x21-\xff]")  # Node's INVALID_PATH_REGEX
_C0_OR_SPACE = "".join(map(chr, range(0x21)))


def _percent_encode(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode("utf-8", "surrogatepass"))


def _remove_dot_segments(path: str) -> str:
    """The WHATWG path: ``.`` and ``..`` segments (``%2e`` too) resolved."""
    out: list[str] = []
    segments = path[1:].split("/")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        dots = seg.lower().replace("%2e", ".") if "." in seg or "%" in seg else seg
        if dots == "..":
            if out:
                out.pop()
            if i == last:
                out.append("")
        elif dots == ".":
            if i == last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def _url_options(url: Any) -> dict[str, Any]:
    """Node's ``urlToHttpOptions(new URL(url))``: the path and query percent-encoded
    as the WHATWG parser does (``/é?q=a b`` is sent as ``/%C3%A9?q=a%20b``), dot
    segments resolved, the fragment dropped, a non-ASCII host IDNA-encoded."""
    if isinstance(url, str):
        # WHATWG: leading and trailing C0 controls and spaces go, tabs and newlines too
        url = url.strip(_C0_OR_SPACE).replace("\t", "").replace("\n", "").replace("\r", "")
        if "\\" in url:  # a backslash is a slash before the query (http, https)
            cut = len(url.split("?", 1)[0].split("#", 1)[0])
            url = url[:cut].replace("\\", "/") + url[cut:]
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            raise ERR_INVALID_URL() from None
    elif isinstance(url, SplitResult):
        parts = url
    else:
        raise ERR_INVALID_ARG_TYPE("url", "of type str", type(url).__name__)
    out: dict[str, Any] = {"protocol": (parts.scheme + ":") if parts.scheme else None}
    hostname = parts.hostname
    if hostname:
        if not hostname.isascii():
            try:
                hostname = hostname.encode("idna").decode("ascii")
            except UnicodeError:
                raise ERR_INVALID_URL() from None
        out["hostname"] = hostname
    if parts.port:
        out["port"] = parts.port
    path = parts.path or "/"
    if "." in path or "%2" in path:
        path = _remove_dot_segments(path)
    path = _PATH_ESCAPES.sub(_percent_encode, path)
    if parts.query:
        path += "?" + _QUERY_ESCAPES.sub(_percent_encode, parts.query)
    out["path"] = path
    if parts.username is not None:
        auth = parts.username
        if parts.password is not None:
            auth += ":" + parts.password
        out["auth"] = auth
    return out


class _ResponseParser:
    """The engine delegate of one request on one socket."""

    __slots__ = ("engine", "got_bytes", "req", "res")

    def __init__(self, req: ClientRequest, max_header_size: int, lenient: bool) -> None:
        self.req = req
        self.res: IncomingMessage | None = None
        self.got_bytes = False
        self.engine = Engine(
            self,
            request=False,
            max_header_size=max_header_size,
            max_headers_count=0,
            lenient=lenient,
        )
        if req.method == "HEAD":
            self.engine.expect_head_only()
        elif req.method == "CONNECT":
            self.engine.expect_head_only(connect=True)

    def on_message_begin(self) -> None:
        self.got_bytes = True

    def on_headers(self, head: Head) -> None:
        req = self.req
        code = head.status_code
        if code < 200:
            if code == 101:
                return
            info = _Information(head)
            if code == 100:
                req.emit("continue")
            req.emit("information", info)
            return
        res = IncomingMessage(req.socket, head)
        res.req = req
        self.res = res
        req.res = res
        res._resume_cb = req._resume_reading
        if not head.keep_alive:
            req._keep_socket = False
        if req.method == "CONNECT" and code // 100 == 2:
            return  # the tunnel: 'connect' once the head is complete
        # Node dumps a response nobody listens for. Here it is kept (up to the stream's
        # high-water mark, then the socket pauses) so that `res = await req` still gets
        # the body when the request was awaited after its answer arrived.
        req.emit("response", res)

    def on_body(self, data: bytes) -> None:
        res = self.res
        if res is None or (res._dumped and not res._stream_ready):
            return
        if not res.push(data):
            self.req._pause_reading()

    def on_message_complete(self, trailers: list[bytes] | None) -> None:
        res = self.res
        if res is None:
            return  # a 1xx
        if self.req.method == "CONNECT" and (res.status_code or 0) // 100 == 2:
            return
        res._on_end(trailers)
        self.req._response_complete()

    def on_upgrade(self, rest: bytes) -> bool:
        return self.req._upgrade(rest)


class _Information:
    """What ``'information'`` carries (Node's info object): status and headers."""

    __slots__ = ("http_version", "raw_headers", "status_code", "status_message")

    def __init__(self, head: Head) -> None:
        self.status_code = head.status_code
        self.status_message = head.status_message
        self.http_version = head.version
        self.raw_headers = [b.decode("latin-1") for b in head.raw]

    @property
    def headers(self) -> dict[str, Any]:
        """Lower-case names to values."""
        return headers_dict([b.encode("latin-1") for b in self.raw_headers])

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


class ClientRequest(OutgoingMessage):
    """Node's ``http.ClientRequest``: a request in progress (a Writable).

    Mirrors https://nodejs.org/docs/latest-v20.x/api/http.html#class-httpclientrequest.
    Events: ``'socket'``, ``'connect'``, ``'response'``, ``'upgrade'``,
    ``'continue'``, ``'information'``, ``'timeout'``, ``'finish'``, ``'error'``,
    ``'close'``, ``'abort'``.

    Awaitable: ``res = await req`` ends the request (if not ended) and returns the
    :class:`IncomingMessage` response, or raises the request's error.
    """

    __slots__ = (
        "_conn_opts",
        "_keep_socket",
        "_lenient",
        "_max_header_size",
        "_parser",
        "_paused",
        "_record",
        "_req_closed",
        "_retried",
        "_timeout",
        "agent",
        "host",
        "method",
        "path",
        "port",
        "protocol",
        "res",
        "reused_socket",
    )

    _finish_tick = True
    _direct_end = False  # _send records what it sends (a retry replays it)

    def __init__(
        self,
        url: Any = None,
        callback: Callable[[IncomingMessage], Any] | None = None,
        **options: Any,
    ) -> None:
        OutgoingMessage.__init__(self)
        opts: dict[str, Any] = _url_options(url) if url is not None else {}
        opts.update({k: v for k, v in options.items() if v is not None})
        agent = opts.get("agent")
        if agent is None:
            agent = global_agent
        elif agent is False:
            agent = Agent(keep_alive=False)
        elif not isinstance(agent, Agent):
            raise ERR_INVALID_ARG_TYPE("options.agent", "an Agent, False or None", repr(agent))
        self.agent = agent
        protocol = opts.get("protocol") or agent.protocol
        if protocol != agent.protocol:
            raise ERR_INVALID_PROTOCOL(protocol, agent.protocol)
        self.protocol = protocol
        method = str(opts.get("method") or "GET").upper()
        if not method or not set(method) <= _TOKEN_CHARS:
            raise ERR_INVALID_HTTP_TOKEN("Method", method)
        self.method = method
        path = opts.get("path") or "/"
        if not isinstance(path, str):
            raise ERR_INVALID_ARG_TYPE("options.path", "of type str", type(path).__name__)
        if _INVALID_PATH.search(path):
            raise ERR_UNESCAPED_CHARACTERS("Request path")
        self.path = path
        host = opts.get("hostname") or opts.get("host") or "localhost"
        if not isinstance(host, str):
            raise ERR_INVALID_ARG_TYPE("options.host", "of type str", type(host).__name__)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self.host = host
        port = opts.get("port") or agent.default_port
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ERR_INVALID_ARG_TYPE("options.port", "a port number", repr(port))
        self.port = port
        self.res: IncomingMessage | None = None
        self.reused_socket = False
        self._keep_socket = agent.keep_alive
        self._keep_alive = agent.keep_alive
        self._use_chunked = method not in _NO_BODY_METHODS
        self._parser: _ResponseParser | None = None
        self._paused = False
        self._req_closed = False
        self._retried = False
        self._record: list[bytes] | None = None
        self._timeout: float | None = opts.get("timeout")
        self._max_header_size = int(opts.get("max_header_size") or 16384)
        self._lenient = bool(opts.get("insecure_http_parser"))
        headers = opts.get("headers")
        if headers:
            items = headers.items() if hasattr(headers, "items") else headers
            for name, value in items:
                self.set_header(name, value)
        if opts.get("set_host", True) and not self.has_header("host"):
            h = f"[{host}]" if ":" in host else host
            if port != agent.default_port:
                h += f":{port}"
            self.set_header("Host", h)
        auth = opts.get("auth")
        if auth and not self.has_header("authorization"):
            import base64

            token = base64.b64encode(auth.encode("latin-1")).decode("ascii")
            self.set_header("Authorization", "Basic " + token)
        if callback is not None:
            if not callable(callback):
                raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
            self.once("response", callback)
        signal = opts.get("signal")
        if signal is not None:
            self._watch_signal(signal)
        self._conn_opts = {
            "host": host,
            "port": port,
            "local_address": opts.get("local_address"),
            "family": opts.get("family"),
            "socket_path": opts.get("socket_path"),
            "create_connection": opts.get("create_connection"),
        }
        for key, value in opts.items():
            if key not in self._conn_opts and key not in ("headers", "agent", "signal"):
                self._conn_opts.setdefault(key, value)
        expect = self.get_header("expect")
        if isinstance(expect, str) and expect.lower() == "100-continue":
            self.flush_headers()  # as Node: the head goes out now, the body on 'continue'
        creator = opts.get("create_connection")
        if creator is not None and opts.get("agent") is None:
            self._on_socket(creator(self._conn_opts), reused=False)
        else:
            agent.add_request(self, self._conn_opts)

    # ------------------------------------------------------------------ head

    def _is_client(self) -> bool:
        return True

    def _implicit_header(self) -> None:
        first = f"{self.method} {self.path} HTTP/1.1\r\n".encode("latin-1")
        self._render(first)

    def _keep_alive_lines(self) -> bytes:
        return b"Connection: keep-alive\r\n"

    # ------------------------------------------------------------------ socket

    def _on_socket(self, sock: Any, reused: bool) -> None:
        if self._msg_destroyed:
            if not reused:
                sock.destroy()
            else:
                self.agent._release(sock, self._conn_opts)
            return
        self.reused_socket = reused
        if reused and self.method in _IDEMPOTENT and not self._retried:
            self._record = []
            if self._output:
                self._record.extend(self._output)
        self._parser = _ResponseParser(self, self._max_header_size, self._lenient)
        if isinstance(sock, _PlainSocket):
            sock._consumer = self._on_data
        else:
            sock.on("data", self._on_data)
        sock.on("end", self._on_end)
        sock.on("error", self._on_error)
        sock.on("close", self._on_close)
        sock.on("drain", self._on_socket_drain)
        if self._timeout:
            sock.set_timeout(self._timeout)
        sock.on("timeout", self._on_timeout)
        self._attach(sock)
        runtime.next_tick(self._emit_socket, sock, owner=self)

    def _emit_socket(self, sock: Any) -> None:
        if self.socket is not sock:
            return
        self.emit("socket", sock)
        if getattr(sock, "connecting", False):
            sock.once("connect", self._on_connect)

    def _on_connect(self) -> None:
        pass

    def _send(self, data: bytes) -> bool:
        if self._record is not None:
            head = self._header if not self._header_sent and self._header else b""
            self._record.append(head + data)
        return OutgoingMessage._send(self, data)

    def _detach(self) -> Any:
        sock = self.socket
        if sock is None:
            return None
        if isinstance(sock, _PlainSocket):
            sock._consumer = None
        else:
            sock.remove_listener("data", self._on_data)
        sock.remove_listener("end", self._on_end)
        sock.remove_listener("error", self._on_error)
        sock.remove_listener("close", self._on_close)
        sock.remove_listener("drain", self._on_socket_drain)
        sock.remove_listener("timeout", self._on_timeout)
        if self._timeout:
            sock.set_timeout(0)
        if self._paused:
            self._resume_reading()
        return sock

    # ------------------------------------------------------------------ socket events

    def _on_data(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            return
        self._record = None
        try:
            parser.engine.feed(data)
        except ParseError as err:
            self._fail(err)

    def _on_end(self) -> None:
        parser = self._parser
        if parser is None:
            return
        try:
            parser.engine.feed_eof()
        except ParseError:
            pass
        if self.res is None or not self.res.complete:
            self._fail(_hang_up() if self.res is None else _hang_up("aborted"))
        elif self.socket is not None:
            self.socket.end()

    def _on_error(self, err: BaseException) -> None:
        self._fail(err)

    def _on_close(self, *_: Any) -> None:
        res = self.res
        if res is None or not res.complete:
            self._fail(_hang_up() if res is None else _hang_up("aborted"))
        self._close_req()

    def _on_timeout(self) -> None:
        self.emit("timeout")

    def _fail(self, err: BaseException) -> None:
        """The connection broke (or sent garbage) before the exchange was complete."""
        if self._req_closed:
            return
        parser = self._parser
        res = self.res
        if res is not None:
            if not res.complete:
                res._abort(err)
            self._parser = None
            sock = self._detach()
            if sock is not None:
                sock.destroy()
            self._close_req()
            return
        record = self._record
        if (
            record is not None
            and self.reused_socket
            and not self._retried
            and self._ended
            and (parser is None or not parser.got_bytes)
        ):
            self._retry(record)
            return
        self._parser = None
        sock = self._detach()
        if sock is not None:
            sock.destroy()
        self._msg_destroyed = True
        if self.listener_count("error"):
            self.emit("error", err)
        else:
            runtime.report_uncaught(err, None)
        self._close_req()

    def _retry(self, record: list[bytes]) -> None:
        """Send the request again on a new connection (stale keep-alive socket)."""
        self._retried = True
        sock = self._detach()
        if sock is not None:
            sock.destroy()
        self._parser = None
        self.socket = None
        self._record = None
        self._output = list(record)
        self._header_sent = True
        self._finished = False
        agent = self.agent
        name = agent.get_name(self._conn_opts)
        agent._create(self, self._conn_opts, name)

    def _close_req(self) -> None:
        if not self._req_closed:
            self._req_closed = True
            runtime.next_tick(self.emit, "close", owner=self)

    def _upgrade(self, rest: bytes) -> bool:
        res = self.res
        parser = self._parser
        if res is None and parser is not None:
            # a 101: the engine ended the head without a 'response'
            head = parser.engine._head
            res = self.res = IncomingMessage(self.socket, head)
        event = "connect" if self.method == "CONNECT" else "upgrade"
        self._parser = None
        sock = self._detach()
        self._req_closed = True
        if res is not None:
            res.complete = True
        if sock is None:
            return True
        if self.listener_count(event):
            self.emit(event, res, sock, rest)
        else:
            sock.destroy()
        runtime.next_tick(self.emit, "close", owner=self)
        return True

    # ------------------------------------------------------------------ completion

    def _on_finish(self) -> None:
        res = self.res
        if res is not None and res.complete:
            self._done()

    def _response_complete(self) -> None:
        if self._finished:
            self._done()

    def _done(self) -> None:
        """Request sent and response received: give the socket back or close it."""
        if self._parser is None:
            return
        self._parser = None
        res = self.res
        sock = self._detach()
        if sock is None:
            return
        keep = self._keep_socket and self._keep_alive and res is not None
        if keep and res is not None:
            conn = res.headers.get("connection")
            if isinstance(conn, str) and "close" in conn.lower():
                keep = False
        if keep and not sock.destroyed:
            self.agent._release(sock, self._conn_opts, res)
        else:
            sock.destroy()  # the agent forgets it on 'close'
        self.socket = None
        if res is not None and res._stream_ready:
            # Node: the response's 'close' (after its 'end'), then the request's
            if res._close_emitted:
                self._close_req()
            else:
                res.once("close", self._close_req)
        else:
            self._close_req()

    # ------------------------------------------------------------------ flow

    def _pause_reading(self) -> None:
        sock = self.socket
        if sock is not None and not self._paused:
            self._paused = True
            pause_socket(sock)

    def _resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self.socket is not None:
                resume_socket(self.socket)

    # ------------------------------------------------------------------ public API

    def set_timeout(
        self, timeout: float, callback: Callable[[], Any] | None = None
    ) -> ClientRequest:
        """Emit ``'timeout'`` after ``timeout`` idle seconds on the socket."""
        if callback is not None:
            self.once("timeout", callback)
        self._timeout = timeout
        if self.socket is not None:
            self.socket.set_timeout(timeout)
        return self

    def set_no_delay(self, no_delay: bool = True) -> None:
        """The socket's ``set_no_delay`` (now, or once the socket is assigned)."""
        if self.socket is not None:
            self.socket.set_no_delay(no_delay)
        else:
            self.once("socket", lambda s: s.set_no_delay(no_delay))

    def set_socket_keep_alive(self, enable: bool = False, initial_delay: float = 0) -> None:
        """The socket's ``set_keep_alive``."""
        if self.socket is not None:
            self.socket.set_keep_alive(enable, initial_delay)
        else:
            self.once("socket", lambda s: s.set_keep_alive(enable, initial_delay))

    def destroy(
        self, error: BaseException | None = None, callback: Callable[..., Any] | None = None
    ) -> ClientRequest:
        """Abort the request: its socket is destroyed; ``'error'`` (if given) then
        ``'close'``."""
        if self._msg_destroyed:
            return self
        self._msg_destroyed = True
        res = self.res
        if res is not None and not res.complete:
            res._abort(error or _hang_up("aborted"))
        self._parser = None
        sock = self._detach()
        if sock is not None:
            sock.destroy()
        if error is not None and not (res is not None):
            runtime.next_tick(self._emit_error, error, owner=self)
        self._close_req()
        return self

    def _emit_error(self, err: BaseException) -> None:
        if self.listener_count("error"):
            self.emit("error", err)

    def abort(self) -> None:
        """Node's deprecated ``abort()``: ``'abort'`` then ``destroy()``."""
        if not self._msg_destroyed:
            runtime.next_tick(self.emit, "abort", owner=self)
            self.destroy()

    @property
    def destroyed(self) -> bool:
        """``destroy()`` was called, or the request failed."""
        return self._msg_destroyed

    @property
    def aborted(self) -> bool:
        """The request was aborted (destroyed before its response completed)."""
        return self._msg_destroyed and (self.res is None or not self.res.complete)

    def _watch_signal(self, signal: Any) -> None:
        def on_abort(*_: Any) -> None:
            from ..errors import AbortError

            self.destroy(AbortError())

        if getattr(signal, "aborted", False):
            runtime.next_tick(on_abort, owner=self)
        elif hasattr(signal, "add_done_callback"):
            signal.add_done_callback(on_abort)
        elif hasattr(signal, "once"):
            signal.once("abort", on_abort)
        else:
            raise ERR_INVALID_ARG_TYPE("options.signal", "an AbortSignal-like", repr(signal))

    def get_raw_header_names(self) -> list[str]:
        """The names of the headers set, in their case."""
        return OutgoingMessage.get_raw_header_names(self)

    # ------------------------------------------------------------------ await

    def __await__(self) -> Generator[Any, None, IncomingMessage]:
        return self._wait_response().__await__()

    async def _wait_response(self) -> IncomingMessage:
        if self.res is not None:
            return self.res
        loop = runtime.get_loop()
        fut: Any = loop.create_future()

        def on_response(res: IncomingMessage) -> None:
            if not fut.done():
                fut.set_result(res)

        def on_error(err: BaseException) -> None:
            if not fut.done():
                fut.set_exception(err)

        def on_close(*_: Any) -> None:
            if not fut.done():
                fut.set_exception(_hang_up())

        self.once("response", on_response)
        self.once("error", on_error)
        self.once("close", on_close)
        if not self._ended:
            self.end()
        try:
            return await fut  # type: ignore[no-any-return]
        finally:
            self.remove_listener("response", on_response)
            self.remove_listener("error", on_error)
            self.remove_listener("close", on_close)

    def __repr__(self) -> str:
        return f"<nodish.http.ClientRequest {self.method} {self.host}:{self.port}{self.path}>"


def request(
    url: Any = None,
    callback: Callable[[IncomingMessage], Any] | None = None,
    **options: Any,
) -> ClientRequest:
    """Start a request (Node's ``http.request``); call ``end()`` when the body is written.

    ``url`` is an ``http://`` URL string (its parts may be overridden by options);
    options (keyword): ``method``, ``host``/``hostname``, ``port``, ``path``,
    ``headers``, ``auth``, ``agent`` (an Agent, False for a one-off connection, None
    for :data:`global_agent`), ``timeout``, ``signal``, ``local_address``,
    ``socket_path``, ``family``, ``set_host``, ``max_header_size``,
    ``insecure_http_parser``, ``create_connection``. ``callback`` listens for
    ``'response'``.

    ``res = await http.request(url, method='POST')`` ends the request and returns the
    response.

    Raises:
        ERR_INVALID_PROTOCOL: a URL that is not ``http:``.
        ERR_INVALID_HTTP_TOKEN: a bad method or header name.
        ERR_UNESCAPED_CHARACTERS: a path with spaces or control characters.
    """
    return ClientRequest(url, callback, **options)


def get(
    url: Any = None,
    callback: Callable[[IncomingMessage], Any] | None = None,
    **options: Any,
) -> ClientRequest:
    """Like :func:`request` with method GET, already ended (Node's ``http.get``)."""
    options["method"] = "GET"
    req = ClientRequest(url, callback, **options)
    req.end()
    return req
