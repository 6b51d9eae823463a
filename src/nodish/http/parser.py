"""The sans-I/O HTTP/1.1 engine: bytes in, message events out (httptools / llhttp).

Theory of operation
-------------------
:class:`Engine` wraps one httptools parser (llhttp, Node's own parser) and turns its
callbacks into five calls on a *delegate* (the connection that owns it):

====================================  ==================================================
``on_message_begin()``                the first byte of a message
``on_headers(head)``                  the head is complete (a :class:`Head`)
``on_body(data)``                     a piece of body (chunked framing removed)
``on_message_complete(trailers)``     the message ended; ``trailers`` is a raw list or
                                      None
``on_upgrade(rest) -> bool``          an Upgrade / CONNECT message ended; ``rest`` is
                                      every byte after it. True: the delegate took the
                                      connection over and the engine stops; False: go on
                                      parsing ``rest`` as HTTP.
====================================  ==================================================

No sockets, no loop, no clock: the same bytes fed whole, one byte at a time, or with
trailing data give the same calls (tests/protocols/test_http_engine.py checks it).

Limits llhttp does not enforce itself (httptools accepts a 100 KiB head): the head's
size (request or status line plus header lines, as Node counts it) against
``max_header_size`` and the number of header lines against ``max_headers_count``
raise :class:`ParseError` with status 431 (``HPE_HEADER_OVERFLOW``), checked when the
head completes and after each chunk fed while one is in progress (not per header line:
that is the hot path; a chunk's worth of lines at most is held past the limit). A head that never
ends is cut off once the raw bytes received while in the head pass the limit plus one
read's worth, so memory stays bounded even before a complete header line arrives.
Every other llhttp rejection is a :class:`ParseError` with status 400 and the
``HPE_*`` code Node would report.

llhttp's ``finish()`` is not exposed by httptools, so :meth:`Engine.feed_eof` does its
job: a response body delimited by the connection's close ends there; any other message
cut short is an error (``HPE_INVALID_EOF_STATE``).

Responses to HEAD and CONNECT have no body whatever their headers say, and llhttp can
only learn that from ``on_headers_complete``'s return value, which httptools keeps for
itself. So for those (``expect_head_only()``), the engine finds the end of the head
itself, feeds llhttp exactly the head, ends the message, and starts a fresh parser.
"""

from __future__ import annotations

from typing import Any, Protocol

import httptools

from ..errors import NodeError

__all__ = ["Delegate", "Engine", "Head", "ParseError"]

_HttpParserError = httptools.HttpParserError
_HttpParserUpgrade = httptools.HttpParserUpgrade

# Bytes a head may grow past the limit before its end is seen (one socket read).
_RAW_SLACK = 65536

_METHODS: dict[bytes, str] = {}


class ParseError(NodeError):
    """llhttp rejected the bytes (Node's parse errors: ``code`` is ``HPE_*``).

    Attributes:
        code: ``HPE_INVALID_METHOD``, ``HPE_HEADER_OVERFLOW`` ...
        reason: llhttp's reason text.
        status: the answer a server gives (400, or 431 for an oversize head).
        bytes_parsed: how many bytes of the last chunk were read (as far as known).
        raw_packet: the last chunk fed.
    """

    def __init__(self, code: str, reason: str, status: int = 400) -> None:
        super().__init__(message=f"Parse Error: {reason}")
        self.code = code  # type: ignore[misc]
        self.reason = reason
        self.status = status
        self.bytes_parsed = 0
        self.raw_packet = b""


# llhttp's reasons, mapped back to its error names (httptools keeps only the text).
_REASONS: tuple[tuple[str, str], ...] = (
    ("Invalid method", "HPE_INVALID_METHOD"),
    ("Expected HTTP/", "HPE_INVALID_CONSTANT"),
    ("Invalid HTTP version", "HPE_INVALID_VERSION"),
    ("Invalid major version", "HPE_INVALID_VERSION"),
    ("Invalid minor version", "HPE_INVALID_VERSION"),
    ("Expected dot", "HPE_INVALID_VERSION"),
    ("Content-Length can't be present with Transfer-Encoding", "HPE_UNEXPECTED_CONTENT_LENGTH"),
    ("Duplicate Content-Length", "HPE_UNEXPECTED_CONTENT_LENGTH"),
    ("Content-Length overflow", "HPE_INVALID_CONTENT_LENGTH"),
    ("Invalid character in Content-Length", "HPE_INVALID_CONTENT_LENGTH"),
    ("Transfer-Encoding", "HPE_INVALID_TRANSFER_ENCODING"),
    ("chunk size", "HPE_INVALID_CHUNK_SIZE"),
    ("Invalid character in chunk", "HPE_INVALID_CHUNK_SIZE"),
    ("Chunk size overflow", "HPE_INVALID_CHUNK_SIZE"),
    ("Invalid status", "HPE_INVALID_STATUS"),
    ("Response overflow", "HPE_INVALID_STATUS"),
    ("Invalid char in url", "HPE_INVALID_URL"),
    ("url", "HPE_INVALID_URL"),
    ("Missing expected CR", "HPE_STRICT"),
    ("Missing expected LF", "HPE_STRICT"),
    ("Expected CRLF", "HPE_STRICT"),
    ("Expected LF", "HPE_STRICT"),
    ("header value char", "HPE_INVALID_HEADER_TOKEN"),
    ("header token", "HPE_INVALID_HEADER_TOKEN"),
    ("Invalid header", "HPE_INVALID_HEADER_TOKEN"),
    ("Unexpected whitespace", "HPE_INVALID_HEADER_TOKEN"),
    ("Unexpected space", "HPE_INVALID_HEADER_TOKEN"),
    ("Data after `Connection: close`", "HPE_CLOSED_CONNECTION"),
    ("Pause", "HPE_PAUSED"),
)


def _from_httptools(exc: BaseException) -> ParseError:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        code = "HPE_INVALID_METHOD"
    elif isinstance(exc, httptools.HttpParserInvalidURLError):
        code = "HPE_INVALID_URL"
    elif isinstance(exc, httptools.HttpParserInvalidStatusError):
        code = "HPE_INVALID_STATUS"
    else:
        code = "HPE_INVALID_CONSTANT"
        low = reason.lower()
        for text, name in _REASONS:
            if text.lower() in low:
                code = name
                break
    return ParseError(code, reason)


def header_overflow() -> ParseError:
    """Node's error for a head past ``max_header_size`` (answered with 431)."""
    return ParseError("HPE_HEADER_OVERFLOW", "Header overflow", 431)


class Head:
    """A parsed message head.

    ``raw`` alternates names and values as received (bytes); ``method``/``url`` are
    set on requests, ``status_code``/``status_message`` on responses.
    """

    __slots__ = (
        "chunked",
        "content_length",
        "expect",
        "has_host",
        "keep_alive",
        "method",
        "minor",
        "raw",
        "status_code",
        "status_message",
        "upgrade",
        "url",
        "version",
    )

    def __init__(
        self,
        raw: list[bytes] | None = None,
        version: str = "1.1",
        keep_alive: bool = True,
        upgrade: bool = False,
    ) -> None:
        self.raw: list[bytes] = [] if raw is None else raw
        self.version = version
        # 1 for HTTP/1.1 only: Node checks the Host header of 1.1 requests alone, and
        # frames the answer to any other version (0.9, 1.0, 2.0) as it does for 1.0
        self.minor = 1 if version == "1.1" else 0
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.method = ""
        self.url = ""
        self.status_code = 0
        self.status_message = ""
        self.content_length = False
        self.chunked = False
        self.has_host = False
        self.expect: bytes | None = None


class Delegate(Protocol):
    """What an :class:`Engine` calls (see the module notes)."""

    def on_message_begin(self) -> None: ...

    def on_headers(self, head: Head) -> None: ...

    def on_body(self, data: bytes) -> None: ...

    def on_message_complete(self, trailers: list[bytes] | None) -> None: ...

    def on_upgrade(self, rest: bytes) -> bool: ...


_IDLE, _HEAD, _BODY = 0, 1, 2


class _Callbacks:
    """What llhttp calls back (httptools looks each one up once, when the parser is
    made): the engine's handlers, and where no handling is needed, the destination
    itself (the URL or reason phrase pieces' list, the delegate's ``on_body``)."""

    __slots__ = (
        "on_body",
        "on_header",
        "on_headers_complete",
        "on_message_begin",
        "on_message_complete",
        "on_status",
        "on_url",
    )

    on_body: Any
    on_header: Any
    on_headers_complete: Any
    on_message_begin: Any
    on_message_complete: Any
    on_status: Any
    on_url: Any


class Engine:
    """One direction of one HTTP/1.x connection: feeds llhttp, calls a delegate.

    Args:
        delegate: receives the message events.
        request: parse requests (a server) or responses (a client).
        max_header_size: limit of the head in bytes (Node's ``maxHeaderSize``).
        max_headers_count: limit of header lines (0: none).
        lenient: llhttp's lenient flags (Node's ``insecureHTTPParser``).
    """

    __slots__ = (
        "_chunk",
        "_d",
        "_error",
        "_expect",
        "_feeding",
        "_has_host",
        "_head",
        "_head_buf",
        "_head_only",
        "_lenient",
        "_max_raw",
        "_max_size",
        "_p",
        "_raw",
        "_raw_fed",
        "_request",
        "_state",
        "_status_parts",
        "_stopped",
        "_trailers",
        "_url_parts",
    )

    def __init__(
        self,
        delegate: Delegate,
        *,
        request: bool = True,
        max_header_size: int = 16384,
        max_headers_count: int = 2000,
        lenient: bool = False,
    ) -> None:
        self._d = delegate
        self._request = request
        self._max_size = max_header_size
        # header lines counted as the raw list's length (names and values)
        self._max_raw = 2 * max_headers_count if max_headers_count else 1 << 62
        self._lenient = lenient
        self._url_parts: list[bytes] = []
        self._status_parts: list[bytes] = []
        self._p: Any = None
        self._new_parser()
        self._state = _IDLE
        self._head: Head | None = None
        self._raw: list[bytes] | None = None  # the head's raw list while in the head
        self._trailers: list[bytes] | None = None
        self._raw_fed = 0
        self._feeding = 0  # the size of the chunk being parsed
        self._chunk: bytes | None = None  # that chunk, when it began between messages
        self._has_host = False
        self._expect: bytes | None = None
        self._error: ParseError | None = None
        self._stopped = False
        self._head_only = 0
        self._head_buf = b""

    def _new_parser(self) -> None:
        cb = _Callbacks()
        cb.on_message_begin = self.on_message_begin
        cb.on_header = self.on_header
        cb.on_headers_complete = self.on_headers_complete
        cb.on_message_complete = self.on_message_complete
        cb.on_body = self._d.on_body
        p: Any
        if self._request:
            cb.on_url = self._url_parts.append
            cb.on_status = None
            p = self._p = httptools.HttpRequestParser(cb)
        else:
            cb.on_url = None
            cb.on_status = self._status_parts.append
            p = self._p = httptools.HttpResponseParser(cb)
        if self._lenient:
            p.set_dangerous_leniencies(
                lenient_headers=True,
                lenient_chunked_length=True,
                lenient_keep_alive=True,
                lenient_transfer_encoding=True,
                lenient_version=True,
                lenient_optional_cr_before_lf=True,
                lenient_spaces_after_chunk_size=True,
            )

    # ------------------------------------------------------------------ feeding

    @property
    def in_message(self) -> bool:
        """True between a message's first byte and its end."""
        return self._state != _IDLE

    @property
    def in_head(self) -> bool:
        """True while a message's head is being received."""
        return self._state == _HEAD

    def expect_head_only(self, *, connect: bool = False) -> None:
        """The next response has no body, whatever its headers say (HEAD, CONNECT).

        With ``connect``, a 2xx answer hands the rest of the bytes to ``on_upgrade``.
        """
        self._head_only = 2 if connect else 1

    def feed(self, data: bytes) -> None:
        """Parse ``data``; raises :class:`ParseError` (the connection is then unusable)."""
        if self._stopped:
            return
        if self._head_only:
            self._feed_head_only(data)
            return
        state = self._state
        self._feeding = len(data)
        self._chunk = data if state == _IDLE else None
        try:
            self._p.feed_data(data)
        except _HttpParserUpgrade as exc:
            self._state = _IDLE
            rest = data[exc.args[0] :] if exc.args else b""
            if self._d.on_upgrade(rest):
                self._stopped = True
            elif rest:
                self.feed(rest)
            return
        except _HttpParserError as exc:
            self._stopped = True
            err = self._error
            if err is None:
                if exc.__context__ is not None and not isinstance(exc.__context__, ParseError):
                    raise exc.__context__ from None  # a delegate's own exception
                err = _from_httptools(exc)
            err.raw_packet = data
            raise err from None
        if self._state == _HEAD:
            if state != _HEAD:
                self._raw_fed = 0
            fed = self._raw_fed = self._raw_fed + len(data)
            limit = self._max_size
            raw = self._raw
            if (fed > limit and (fed > limit + _RAW_SLACK or self._head_size() > limit)) or (
                raw is not None and len(raw) > self._max_raw
            ):
                self._stopped = True
                err = header_overflow()
                err.raw_packet = data
                raise err

    def feed_eof(self) -> None:
        """The peer closed its side: end a close-delimited body, or fail a cut message."""
        if self._stopped or self._state == _IDLE:
            return
        head = self._head
        if (
            self._state == _BODY
            and not self._request
            and head is not None
            and not head.content_length
            and not head.chunked
        ):
            self._state = _IDLE
            self._d.on_message_complete(None)
            return
        self._stopped = True
        raise ParseError("HPE_INVALID_EOF_STATE", "Invalid EOF state")

    @property
    def stopped(self) -> bool:
        """True once the engine ignores what it is fed."""
        return self._stopped

    def stop(self) -> None:
        """Ignore everything fed from now on (the connection was taken over)."""
        self._stopped = True

    def release(self) -> None:
        """Stop for good, letting go of the parser and the delegate (the connection has
        closed): the parser holds our bound methods, we hold the delegate, so without
        this the three would wait for the cycle collector."""
        self._stopped = True
        self._p = None
        self._d = None  # type: ignore[assignment]

    def _feed_head_only(self, data: bytes) -> None:
        buf = self._head_buf + data if self._head_buf else data
        connect = self._head_only == 2
        while self._head_only and not self._stopped:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > self._max_size:
                    self._stopped = True
                    raise header_overflow()
                self._head_buf = buf
                return
            head, buf = buf[: end + 4], buf[end + 4 :]
            self._head_buf = b""
            mode, self._head_only = self._head_only, 0
            self.feed(head)
            if self._stopped:
                return
            status = self._head.status_code if self._head is not None else 0
            if self._state == _IDLE:
                if status < 200:
                    self._head_only = mode  # a 1xx: the real head is still to come
                    continue
                break
            # llhttp waits for a body that will not come: end the message here
            self._state = _IDLE
            self._new_parser()
            self._d.on_message_complete(None)
            if connect and status // 100 == 2:
                self._stopped = self._d.on_upgrade(buf)
                return
            break
        if buf and not self._stopped:
            self.feed(buf)

    # ------------------------------------------------------------------ llhttp callbacks

    def on_message_begin(self) -> None:
        self._state = _HEAD
        self._head = None  # made when the head is complete
        self._raw = []
        self._has_host = False
        self._expect = None
        self._trailers = None
        if self._url_parts:
            self._url_parts.clear()
        if self._status_parts:
            self._status_parts.clear()
        self._d.on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        raw = self._raw
        if raw is None:  # past the head: a trailer
            trailers = self._trailers
            if trailers is None:
                trailers = self._trailers = []
            trailers.append(name)
            trailers.append(value)
            return
        raw.append(name)
        raw.append(value)
        n = len(name)
        if n == 4 or n == 6:
            low = name.lower()
            if low == b"host":
                self._has_host = True
            elif low == b"expect":
                self._expect = value

    def _head_size(self) -> int:
        """The head's size so far as Node counts it: the request target or reason
        phrase, and each header line's name and value plus 4."""
        raw = self._raw or ()
        line = self._url_parts if self._request else self._status_parts
        return sum(map(len, line)) + sum(map(len, raw)) + 2 * len(raw)

    def on_headers_complete(self) -> None:
        p = self._p
        raw = self._raw
        if raw is None:
            raw = []
        # + the request/status line framing and the final CRLF, as Node counts. The
        # head is no larger than the bytes it came in (this chunk, and earlier ones
        # while in it) plus one per header line (Node counts ": " where a line may
        # have ":" alone): when those fit, the exact count is not needed.
        if len(raw) > self._max_raw or (
            self._raw_fed + self._feeding + len(raw) + 16 > self._max_size
            and self._head_size() + 16 > self._max_size
        ):
            self._error = header_overflow()
            raise self._error
        self._raw = None
        # llhttp's version as httptools gives it is a str.format per message: when the
        # head began this chunk, its request or status line shows an HTTP/1.1 at once
        chunk = self._chunk
        self._chunk = None
        if self._request:
            m = p.get_method()
            parts = self._url_parts
            url = parts[0] if len(parts) == 1 else b"".join(parts)
            k = len(m) + len(url) + 2  # "METHOD SP url SP"
            if chunk is not None and chunk[k : k + 10] == b"HTTP/1.1\r\n" and chunk.startswith(m):
                version = "1.1"
            else:
                version = p.get_http_version()
            head = self._head = Head(raw, version, p.should_keep_alive(), p.should_upgrade())
            method = _METHODS.get(m)
            if method is None:
                method = _METHODS[m] = m.decode("latin-1")
            head.method = method
            head.url = url.decode("latin-1")
            head.has_host = self._has_host
            head.expect = self._expect
        else:
            if chunk is not None and chunk.startswith(b"HTTP/1.1 "):
                version = "1.1"
            else:
                version = p.get_http_version()
            head = self._head = Head(raw, version, p.should_keep_alive(), p.should_upgrade())
            head.status_code = p.get_status_code()
            head.status_message = b"".join(self._status_parts).decode("latin-1")
            for i in range(0, len(raw), 2):
                name = raw[i].lower()
                if name == b"content-length":
                    head.content_length = True
                elif name == b"transfer-encoding" and b"chunked" in raw[i + 1].lower():
                    head.chunked = True
        self._state = _BODY
        self._d.on_headers(head)

    def on_message_complete(self) -> None:
        self._state = _IDLE
        trailers = self._trailers
        self._trailers = None
        self._d.on_message_complete(trailers)
