"""``ServerResponse``: the answer to one request (an OutgoingMessage).

Node's ``lib/_http_server.js`` ``ServerResponse``: ``status_code`` 200 by default,
``write_head`` renders the head at once (headers given to it are merged over those set
with ``set_header``), ``write``/``end`` render an implicit head from ``status_code``.
A response to HEAD, and a 1xx, 204 or 304 response, has no body. Keep-alive comes from
the request (HTTP/1.1 unless ``Connection: close``; HTTP/1.0 only with
``Connection: keep-alive``) and the server's state (closing, ``max_requests_per_socket``).
The connection that owns the response (``_conn``) is told when it is finished, so the
next pipelined response may go out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import runtime
from ..errors import (
    ERR_HTTP_HEADERS_SENT,
    ERR_HTTP_INVALID_STATUS_CODE,
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_CHAR,
)
from .outgoing import (
    OutgoingMessage,
    scan_headers,
    sock_write,
    validate_header_name,
    validate_header_value,
)
from .status import _LINES, STATUS_CODES, date_line, status_line

if TYPE_CHECKING:
    from .incoming import IncomingMessage

__all__ = ["ServerResponse"]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# write_head's cache of header dicts, by identity: (a copy to check the content, the
# scan_headers result, the heads rendered from it, by what else decides them)
_SCANNED: dict[int, tuple[dict[str, Any], tuple[bytes, int], dict[tuple[Any, ...], Any]]] = {}
_PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


def _validate_headers(headers: Any) -> list[tuple[str, Any]]:
    if isinstance(headers, dict):
        items = list(headers.items())
    elif isinstance(headers, (list, tuple)):
        if headers and isinstance(headers[0], str):
            # Node's flat [name, value, name, value] form
            if len(headers) % 2:
                raise ERR_INVALID_ARG_TYPE("headers", "an even-length array", len(headers))
            items = [(headers[i], headers[i + 1]) for i in range(0, len(headers), 2)]
        else:
            items = [(n, v) for n, v in headers]
    else:
        raise ERR_INVALID_ARG_TYPE("headers", "a dict or a list", type(headers).__name__)
    for name, value in items:
        validate_header_name(name)
        validate_header_value(name, value)
    return items


class ServerResponse(OutgoingMessage):
    """Node's ``http.ServerResponse``, created by the server for each request.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/http.html#class-httpserverresponse.
    Events: ``'finish'`` (everything handed to the socket), ``'close'``, ``'drain'``.
    """

    __slots__ = (
        "_conn",
        "_ka_line",
        "req",
        "status_code",
        "status_message",
    )

    def __init__(
        self, req: IncomingMessage, conn: Any = None, keep_alive: bool = True, ka_line: bytes = b""
    ) -> None:
        OutgoingMessage.__init__(self, keep_alive, True)
        self.req = req
        self._conn = conn
        self.status_code = 200
        self.status_message: str | None = None
        self._ka_line = ka_line
        if req.method == "HEAD":
            self._has_body = False
        if req.http_version != "1.1":  # Node: httpVersionMajor < 1 || httpVersionMinor < 1
            te = req.headers.get("te", "")
            self._use_chunked = "chunked" in te.lower() if isinstance(te, str) else False

    # ------------------------------------------------------------------ head

    def write_head(
        self,
        status_code: int,
        status_message: Any = None,
        headers: Any = None,
    ) -> ServerResponse:
        """Render the head now: status, optional reason phrase, headers. Returns self.

        ``headers`` (a dict, a list of pairs, or Node's flat list) is merged over those
        given to ``set_header``. ``write_head(200, {'a': 'b'})`` is accepted too.

        Raises:
            ERR_HTTP_INVALID_STATUS_CODE: status outside 100..999.
            ERR_HTTP_HEADERS_SENT: the head was already rendered.
            ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR: a bad header name or value.
        """
        if self._header is not None:
            raise ERR_HTTP_HEADERS_SENT("write")
        if (
            headers is None
            and status_message is not None
            and (type(status_message) is dict or not isinstance(status_message, str))
        ):
            headers, status_message = status_message, None  # write_head(code, headers)
        if (
            type(headers) is dict
            and type(status_code) is int
            and status_message is None
            and not self._headers
            and not self.strict_content_length
        ):
            # the usual handler: write_head(200, HEADERS) with the same dict each time
            entry = _SCANNED.get(id(headers))
            if entry is not None and 200 <= status_code <= 999 and entry[0] == headers:
                self.status_code = status_code
                if status_code == 204 or status_code == 304:
                    self._has_body = False
                if (
                    self._removed is None
                    and not self._last
                    and not self._chunked
                    and self._content_length is None
                    and self.send_date
                ):
                    # what else decides the head (_render's cache key, less what is
                    # known here): found without building that key
                    key = (status_code, self._keep_alive, self._has_body, self._use_chunked)
                    heads = entry[2]
                    hit = heads.get(key)
                    if hit is None or hit[6] is not self._ka_line:
                        hit = self._render(
                            _LINES.get(status_code) or status_line(status_code), None, entry[1]
                        )
                        if len(heads) >= 64:
                            heads.clear()
                        heads[key] = (*hit, self._ka_line)
                        return self
                    before, dated, after, self._chunked, self._last, self._keep_alive, _ = hit
                    self._header = before + date_line() + after if dated else before + after
                    return self
                line = _LINES.get(status_code) or status_line(status_code)
                self._render(line, None, entry[1])
                return self
        if (
            not isinstance(status_code, int)
            or isinstance(status_code, bool)
            or not 100 <= status_code <= 999
        ):
            raise ERR_HTTP_INVALID_STATUS_CODE(status_code)
        if status_message is not None:
            if "\r" in status_message or "\n" in status_message:
                raise ERR_INVALID_CHAR("statusMessage", status_message)
            self.status_message = status_message
        self.status_code = status_code
        extra = None
        scanned = None
        if headers and self.strict_content_length:
            # the declared length must be readable later: keep the headers as set ones
            for name, value in _validate_headers(headers):
                self.set_header(name, value)
            headers = None
        if headers and type(headers) is dict and not self._headers:
            # The same headers dict on every response (the usual handler): its validated,
            # rendered lines are cached, found by the dict's identity and checked by
            # content (a dict changed or replaced since is validated and rendered again).
            entry = _SCANNED.get(id(headers))
            if entry is not None and entry[0] == headers:
                scanned = entry[1]
            else:
                items = _validate_headers(headers)
                scanned = scan_headers(items)
                if len(_SCANNED) >= 256:
                    _SCANNED.clear()
                _SCANNED[id(headers)] = (dict(headers), scanned, {})
        elif headers:
            items = _validate_headers(headers)
            if self._headers:
                # merged: the ones given here win
                h = dict(self._headers)
                for name, value in items:
                    h[name.lower()] = (name, value)
                self._headers = h
            else:
                extra = items
        if status_code in (204, 304) or 100 <= status_code <= 199:
            self._has_body = False
        self._render(status_line(status_code, status_message), extra, scanned)
        return self

    def write_header(self, *args: Any, **kw: Any) -> ServerResponse:
        """Alias of :meth:`write_head` (Node's ``writeHeader``)."""
        return self.write_head(*args, **kw)

    def _implicit_header(self) -> None:
        self.write_head(self.status_code, self.status_message)

    def _keep_alive_lines(self) -> bytes:
        return self._ka_line or b"Connection: keep-alive\r\n"

    def write_continue(self, callback: Callable[..., Any] | None = None) -> None:
        """Send ``100 Continue`` (the client asked with ``Expect: 100-continue``)."""
        self._send_interim(_CONTINUE, callback)

    def write_processing(self, callback: Callable[..., Any] | None = None) -> None:
        """Send ``102 Processing``."""
        self._send_interim(_PROCESSING, callback)

    def write_early_hints(self, hints: Any, callback: Callable[..., Any] | None = None) -> None:
        """Send ``103 Early Hints`` with the given headers (``{'link': [...]}``)."""
        items = _validate_headers(hints)
        lines: list[str] = []
        for name, value in items:
            if isinstance(value, (list, tuple)):
                lines.extend(f"{name}: {v}\r\n" for v in value)
            else:
                lines.append(f"{name}: {value}\r\n")
        self._send_interim(
            b"HTTP/1.1 103 Early Hints\r\n" + "".join(lines).encode("latin-1") + b"\r\n", callback
        )

    def _send_interim(self, data: bytes, callback: Callable[..., Any] | None) -> None:
        sock = self.socket
        if sock is not None and self._output is None:
            sock_write(sock, data)
        else:
            if self._output is None:
                self._output = []
            self._output.append(data)
        if callback is not None:
            runtime.next_tick(callback, owner=self)

    # ------------------------------------------------------------------ lifecycle

    def _on_finish(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.response_done(self)

    def _want_drain(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.want_drain()

    def destroy(
        self, error: BaseException | None = None, callback: Callable[..., Any] | None = None
    ) -> ServerResponse:
        """Destroy the response: its socket is destroyed (Node's ``res.destroy``)."""
        if self._msg_destroyed:
            return self
        self._msg_destroyed = True
        if self._stream_ready:
            self._destroyed = True
        sock = self.socket
        if sock is None and self._conn is not None:
            sock = self._conn.socket
        if sock is not None:
            sock.destroy(error)
        return self

    @property
    def destroyed(self) -> bool:
        """``destroy()`` was called, or the connection closed first."""
        return self._msg_destroyed

    def _on_uncaught(self, exc: BaseException) -> None:
        """A request listener raised: answer 500 if nothing was sent, else cut."""
        if self._header is None and not self._ended and not self._msg_destroyed:
            try:
                self._headers = None
                self._removed = None
                self.status_code = 500
                self._last = True
                self.end()
                return
            except Exception:
                pass
        self.destroy()

    def set_timeout(self, timeout: float, callback: Callable[[], Any] | None = None) -> Any:
        """``socket.set_timeout``; ``callback`` listens for ``'timeout'`` on this response."""
        if callback is not None:
            self.on("timeout", callback)
        sock = self.socket or (self._conn.socket if self._conn is not None else None)
        if sock is not None:
            sock.set_timeout(timeout)
        return self

    def assign_socket(self, socket: Any) -> None:
        """Attach the response to ``socket`` (Node's ``assignSocket``)."""
        self._attach(socket)

    def detach_socket(self, socket: Any) -> None:
        """Forget the socket (Node's ``detachSocket``)."""
        self.socket = None

    @property
    def connection(self) -> Any:
        """Same as ``socket``."""
        return self.socket

    def __repr__(self) -> str:
        reason = self.status_message or STATUS_CODES.get(self.status_code, "")
        return f"<nodish.http.ServerResponse {self.status_code} {reason}>"
