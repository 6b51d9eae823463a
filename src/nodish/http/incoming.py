"""``IncomingMessage``: a request on the server, a response on the client (a Readable).

Theory of operation
-------------------
An IncomingMessage is a full :class:`~nodish.stream.Readable`, but most requests never
use the stream: a GET has no body and a hello-world handler never reads it. So the
stream state (some forty slots) is set up lazily. ``__init__`` sets only the message's
own fields and the emitter's; the first read of any stream slot (``push()`` of a body
chunk, ``on('data')``, ``pipe``, ``async for``, ``destroy()`` ...) is trapped (see
``_lazy``: no ``__getattr__``, so attribute loads stay fast), which runs the Readable
initializer once and replays what happened before: a message that already ended
pushes its EOF then. Everything after that is the ordinary Readable.

Headers stay the raw list of byte strings the parser produced until ``headers``,
``headers_distinct`` or ``raw_headers`` is read; ``headers`` combines duplicates by
Node's rules (``matchKnownFields``): ``set-cookie`` is a list, ``cookie`` joins with
``'; '``, a fixed set of single-valued fields keeps the first value, every other field
joins with ``', '``. Names are lower-case, values latin-1 decoded, as Node does.

Body backpressure: when ``push()`` returns False the connection stops reading the
socket; ``_read`` (the consumer wants more) starts it again, as Node's
``IncomingMessage._read`` → ``readStart``.

Destroying an incomplete message marks it ``aborted``, emits ``'aborted'``, and
destroys the socket (Node 20); its ``'error'`` is emitted only when someone listens
for it, as in Node (``onError`` in ``lib/_http_incoming.js``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..events import EventEmitter
from ..stream.readable import Readable
from ._lazy import LazyStream, wake

if TYPE_CHECKING:
    from .parser import Head

__all__ = ["IncomingMessage"]

# Node's matchKnownFields: duplicates of these are dropped (the first value wins).
_SINGLE = frozenset(
    {
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    }
)


def headers_dict(raw: list[bytes]) -> dict[str, Any]:
    """Node's ``message.headers`` from a raw alternating list of names and values."""
    out: dict[str, Any] = {}
    for i in range(0, len(raw), 2):
        name = raw[i].decode("latin-1").lower()
        value = raw[i + 1].decode("latin-1")
        prev = out.get(name)
        if prev is None:
            out[name] = [value] if name == "set-cookie" else value
        elif name == "set-cookie":
            prev.append(value)
        elif name in _SINGLE:
            continue
        elif name == "cookie":
            out[name] = prev + "; " + value
        else:
            out[name] = prev + ", " + value
    return out


def headers_distinct(raw: list[bytes]) -> dict[str, list[str]]:
    """Node's ``message.headersDistinct``: every value of every field, as lists."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(raw), 2):
        name = raw[i].decode("latin-1").lower()
        out.setdefault(name, []).append(raw[i + 1].decode("latin-1"))
    return out


class IncomingMessage(LazyStream, Readable):
    """Node's ``http.IncomingMessage``: the head of a message and its body as a stream.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/http.html#class-httpincomingmessage.
    Events: ``'data'``, ``'end'``, ``'aborted'``, ``'error'``, ``'close'``.
    """

    __slots__ = (
        "_conn",
        "_dumped",
        "_head",
        "_headers",
        "_pending_eof",
        "_raw_trailers",
        "_resume_cb",
        "_stream_ready",
        "aborted",
        "complete",
        "http_version",
        "method",
        "req",
        "socket",
        "status_code",
        "status_message",
        "upgrade",
        "url",
    )

    def __init__(self, socket: Any, head: Head | None = None) -> None:
        # EventEmitter's fields only: the stream's are set up on first use.
        self._events = {}
        self._max_listeners = None
        self._warned = None
        self._capture_rejections = EventEmitter.capture_rejections
        self._stream_ready = False
        self._pending_eof = False
        self._dumped = False
        self._resume_cb: Callable[[], Any] | None = None
        self._conn: Any = None
        self.req: Any = None
        self.socket = socket
        self.complete = False
        self.aborted = False
        self._headers: dict[str, Any] | None = None
        self._raw_trailers: list[bytes] | None = None
        if head is None:
            self._head: Head | None = None
            self.method: str | None = None
            self.url = ""
            self.http_version = "1.1"
            self.status_code: int | None = None
            self.status_message: str | None = None
            self.upgrade = False
        else:
            self._head = head
            self.url = head.url
            self.http_version = head.version
            self.upgrade = head.upgrade
            if head.status_code:  # a response
                self.method = None
                self.status_code = head.status_code
                self.status_message = head.status_message
            else:
                self.method = head.method or None
                self.status_code = None
                self.status_message = None

    # ------------------------------------------------------------------ lazy stream

    def set_encoding(self, encoding: str | None) -> Readable:
        """Emit ``str`` body chunks decoded with ``encoding`` (Node's ``setEncoding``)."""
        # set_encoding assigns stream slots before it reads one: the stream must exist
        # first, or its initializer (run on that first read) would drop the decoder.
        if not self._stream_ready:
            wake(self)
        return Readable.set_encoding(self, encoding)

    def _init_stream(self) -> None:
        if not self._start_stream():
            return
        self._init_readable(False, None, "options.highWaterMark", None, "utf8")  # Node's defaults
        if self._pending_eof:
            self._pending_eof = False
            self.push(None)

    # ------------------------------------------------------------------ from the connection

    def _on_body(self, data: bytes) -> bool:
        """A body chunk from the parser; False asks the connection to stop reading."""
        return self.push(data)

    def _on_end(self, trailers: list[bytes] | None) -> None:
        self.complete = True
        self._raw_trailers = trailers
        if self._stream_ready:
            self.push(None)
        else:
            self._pending_eof = True

    def _read(self, size: int) -> None:
        cb = self._resume_cb
        if cb is not None:
            cb()

    def _dump(self) -> None:
        """Node's ``_dump``: nobody will read the body; discard it so the socket flows."""
        if self._dumped:
            return
        self._dumped = True
        if not self._stream_ready:
            events = self._events
            if "end" not in events and "close" not in events and "readable" not in events:
                return  # nothing buffered, nobody to tell
        self.remove_all_listeners("data")
        self.resume()

    def _abort(self, err: BaseException | None) -> None:
        """The connection broke before the message was complete (the connection
        closes the socket itself, after any answer it still has to write)."""
        if self.complete and (not self._stream_ready or self.readable_ended):
            return
        sock, self.socket = self.socket, None
        try:
            self.destroy(err)
        finally:
            self.socket = sock

    def _destroy(self, err: BaseException | None, callback: Callable[..., Any]) -> None:
        if not self.complete or not self.readable_ended:
            if not self.aborted:
                self.aborted = True
                self.emit("aborted")
            if not self.complete:
                sock = self.socket
                if sock is not None and not sock.destroyed:
                    sock.destroy()
        # Node's onError: an error nobody listens for is not raised.
        callback(err if err is not None and self.listener_count("error") else None)

    # ------------------------------------------------------------------ head

    @property
    def headers(self) -> dict[str, Any]:
        """Lower-case names to values, duplicates combined by Node's rules."""
        h = self._headers
        if h is None:
            h = self._headers = headers_dict(self._head.raw if self._head else [])
        return h

    @headers.setter
    def headers(self, value: dict[str, Any]) -> None:
        self._headers = value

    @property
    def headers_distinct(self) -> dict[str, list[str]]:
        """Lower-case names to the list of every value received."""
        return headers_distinct(self._head.raw if self._head else [])

    @property
    def raw_headers(self) -> list[str]:
        """Names and values alternating, exactly as received."""
        return [b.decode("latin-1") for b in (self._head.raw if self._head else [])]

    @property
    def trailers(self) -> dict[str, Any]:
        """The trailer fields (after ``'end'``), combined like ``headers``."""
        return headers_dict(self._raw_trailers or [])

    @property
    def raw_trailers(self) -> list[str]:
        """Trailer names and values alternating, as received."""
        return [b.decode("latin-1") for b in (self._raw_trailers or [])]

    @property
    def http_version_major(self) -> int:
        """1 for HTTP/1.x."""
        return int(self.http_version.split(".")[0])

    @property
    def http_version_minor(self) -> int:
        """0 or 1."""
        return int(self.http_version.split(".")[1])

    @property
    def connection(self) -> Any:
        """Same as ``socket`` (Node's deprecated alias)."""
        return self.socket

    def set_timeout(self, timeout: float, callback: Callable[[], Any] | None = None) -> Any:
        """``socket.set_timeout``; ``callback`` listens for ``'timeout'`` on this message."""
        if callback is not None:
            self.on("timeout", callback)
        if self.socket is not None:
            self.socket.set_timeout(timeout)
        return self

    def __repr__(self) -> str:
        if self.status_code:
            return f"<nodish.http.IncomingMessage {self.status_code} {self.status_message}>"
        return f"<nodish.http.IncomingMessage {self.method} {self.url}>"
