"""``OutgoingMessage``: what ServerResponse and ClientRequest share (a Writable).

Theory of operation
-------------------
As Node's ``lib/_http_outgoing.js``, the message implements ``write``/``end`` itself
instead of the generic Writable queue: a message is a head (rendered once, when the
first byte must go out) followed by body bytes framed one of three ways, chosen when
the head is rendered (Node's ``_storeHeader``):

* ``Content-Length`` when the user set it, or when ``end(data)`` carries the whole body
  before any ``write()``;
* ``Transfer-Encoding: chunked`` on HTTP/1.1 otherwise (``hex-size CRLF data CRLF``,
  ``0 CRLF trailers CRLF`` at the end);
* no framing, closing the connection after the body, when chunked is not available
  (an HTTP/1.0 peer).

Messages that must not have a body (a response to HEAD, 1xx, 204, 304) get no framing
and their ``write()`` data is ignored, as Node does.

Bytes go out through :meth:`_send`. Until the message has a socket (a client request
still connecting; a pipelined response waiting for the one before it) they are kept in
``_output`` and handed over on ``_attach``. The head is sent together with the first
body bytes, so ``write_head`` + ``end(data)`` is one ``transport.write``. Writes to a
plain ``net.Socket`` whose own buffer is empty go straight to its transport; anything
else (a TLS socket, a socket with queued data) goes through ``socket.write``. ``write()``
returns False once the socket's buffered bytes reach the high-water mark; ``'drain'``
is relayed from the socket.

The Writable's stream slots are never needed by this path; like IncomingMessage they
are set up on first use (see ``_lazy``), consistent with the message's own state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .. import runtime
from ..errors import (
    ERR_HTTP_CONTENT_LENGTH_MISMATCH,
    ERR_HTTP_HEADERS_SENT,
    ERR_HTTP_INVALID_HEADER_VALUE,
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_CHAR,
    ERR_INVALID_HTTP_TOKEN,
    ERR_STREAM_ALREADY_FINISHED,
    ERR_STREAM_DESTROYED,
    ERR_STREAM_WRITE_AFTER_END,
)
from ..events import EventEmitter
from ..net.socket import Socket as _PlainSocket
from ..stream.writable import Writable
from ._lazy import LazyStream
from .status import date_line

__all__ = ["OutgoingMessage", "validate_header_name", "validate_header_value"]

_TOKEN = re.compile(r"^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+\Z")
_INVALID_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
_valid_names: set[str] = set()
_HWM = 16384


def validate_header_name(name: Any, label: str = "Header name") -> None:
    """Raise ``ERR_INVALID_HTTP_TOKEN`` unless ``name`` is an HTTP token."""
    if name in _valid_names:
        return
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise ERR_INVALID_HTTP_TOKEN(label, name)
    if len(_valid_names) < 1024:
        _valid_names.add(name)


def validate_header_value(name: str, value: Any) -> None:
    """Raise ``ERR_HTTP_INVALID_HEADER_VALUE`` (None) or ``ERR_INVALID_CHAR``."""
    if type(value) is str and value.isascii() and value.isprintable():
        return  # the common case: visible ASCII and spaces, nothing to search
    if value is None:
        raise ERR_HTTP_INVALID_HEADER_VALUE(value, name)
    if isinstance(value, (list, tuple)):
        for v in value:
            validate_header_value(name, v)
        return
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ERR_HTTP_INVALID_HEADER_VALUE(value, name)
        return
    if _INVALID_VALUE.search(value):
        raise ERR_INVALID_CHAR("header content", name)


def _lines(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, (list, tuple)):
        for v in value:
            out.append(f"{name}: {v}\r\n")
    else:
        out.append(f"{name}: {value}\r\n")


def _to_bytes(chunk: Any, encoding: str | None) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        if encoding in (None, "utf8", "utf-8"):
            return chunk.encode()
        return chunk.encode("latin-1" if encoding in ("latin1", "binary") else encoding)
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise ERR_INVALID_ARG_TYPE("chunk", "of type str or bytes-like", type(chunk).__name__)


def free_transport(sock: Any) -> Any:
    """The transport of a net.Socket (or TLSSocket: it encrypts in its transport) with
    nothing queued and a transport under its mark, to which bytes may go straight (what
    ``socket.write`` would do in the end, without the Writable's bookkeeping); else None.
    """
    if isinstance(sock, _PlainSocket):
        t = sock._transport
        if (
            t is not None
            and not sock._lost
            and not sock._connecting
            and not sock._write_paused
            and not sock._w_length
            and not sock._w_ending
            and not sock._w_corked
            and not sock._nagle_due  # (no_delay=False: Nagle goes on before this write)
        ):
            return t
    return None


def sock_write(sock: Any, data: bytes, last: bool = False) -> bool:
    """Write to ``sock``; True while its buffer is under the mark.

    The last bytes of a message (``last``) go straight into a :func:`free_transport`.
    Nobody waits for ``'drain'`` after the last bytes, so nothing is lost by skipping it.
    """
    if last:
        t = free_transport(sock)
        if t is not None:
            t.write(data)
            sock._bytes_written += len(data)
            return True
    return sock.write(data)  # type: ignore[no-any-return]


def pause_socket(sock: Any) -> None:
    """Stop reading ``sock`` (a body's backpressure).

    A net.Socket or TLSSocket (http feeds its parser directly) is paused at its transport,
    leaving its Readable side untouched, so that a socket handed over later (upgrade) flows as
    soon as someone listens for ``'data'``; any other socket is ``pause()``'d.
    """
    if isinstance(sock, _PlainSocket):  # net.Socket or tls.TLSSocket: both feed http directly
        sock._read_paused = True
        t = sock._transport
        if t is not None and not sock._lost:
            t.pause_reading()
    else:
        sock.pause()


def resume_socket(sock: Any) -> None:
    """Undo :func:`pause_socket`."""
    if isinstance(sock, _PlainSocket):
        if sock._read_paused:
            sock._read_paused = False
            t = sock._transport
            if t is not None and not sock._lost:
                t.resume_reading()
    else:
        sock.resume()


_CL, _TE, _CHUNKED, _CONN, _CLOSE, _DATE, _TRAILER = 1, 2, 4, 8, 16, 32, 64
# _render's cache: its inputs -> (head before Date, Date wanted, head after, chunked,
# last, keep-alive)
_RENDERED: dict[tuple[Any, ...], tuple[bytes, bool, bytes, bool, bool, bool]] = {}


def scan_headers(items: Iterable[tuple[str, Any]]) -> tuple[bytes, int]:
    """Header lines rendered, and flags for the fields that decide the framing."""
    lines: list[str] = []
    flags = 0
    for name, value in items:
        if value is None:
            continue
        if type(value) is str:
            lines.append(f"{name}: {value}\r\n")
        else:
            _lines(name, value, lines)
        n = len(name)
        if n == 10 or n == 14 or n == 17 or n == 4 or n == 7:
            low = name.lower()
            if low == "content-length":
                flags |= _CL
            elif low == "transfer-encoding":
                flags |= _TE
                if "chunked" in str(value).lower():
                    flags |= _CHUNKED
            elif low == "connection":
                flags |= _CONN
                if "close" in str(value).lower():
                    flags |= _CLOSE
            elif low == "date":
                flags |= _DATE
            elif low == "trailer":
                flags |= _TRAILER
    return "".join(lines).encode("latin-1"), flags


class OutgoingMessage(LazyStream, Writable):
    """The common part of :class:`ServerResponse` and :class:`ClientRequest`."""

    __slots__ = (
        "_chunked",
        "_content_length",
        "_ended",
        "_finished",
        "_has_body",
        "_header",
        "_header_sent",
        "_headers",
        "_keep_alive",
        "_last",
        "_msg_destroyed",
        "_need_drain",
        "_output",
        "_removed",
        "_sent_body",
        "_stream_ready",
        "_trailer",
        "_use_chunked",
        "send_date",
        "socket",
        "strict_content_length",
    )

    _finish_tick = False
    # end() may write head and body to the transport itself (a subclass whose _send
    # does more than send says False)
    _direct_end = True

    def __init__(self, keep_alive: bool = True, send_date: bool = False) -> None:
        self._events = {}
        self._max_listeners = None
        self._warned = None
        self._capture_rejections = EventEmitter.capture_rejections
        self._stream_ready = False
        self._headers: dict[str, tuple[str, Any]] | None = None
        self._header: bytes | None = None
        self._header_sent = False
        self._has_body = True
        self._chunked = False
        self._use_chunked = True
        self._content_length: int | None = None
        self._keep_alive = keep_alive
        self._last = False
        self._ended = False
        self._finished = False
        self._msg_destroyed = False
        self._need_drain = False
        self._output: list[bytes] | None = None
        self._trailer = b""
        self._removed: set[str] | None = None
        self.send_date = send_date
        self.socket: Any = None
        self.strict_content_length = False
        self._sent_body = 0

    # ------------------------------------------------------------------ lazy stream

    def _init_stream(self) -> None:
        """Set up the Writable's state, consistent with the message's own."""
        if not self._start_stream():
            return
        self._init_writable(False, None, "options.highWaterMark", True, "utf8")  # Node's defaults
        # the message's own state is the truth
        self._w_ending = self._w_ended = self._ended
        self._w_finished = self._finished
        self._destroyed = self._msg_destroyed

    # ------------------------------------------------------------------ headers

    def set_header(self, name: str, value: Any) -> OutgoingMessage:
        """Set one header (a list value sends one line per item). Returns self."""
        if self._header is not None:
            raise ERR_HTTP_HEADERS_SENT("set")
        validate_header_name(name)
        validate_header_value(name, value)
        h = self._headers
        if h is None:
            h = self._headers = {}
        h[name.lower()] = (name, value)
        return self

    def set_headers(self, headers: Any) -> OutgoingMessage:
        """Set several headers from a dict (or iterable of pairs). Returns self."""
        items = headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            self.set_header(name, value)
        return self

    def append_header(self, name: str, value: Any) -> OutgoingMessage:
        """Add a value to a header, keeping the values already set. Returns self."""
        if self._header is not None:
            raise ERR_HTTP_HEADERS_SENT("append")
        validate_header_name(name)
        validate_header_value(name, value)
        h = self._headers
        if h is None:
            h = self._headers = {}
        key = name.lower()
        prev = h.get(key)
        new = list(value) if isinstance(value, (list, tuple)) else [value]
        if prev is None:
            h[key] = (name, new if len(new) > 1 else new[0])
        else:
            old = prev[1]
            old_list = list(old) if isinstance(old, (list, tuple)) else [old]
            h[key] = (prev[0], old_list + new)
        return self

    def get_header(self, name: str) -> Any:
        """The value set for ``name`` (any case), or None."""
        if not isinstance(name, str):
            raise ERR_INVALID_ARG_TYPE("name", "of type str", type(name).__name__)
        h = self._headers
        if h is None:
            return None
        entry = h.get(name.lower())
        return None if entry is None else entry[1]

    def get_headers(self) -> dict[str, Any]:
        """A copy of the headers set, lower-case names to values."""
        h = self._headers
        return {} if h is None else {k: v for k, (_n, v) in h.items()}

    def get_header_names(self) -> list[str]:
        """The lower-case names of the headers set."""
        return [] if self._headers is None else list(self._headers)

    def get_raw_header_names(self) -> list[str]:
        """The names of the headers set, in the case they were given."""
        return [] if self._headers is None else [n for n, _v in self._headers.values()]

    def has_header(self, name: str) -> bool:
        """Whether ``name`` (any case) is set."""
        return self._headers is not None and name.lower() in self._headers

    def remove_header(self, name: str) -> None:
        """Unset ``name``; also stops the automatic header of that name (Date ...)."""
        if self._header is not None:
            raise ERR_HTTP_HEADERS_SENT("remove")
        key = name.lower()
        if self._headers is not None:
            self._headers.pop(key, None)
        if key in ("content-length", "transfer-encoding", "date", "connection"):
            if self._removed is None:
                self._removed = set()
            self._removed.add(key)

    @property
    def headers_sent(self) -> bool:
        """True once the head has been rendered (and can no longer change)."""
        return self._header is not None

    # ------------------------------------------------------------------ rendering

    def _render(
        self, first_line: bytes, extra: Any = None, scanned: Any = None
    ) -> tuple[bytes, bool, bytes, bool, bool, bool]:
        """Render the head (Node's ``_storeHeader``) into ``self._header``.

        ``extra``: header pairs given to ``write_head``; ``scanned``: their
        :func:`scan_headers` result when the caller already has it (a cache hit).

        A head made of ``scanned`` lines alone (``write_head(code, HEADERS)`` with a
        dict used for every response) is rendered once per distinct input: the lines
        around the per-second ``Date`` and the framing state they decide are cached.
        Returns those parts (head before ``Date``, ``Date`` wanted, head after, chunked,
        last, keep-alive).
        """
        if (
            scanned is not None
            and not self._headers
            and self._removed is None
            and not self._last
            and not self._chunked
        ):
            key = (
                first_line,
                scanned,
                self.send_date,
                self._keep_alive,
                self._use_chunked,
                self._has_body,
                self._content_length,
                self._keep_alive_lines(),
            )
            hit = _RENDERED.get(key)
            if hit is None:
                hit = self._render_parts(first_line, scanned[0], scanned[1])
                if len(_RENDERED) >= 256:
                    _RENDERED.clear()
                _RENDERED[key] = hit
            before, dated, after, self._chunked, self._last, self._keep_alive = hit
            self._header = before + date_line() + after if dated else before + after
            return hit
        flags = 0
        block = b""
        if self._headers:
            block, flags = scan_headers(self._headers.values())
        if scanned is None and extra:
            scanned = scan_headers(extra)
        if scanned is not None:
            block += scanned[0]
            flags |= scanned[1]
        parts = self._render_parts(first_line, block, flags)
        before, dated, after, self._chunked, self._last, self._keep_alive = parts
        self._header = before + date_line() + after if dated else before + after
        return parts

    def _render_parts(
        self, first_line: bytes, block: bytes, flags: int
    ) -> tuple[bytes, bool, bytes, bool, bool, bool]:
        """The head before the ``Date`` line, whether one goes in, the head after it,
        and the framing state (chunked, last message, keep-alive) the headers decide."""
        chunked = self._chunked
        last = self._last
        keep_alive = self._keep_alive
        seen_cl = flags & _CL
        seen_te = flags & _TE
        seen_conn = flags & _CONN
        seen_date = flags & _DATE
        seen_trailer = flags & _TRAILER
        if flags & _CHUNKED:
            chunked = True
        if flags & _CLOSE:
            last = True
            keep_alive = False
        removed = self._removed
        tail: list[bytes] = []
        dated = bool(
            self.send_date and not seen_date and (removed is None or "date" not in removed)
        )
        if not seen_conn and (removed is None or "connection" not in removed):
            send_keep_alive = keep_alive and (seen_cl or self._use_chunked or self._is_client())
            if send_keep_alive:
                tail.append(self._keep_alive_lines())
            else:
                last = True
                keep_alive = False
                tail.append(b"Connection: close\r\n")
        elif removed is not None and "connection" in removed and not keep_alive:
            last = True
        if not seen_cl and not seen_te:
            if not self._has_body:
                chunked = False
            elif not self._use_chunked:
                last = True
            elif (
                not seen_trailer
                and self._content_length is not None
                and (removed is None or "content-length" not in removed)
            ):
                tail.append(b"Content-Length: %d\r\n" % self._content_length)
            elif removed is None or "transfer-encoding" not in removed:
                tail.append(b"Transfer-Encoding: chunked\r\n")
                chunked = True
            else:
                last = True
        tail.append(b"\r\n")
        return first_line + block, dated, b"".join(tail), chunked, last, keep_alive

    def _is_client(self) -> bool:
        return False

    def _keep_alive_lines(self) -> bytes:
        return b"Connection: keep-alive\r\n"

    def _implicit_header(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ sending

    def _send(self, data: bytes) -> bool:
        if not self._header_sent:
            self._header_sent = True
            assert self._header is not None
            data = self._header + data if data else self._header
        if not data:
            return True
        sock = self.socket
        if sock is None or self._output is not None:
            out = self._output
            if out is None:
                out = self._output = []
            out.append(data)
            return False
        if not sock.writable:
            return False  # the connection is ending or gone: nothing can be sent
        return sock_write(sock, data, self._ended)

    def _attach(self, sock: Any) -> None:
        """The message gets its socket: flush what was written meanwhile."""
        self.socket = sock
        out = self._output
        if out is not None:
            self._output = None
            if out:
                sock_write(sock, b"".join(out), self._ended)
        if self._ended and not self._finished:
            self._on_flushed()

    def flush_headers(self) -> None:
        """Send the head now, before any body (Node's ``flushHeaders``)."""
        if self._header is None:
            self._implicit_header()
        self._send(b"")

    def write(
        self,
        chunk: Any,
        encoding: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> bool:
        """Send a piece of the body (the head first, if not sent yet).

        Returns False when the socket's buffer is full: wait for ``'drain'``. On a
        destroyed message (say the peer went away) nothing is sent: False, and
        ``callback`` gets ``ERR_STREAM_DESTROYED`` on the next tick, as in Node.

        Raises:
            ERR_STREAM_WRITE_AFTER_END: after ``end()``.
        """
        if self._ended:
            raise ERR_STREAM_WRITE_AFTER_END()
        if chunk is None:
            raise ERR_INVALID_ARG_TYPE("chunk", "of type str or bytes-like", "None")
        data = _to_bytes(chunk, encoding)
        if self._msg_destroyed:
            if callback is not None:
                runtime.next_tick(callback, ERR_STREAM_DESTROYED("write"), owner=self)
            return False
        if self._header is None:
            self._implicit_header()
        if self.strict_content_length:
            self._check_length(len(data), False)
        ok = self._write_body(data)
        if callback is not None:
            runtime.next_tick(callback, owner=self)
        if not ok:
            self._need_drain = True
            self._want_drain()
        return ok

    def _write_body(self, data: bytes) -> bool:
        if not self._has_body:
            return True
        if not data:
            return self._send(b"") if not self._header_sent else True
        if self._chunked:
            return self._send(b"%x\r\n%b\r\n" % (len(data), data))
        return self._send(data)

    def end(
        self,
        chunk: Any = None,
        encoding: str | None = None,
        callback: Callable[..., Any] | None = None,
    ) -> OutgoingMessage:
        """Finish the message, with a last piece of body. ``callback`` on ``'finish'``.

        On a destroyed message (say the peer went away) the message is marked ended
        and nothing is sent; ``'finish'`` never comes, as in Node (no exception).
        """
        if type(chunk) is not bytes and callable(chunk) and callback is None:
            chunk, callback = None, chunk
        if self._ended:
            if callback is not None:
                if self._finished:
                    runtime.next_tick(callback, ERR_STREAM_ALREADY_FINISHED("end"), owner=self)
                else:
                    self.once("finish", callback)
            return self
        if chunk is None:
            data = b""
        elif type(chunk) is bytes:
            data = chunk
        else:
            data = _to_bytes(chunk, encoding)
        if callback is not None:
            self.once("finish", callback)
        if self._msg_destroyed:
            self._ended = True
            return self
        if self._header is None:
            self._content_length = len(data)
            self._implicit_header()
        if self.strict_content_length:
            self._check_length(len(data), True)
        self._ended = True
        sock = self.socket
        if self._has_body and self._chunked:
            last = (b"%x\r\n%b\r\n" % (len(data), data) if data else b"") + b"0\r\n"
            last += self._trailer + b"\r\n"
            self._send(last)
        elif (
            # the usual response, head and whole body at once: _send and sock_write inline
            self._direct_end
            and not self._header_sent
            and self._output is None
            and (t := free_transport(sock)) is not None
            and not sock._destroyed  # (what _send's sock.writable adds)
            and sock._errored is None
            and sock._w_enabled
        ):
            self._header_sent = True
            head: bytes = self._header  # type: ignore[assignment]  # (rendered above)
            data = head + data if self._has_body else head
            t.write(data)
            sock._bytes_written += len(data)
        else:
            self._send(data if self._has_body else b"")
        if sock is not None and self._output is None:
            self._on_flushed()
        return self

    def _check_length(self, n: int, last: bool) -> None:
        """``strict_content_length``: the body must match the Content-Length set."""
        declared = self.get_header("content-length")
        if declared is None or not self._has_body:
            return
        expected = int(declared)
        total = self._sent_body + n
        if total > expected or (last and total != expected):
            raise ERR_HTTP_CONTENT_LENGTH_MISMATCH(total, expected)
        self._sent_body = total

    def add_trailers(self, headers: Any) -> None:
        """Trailer fields sent after a chunked body."""
        items = headers.items() if hasattr(headers, "items") else headers
        parts: list[str] = []
        for name, value in items:
            validate_header_name(name, "Trailer name")
            validate_header_value(name, value)
            _lines(name, value, parts)
        self._trailer = "".join(parts).encode("latin-1")

    def _on_flushed(self) -> None:
        """Everything is handed to the socket: ``'finish'`` (Node: on the write callback)."""
        if self._finished:
            return
        self._finished = True
        if self._stream_ready:
            self._w_finished = True
        # A server response skips the tick when nobody listens yet (the hot path); a
        # client request is usually ended before its listeners are added.
        if self._finish_tick or "finish" in self._events:
            runtime.next_tick(self.emit, "finish", owner=self)
        self._on_finish()

    def _on_finish(self) -> None:
        """Subclass hook: the message is complete on the wire."""

    def _want_drain(self) -> None:
        """Subclass hook: ``write()`` returned False, ``'drain'`` is awaited."""

    def _on_socket_drain(self) -> None:
        if self._need_drain:
            self._need_drain = False
            self.emit("drain")

    # ------------------------------------------------------------------ state

    @property
    def writable_ended(self) -> bool:
        """``end()`` was called."""
        return self._ended

    @property
    def writable_finished(self) -> bool:
        """Everything was handed to the socket (``'finish'``)."""
        return self._finished

    @property
    def finished(self) -> bool:
        """Node's deprecated ``finished``: same as ``writable_ended``."""
        return self._ended

    @property
    def writable(self) -> bool:
        """True until ``end()`` or ``destroy()``."""
        return not self._ended and not self._msg_destroyed

    @property
    def writable_length(self) -> int:
        """Bytes waiting in the socket (or here, before there is one)."""
        if self._output is not None:
            return sum(len(b) for b in self._output)
        sock = self.socket
        return 0 if sock is None else int(sock.writable_length)

    @property
    def writable_high_water_mark(self) -> int:
        """The socket's mark (16384 by default)."""
        sock = self.socket
        return _HWM if sock is None else int(sock.writable_high_water_mark)

    @property
    def writable_need_drain(self) -> bool:
        """``write()`` returned False and ``'drain'`` has not followed yet."""
        return self._need_drain

    @property
    def writable_corked(self) -> int:
        """Always 0: the message does not cork (Node's ``writableCorked`` of a message)."""
        return 0

    def cork(self) -> None:
        """Cork the socket (coalesce writes until ``uncork``)."""
        if self.socket is not None:
            self.socket.cork()

    def uncork(self) -> None:
        """Undo a ``cork``."""
        if self.socket is not None:
            self.socket.uncork()
