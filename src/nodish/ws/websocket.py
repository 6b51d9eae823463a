"""``WebSocket``: one connection, client or server side, over a ``net.Socket``.

Theory of operation
-------------------
A WebSocket takes over a connected socket and the bytes already read after the HTTP
head (``ws``'s ``setSocket``): the socket's bytes go to the sans-I/O
:class:`~.receiver.Receiver` (straight from ``data_received`` on a plain
``net.Socket``, as http's parser takes them: into ``Receiver.feed`` itself while reading
flows; from ``'data'`` on a TLS socket), frames are written with ``socket.write``.
Bytes that arrive while reading is paused wait in a stash, in order, for ``resume()``.
The client's handshake is :mod:`.client`. The object is an EventEmitter with ``ws``'s
events (``'open'``, ``'message'(data, is_binary)``,
``'ping'``, ``'pong'``, ``'error'``, ``'close'(code, reason)``, ``'upgrade'``,
``'unexpected-response'``) and the browser's API on top (``onmessage`` & co.,
``ready_state``, ``buffered_amount``).

States (RFC 6455 4 and 7): CONNECTING → OPEN → CLOSING → CLOSED. Closing:

* we close: a close frame goes out, the state is CLOSING, a timer of
  ``close_timeout`` seconds starts; the peer's close frame ends the handshake.
* the peer closes: we echo its code (5.5.1) and stop parsing (1.4).
* once both frames crossed, the server ends the TCP connection first (7.1.1); the
  client waits for the server's FIN. The timer destroys the socket if the peer never
  finishes.
* the peer breaks the protocol: a close frame with the RFC's code (1002, 1007, 1008,
  1009) goes out, then FIN, and we keep reading (and discarding) until the peer's
  FIN, so the kernel never answers unread bytes with a reset and the peer reads our
  code. ``'error'`` is emitted when somebody listens (a bad peer is not a bug of
  this process), and ``'close'`` reports 1006: no close frame was received.

``'close'`` is emitted once, when the socket is gone, with the peer's code (1005 when
its frame had none, 1006 when there was no frame).

Sending and memory. ``send`` writes at once; ``buffered_amount`` is what the socket
has not handed to the kernel yet. On the server side, a send that leaves the buffer
over the socket's high-water mark stops reading from that peer until ``'drain'``: a
peer that does not read cannot make us read (and answer) more. A send made while
more than ``max_buffered_amount`` bytes piled up since the buffer last went over the
mark (the message that crossed it, however large, does not count: an echo of a legal
100 MiB message is not a slow peer) fails the connection with 1008, where ``ws``
would grow without bound; servers set it (16 MiB by default), clients do not unless
asked. ``await ws.send(x)`` waits for the buffer to fall under the mark.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from .. import runtime
from ..errors import ERR_INVALID_ARG_TYPE, NodeError
from ..events import EventEmitter
from ..http.outgoing import pause_socket, resume_socket
from ..net.socket import Socket as PlainSocket
from .deflate import DeflateOptions, PerMessageDeflate
from .frames import (
    BINARY_HEADS,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TEXT_HEADS,
    close_payload,
    encode_frame,
    is_valid_close_code,
)
from .receiver import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_PAYLOAD, Receiver

if TYPE_CHECKING:
    from .client import ClientHandshake

__all__ = [
    "CloseEvent",
    "ErrorEvent",
    "MessageEvent",
    "PreparedMessage",
    "WebSocket",
    "WebSocketError",
    "prepare",
]

log = logging.getLogger("nodish")

CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3
_STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
_H2 = struct.Struct("!BB").pack
DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024
_ITER_HIGH = 16  # queued messages before an async iterator pauses the socket


class WebSocketError(NodeError):
    """A WebSocket failure; ``code`` is ``ws``'s (``'WS_ERR_INVALID_UTF8'``...) and
    ``status_code`` the close code sent to the peer (or the HTTP status of a refusal)."""

    def __init__(self, message: str, code: str, status_code: int | None = None) -> None:
        super().__init__(message=message)
        self.code = code
        self.status_code = status_code


class _Event:
    """What the browser API's ``on*`` handlers receive."""

    __slots__ = ("target", "type")

    def __init__(self, type: str, target: WebSocket) -> None:
        self.type = type
        self.target = target


class MessageEvent(_Event):
    """``onmessage``'s argument: ``data`` is ``str`` (text) or ``bytes`` (binary)."""

    __slots__ = ("data",)

    def __init__(self, target: WebSocket, data: Any) -> None:
        super().__init__("message", target)
        self.data = data


class CloseEvent(_Event):
    """``onclose``'s argument: ``code``, ``reason``, ``was_clean``."""

    __slots__ = ("code", "reason", "was_clean")

    def __init__(self, target: WebSocket, code: int, reason: str) -> None:
        super().__init__("close", target)
        self.code = code
        self.reason = reason
        self.was_clean = code != 1006


class ErrorEvent(_Event):
    """``onerror``'s argument: ``error`` and its ``message``."""

    __slots__ = ("error", "message")

    def __init__(self, target: WebSocket, error: BaseException) -> None:
        super().__init__("error", target)
        self.error = error
        self.message = str(error)


def _wrap_event(ws: WebSocket, kind: str, fn: Callable[[Any], Any]) -> Callable[..., Any]:
    if kind == "message":

        def on_message(data: Any, is_binary: bool) -> Any:
            return fn(MessageEvent(ws, data))

        return on_message
    if kind == "close":

        def on_close(code: int, reason: str) -> Any:
            return fn(CloseEvent(ws, code, reason))

        return on_close
    if kind == "error":

        def on_error(err: BaseException) -> Any:
            return fn(ErrorEvent(ws, err))

        return on_error

    def on_open(*_: Any) -> Any:
        return fn(_Event(kind, ws))

    return on_open


class PreparedMessage:
    """A message framed once, for sending to many peers (see :func:`prepare`)."""

    __slots__ = ("frame", "is_binary", "payload")

    def __init__(self, payload: bytes, is_binary: bool) -> None:
        self.payload = payload
        self.is_binary = is_binary
        # a server's frames are not masked, so one frame serves every connection
        self.frame = b"".join(encode_frame(OP_BINARY if is_binary else OP_TEXT, payload))


def prepare(data: str | bytes | bytearray | memoryview) -> PreparedMessage:
    """Frame ``data`` once for ``ws.send(prepared)`` to many connections (a broadcast).

    A server sends the same bytes to every peer (uncompressed, which permessage-deflate
    allows); a client, whose frames must each have their own mask, frames it again.
    """
    if isinstance(data, str):
        return PreparedMessage(data.encode("utf-8"), False)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return PreparedMessage(bytes(data), True)
    raise ERR_INVALID_ARG_TYPE("data", "of type str or bytes-like", type(data).__name__)


class _Ready:
    """What ``send`` returns when there is room: awaiting it returns at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover


_READY = _Ready()


class _Failed:
    """What ``send`` returns when it could not send: awaiting it raises."""

    __slots__ = ("err",)

    def __init__(self, err: BaseException) -> None:
        self.err = err

    def __await__(self) -> Generator[Any, None, None]:
        raise self.err
        yield  # pragma: no cover


class _DrainWaiter:
    """What ``send`` returns over the mark: awaiting it waits for room (or the end)."""

    __slots__ = ("ws",)

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    def __await__(self) -> Generator[Any, None, None]:
        ws = self.ws
        if ws._ready_state >= CLOSING or ws.buffered_amount < ws._high_water_mark:
            return
        fut = ws._loop.create_future()
        ws._drain_waiters.append(fut)
        yield from fut


class WebSocket(EventEmitter):
    """A WebSocket connection: the browser's API with ``ws``'s events.

    Client: ``WebSocket(url, protocols)`` connects at once (``ws://`` or ``wss://``,
    also ``http://``/``https://``); ``ws = await WebSocket(url)`` waits for
    ``'open'`` and raises the failure. Server side, :class:`~.server.WebSocketServer`
    creates them.

    Args:
        url: ``ws://host:port/path``.
        protocols: a subprotocol or a list of them, offered in order.
        headers: extra request headers.
        origin: the ``Origin`` header.
        handshake_timeout: seconds before an unanswered handshake fails.
        per_message_deflate: offer permessage-deflate (True, False or a dict of
            :class:`~.deflate.DeflateOptions`); on by default, as in ``ws``.
        max_payload: the largest message accepted, in bytes (1009 beyond).
        max_fragments: the most frames in one message (1008 beyond).
        follow_redirects: follow 301/302/303/307/308 answers (up to ``max_redirects``).
        ca, reject_unauthorized, servername: TLS settings for ``wss://``.
        close_timeout: seconds to wait for the peer to finish the closing handshake.
        heartbeat: ping every this many seconds; a peer that has not answered the
            previous ping by the next one is terminated.
        max_buffered_amount: send-buffer bytes that may pile up while the peer is not
            reading (after the write that went over the mark) before a further send
            fails the connection with 1008 (None: no limit, the client's default; servers give
            their connections 16 MiB).
        auto_pong: answer pings with pongs (the RFC requires it; default True).
    """

    CONNECTING = CONNECTING
    OPEN = OPEN
    CLOSING = CLOSING
    CLOSED = CLOSED

    __slots__ = (
        "_auto_pong",
        "_awaiting_pong",
        "_binary_type",
        "_close_code",
        "_close_frame_received",
        "_close_frame_sent",
        "_close_reason",
        "_close_timeout",
        "_close_timer",
        "_deflate",
        "_drain_waiters",
        "_extensions",
        "_fast",
        "_handlers",
        "_handshake",
        "_heartbeat",
        "_heartbeat_timer",
        "_high_water_mark",
        "_is_server",
        "_iter_queue",
        "_loop",
        "_max_buffered",
        "_max_fragments",
        "_max_payload",
        "_over_base",
        "_protocol",
        "_read_throttled",
        "_ready_state",
        "_receiver",
        "_socket",
        "_stash",
        "_url",
        "_user_paused",
    )

    def __init__(
        self,
        url: str | None = None,
        protocols: str | list[str] | tuple[str, ...] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        origin: str | None = None,
        handshake_timeout: float | None = None,
        per_message_deflate: Any = True,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        follow_redirects: bool = False,
        max_redirects: int = 10,
        ca: Any = None,
        reject_unauthorized: bool = True,
        servername: str | None = None,
        close_timeout: float = 30.0,
        heartbeat: float | None = None,
        max_buffered_amount: int | None = None,
        auto_pong: bool = True,
    ) -> None:
        super().__init__()
        self._loop = runtime.get_loop()
        self._ready_state = CONNECTING
        self._socket: Any = None
        self._receiver: Receiver | None = None
        self._deflate: PerMessageDeflate | None = None
        self._protocol = ""
        self._extensions = ""
        self._url = url or ""
        self._binary_type = "nodebuffer"
        self._close_code = 1006
        self._close_reason = ""
        self._close_frame_sent = False
        self._close_frame_received = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._close_timeout = close_timeout
        self._heartbeat = heartbeat
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        self._awaiting_pong = False
        self._max_payload = max_payload
        self._max_fragments = max_fragments
        self._max_buffered = max_buffered_amount
        self._high_water_mark = 16384
        self._auto_pong = auto_pong
        self._is_server = url is None
        self._read_throttled = False
        self._over_base = -1
        self._user_paused = False
        self._stash: bytearray | None = None
        self._fast = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._handlers: dict[str, Any] | None = None
        self._iter_queue: Any = None
        self._handshake: ClientHandshake | None = None
        if url is not None:
            from .client import ClientHandshake

            if isinstance(protocols, str):
                protocols = [protocols]
            self._handshake = ClientHandshake(
                self,
                url,
                list(protocols or ()),
                headers=headers,
                origin=origin,
                timeout=handshake_timeout,
                deflate=DeflateOptions.from_option(per_message_deflate),
                follow_redirects=follow_redirects,
                max_redirects=max_redirects,
                tls={
                    "ca": ca,
                    "reject_unauthorized": reject_unauthorized,
                    "servername": servername,
                },
            )

    # ------------------------------------------------------------------ setup

    def _set_socket(
        self,
        sock: Any,
        deflate: PerMessageDeflate | None,
        protocol: str = "",
        extensions: str = "",
    ) -> None:
        """Take over ``sock`` (connected, the HTTP head already consumed)."""
        self._socket = sock
        self._deflate = deflate
        self._protocol = protocol
        self._extensions = extensions
        self._receiver = Receiver(
            client=not self._is_server,
            on_message=self._on_message,
            on_close=self._on_close_frame,
            on_fail=self._on_fail,
            on_ping=self._on_ping,
            on_pong=self._on_pong,
            max_payload=self._max_payload,
            max_fragments=self._max_fragments,
            deflate=deflate,
        )
        self._receiver.fragments = self._binary_type == "fragments"
        self._high_water_mark = getattr(sock, "writable_high_water_mark", 16384)
        try:
            sock.set_timeout(0)
            sock.set_no_delay(True)
        except Exception:  # pragma: no cover - a socket-like without these
            pass
        pending = sock.read() if getattr(sock, "readable_length", 0) else None
        if type(sock) is PlainSocket:
            # straight from data_received, as http's parser (no push, no 'data' event):
            # into the receiver itself once reading flows (see _read_on)
            sock._consumer = self._on_data
            self._fast = not sock._connecting
        else:
            sock.on("data", self._on_data)
        if pending:
            self._stash = bytearray(pending)  # read before we took over: first in line
        sock.on("end", self._on_end)
        sock.on("error", self._on_socket_error)
        sock.on("close", self._on_socket_close)
        sock.on("drain", self._on_drain)
        self._ready_state = OPEN
        if self._heartbeat:
            self._heartbeat_timer = self._loop.call_later(self._heartbeat, self._beat)

    def _start(self, head: bytes) -> None:
        """Deliver the bytes read with the HTTP head, then let the socket flow."""
        if head:
            stash = self._stash
            self._stash = bytearray(head) + stash if stash else bytearray(head)
        self._read_on()

    def _read_on(self) -> None:
        """Read again, unless paused by the user or by the send buffer; stash first."""
        if self._user_paused or self._read_throttled:
            return
        stash = self._stash
        if stash is not None:
            self._stash = None
            if self._receiver is not None:
                self._receiver.feed(stash)
            if self._user_paused or self._read_throttled:
                return  # a listener paused again
        sock = self._socket
        if sock is not None:
            if type(sock) is PlainSocket and self._receiver is not None and not sock._lost:
                sock._consumer = self._receiver.feed  # flowing: nothing to stash
            resume_socket(sock)

    def _pause_socket(self) -> None:
        """Stop reading; what the transport still hands over goes to the stash."""
        sock = self._socket
        if type(sock) is PlainSocket and sock._consumer is not None:
            sock._consumer = self._on_data
        pause_socket(sock)

    def _read_to_fin(self) -> None:
        """Closing: read (and drop) until the peer's FIN, so it never gets a reset."""
        self._user_paused = False
        self._read_throttled = False
        self._read_on()

    # ------------------------------------------------------------------ socket events

    def _on_data(self, data: bytes) -> None:
        if self._user_paused or self._read_throttled:
            # a chunk the transport read before pausing took effect: keep it in order
            stash = self._stash
            if stash is None:
                self._stash = bytearray(data)
            else:
                stash += data
            return
        receiver = self._receiver
        if receiver is not None:
            receiver.feed(data)

    def _on_end(self) -> None:
        # the peer sent FIN: nothing more will come (ws's socketOnEnd)
        if self._ready_state < CLOSING:
            self._ready_state = CLOSING
        if self._receiver is not None:
            self._receiver.done = True
        sock = self._socket
        if sock is not None and not sock.writable_ended:
            sock.end()

    def _on_socket_error(self, err: BaseException) -> None:
        if self._ready_state < CLOSING:
            self._ready_state = CLOSING
        sock = self._socket
        if sock is not None:
            sock.destroy()

    def _on_socket_close(self, *_: Any) -> None:
        self._ready_state = CLOSED
        self._clear_timers()
        self._wake_drain_waiters()
        sock = self._socket
        if sock is not None:
            consumer = getattr(sock, "_consumer", None)
            receiver = self._receiver
            if consumer is not None and (
                consumer == self._on_data or (receiver is not None and consumer == receiver.feed)
            ):
                sock._consumer = None
            else:
                sock.remove_listener("data", self._on_data)
        self._stash = None
        self.emit("close", self._close_code, self._close_reason)

    def _on_drain(self) -> None:
        self._over_base = -1
        if self._read_throttled:
            self._read_throttled = False
            self._read_on()
        self._wake_drain_waiters()

    def _wake_drain_waiters(self) -> None:
        waiters = self._drain_waiters
        if waiters:
            self._drain_waiters = []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _clear_timers(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            self._heartbeat_timer = None

    # ------------------------------------------------------------------ receiver events

    def _on_message(self, data: Any, is_binary: bool) -> None:
        if self._ready_state != OPEN and self._ready_state != CLOSING:
            return  # pragma: no cover
        if is_binary and self._binary_type == "fragments" and type(data) is not list:
            data = [data]  # a message of one frame
        listeners = self._events.get("message")
        if listeners is not None and len(listeners) == 1:
            listeners[0](data, is_binary)  # emit()'s path for one listener, inline
        else:
            self.emit("message", data, is_binary)

    def _on_ping(self, payload: bytes) -> None:
        if self._auto_pong and self._ready_state == OPEN:
            self._send_frame(OP_PONG, payload)
        self.emit("ping", payload)

    def _on_pong(self, payload: bytes) -> None:
        self._awaiting_pong = False
        self.emit("pong", payload)

    def _on_close_frame(self, code: int, reason: str) -> None:
        self._close_frame_received = True
        self._close_code = code
        self._close_reason = reason
        if self._ready_state == OPEN:
            self._ready_state = CLOSING
            # 5.5.1: answer with the code received (nothing when there was none)
            self._send_close(None if code == 1005 else code, reason.encode())
        self._both_closed()
        self._read_to_fin()

    def _both_closed(self) -> None:
        sock = self._socket
        if sock is None:
            return
        if self._is_server and not sock.writable_ended:
            sock.end()  # 7.1.1: the server closes the TCP connection first
        self._arm_close_timer()

    def _on_fail(self, status: int, message: str, code: str) -> None:
        err = WebSocketError(message, code, status)
        sock = self._socket
        if self._ready_state == OPEN:
            self._ready_state = CLOSING
            self._send_close(status, b"")
        if sock is not None and not sock.writable_ended:
            sock.end()
        self._read_to_fin()
        self._arm_close_timer()
        if self.listener_count("error"):
            self.emit("error", err)
        else:
            log.debug("websocket closed with %d: %s", status, message)

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self._ready_state != CLOSED:
            self._close_timer = self._loop.call_later(self._close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if self._socket is not None:
            self._socket.destroy()

    def _beat(self) -> None:
        self._heartbeat_timer = None
        if self._ready_state != OPEN:
            return
        if self._awaiting_pong:
            self.terminate()
            return
        self._awaiting_pong = True
        self._send_frame(OP_PING, b"")
        assert self._heartbeat is not None
        self._heartbeat_timer = self._loop.call_later(self._heartbeat, self._beat)

    # ------------------------------------------------------------------ sending

    def _send_frame(
        self, opcode: int, payload: bytes | bytearray | memoryview, compress: bool = False
    ) -> bool:
        rsv1 = False
        deflate = self._deflate
        if compress and deflate is not None and len(payload) >= deflate.threshold:
            payload = deflate.compress(payload)
            rsv1 = True
        sock = self._socket
        if not rsv1 and self._is_server and len(payload) < 126:
            # the common small frame, unmasked: one header byte pair, one write
            return self._write(_H2(0x80 | opcode, len(payload)) + payload)
        bufs = encode_frame(opcode, payload, rsv1=rsv1, mask=not self._is_server)
        if len(bufs) == 1:
            return self._write(bufs[0])  # type: ignore[arg-type]
        sock.write(bufs[0])
        return self._written(sock.write(bufs[1]))

    def _write(self, data: bytes) -> bool:
        """Write ``data``; True while the socket is under its mark.

        On a plain net.Socket with nothing queued and a transport under its mark, the
        bytes go straight into the transport (as http's last write does): what
        ``socket.write`` would do in the end, without the Writable's bookkeeping. When
        that write takes the transport over its mark, an empty ``socket.write`` arms
        the ``'drain'`` that backpressure waits for.
        """
        sock = self._socket
        if (
            self._fast
            and not sock._write_paused
            and not sock._w_length
            and not sock._w_ending
            and not sock._w_corked
            and not sock._lost
        ):
            t = sock._transport
            if t is not None:
                t.write(data)
                sock._bytes_written += len(data)
                if not sock._write_paused:
                    return True
                return self._written(sock.write(b""))
        return self._written(sock.write(data))

    def _written(self, ok: bool) -> bool:
        """After a write: past the mark, note where the pile-up starts (and throttle)."""
        if not ok:
            sock = self._socket
            if self._over_base < 0:
                self._over_base = sock.writable_length
            if self._is_server and not self._read_throttled:
                # the peer is not reading what we send: stop reading what it sends
                self._read_throttled = True
                self._pause_socket()
        return ok

    def _send_close(self, code: int | None, reason: bytes) -> None:
        self._close_frame_sent = True
        self._send_frame(OP_CLOSE, close_payload(code, reason))

    def _not_open(self, action: str) -> WebSocketError:
        state = self._ready_state
        return WebSocketError(
            f"WebSocket is not open: readyState {state} ({_STATE_NAMES[state]})",
            "WS_ERR_NOT_OPEN",
        )

    def send(
        self,
        data: str | bytes | bytearray | memoryview | PreparedMessage,
        callback: Callable[..., Any] | None = None,
        *,
        binary: bool | None = None,
        compress: bool = True,
    ) -> Any:
        """Send a message: ``str`` as text, bytes-like as binary (or as ``binary`` says),
        or a :class:`PreparedMessage` (framed once for many connections).

        Returns an awaitable: ``await ws.send(x)`` waits until the send buffer is under
        the high-water mark, and raises if the message could not be sent.
        ``callback(err)`` is called once the frame is written (``err`` None) or not.

        Raises:
            WebSocketError: (``WS_ERR_NOT_OPEN``) while CONNECTING, as the browser.
            ERR_INVALID_ARG_TYPE: ``data`` is neither ``str`` nor bytes-like.
        """
        if isinstance(data, str):
            payload: Any = data.encode("utf-8")
            is_binary = False if binary is None else binary
        elif isinstance(data, (bytes, bytearray, memoryview)):
            payload = data
            is_binary = True if binary is None else binary
        elif type(data) is PreparedMessage:
            payload = data
            is_binary = data.is_binary
        else:
            raise ERR_INVALID_ARG_TYPE("data", "of type str or bytes-like", type(data).__name__)
        if callback is not None and not callable(callback):
            raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)
        state = self._ready_state
        if state != OPEN:
            err = self._not_open("send")
            if state == CONNECTING:
                raise err
            if callback is not None:
                self._loop.call_soon(callback, err)
            return _Failed(err)
        sock = self._socket
        limit = self._max_buffered
        if (
            self._over_base >= 0
            and limit is not None
            and sock.writable_length - self._over_base > limit
        ):
            self._fail_send_buffer()
            err = self._not_open("send")
            if callback is not None:
                self._loop.call_soon(callback, err)
            return _Failed(err)
        if type(payload) is PreparedMessage:
            if self._is_server:
                ok = self._write(payload.frame)
            else:
                ok = self._send_frame(OP_BINARY if is_binary else OP_TEXT, payload.payload)
        else:
            n = len(payload)
            deflate = self._deflate
            if n < 126 and self._is_server and (deflate is None or n < deflate.threshold):
                # a small frame from a server, as _send_frame builds it: one write
                ok = self._write((BINARY_HEADS if is_binary else TEXT_HEADS)[n] + payload)
            else:
                ok = self._send_frame(OP_BINARY if is_binary else OP_TEXT, payload, compress)
        if callback is not None:
            sock.write(b"", callback=callback)
        if ok:
            return _READY
        return _DrainWaiter(self)

    def _fail_send_buffer(self) -> None:
        """The peer let more than ``max_buffered_amount`` bytes pile up: 1008."""
        if self._receiver is not None:
            self._receiver.done = True  # failed: nothing more is read, as for a bad frame
        self._on_fail(
            1008,
            f"Over {self._max_buffered} bytes piled up in the send buffer: the peer is not reading",
            "WS_ERR_SEND_BUFFER_FULL",
        )

    def ping(self, data: bytes | str = b"", callback: Callable[..., Any] | None = None) -> None:
        """Send a ping (at most 125 bytes)."""
        self._control(OP_PING, data, callback)

    def pong(self, data: bytes | str = b"", callback: Callable[..., Any] | None = None) -> None:
        """Send an unsolicited pong (at most 125 bytes)."""
        self._control(OP_PONG, data, callback)

    def _control(self, op: int, data: bytes | str, callback: Callable[..., Any] | None) -> None:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if len(payload) > 125:
            raise WebSocketError(
                "The data size must not be greater than 125 bytes", "ERR_OUT_OF_RANGE"
            )
        if self._ready_state == CONNECTING:
            raise self._not_open("ping")
        if self._ready_state != OPEN:
            if callback is not None:
                self._loop.call_soon(callback, self._not_open("ping"))
            return
        self._send_frame(op, payload)
        if callback is not None:
            self._socket.write(b"", callback=callback)

    def close(self, code: int | None = None, reason: str | bytes = "") -> None:
        """Start the closing handshake (RFC 6455 7.1.2) with ``code`` and ``reason``.

        Raises:
            WebSocketError: an invalid close code, or a reason over 123 bytes.
        """
        if code is not None and (not isinstance(code, int) or not is_valid_close_code(code)):
            raise WebSocketError(
                "First argument must be a valid error code number", "WS_ERR_INVALID_CLOSE_CODE"
            )
        raw = reason.encode("utf-8") if isinstance(reason, str) else bytes(reason)
        if len(raw) > 123:
            raise WebSocketError(
                "The message must not be greater than 123 bytes", "ERR_OUT_OF_RANGE"
            )
        if raw and code is None:
            code = 1000
        state = self._ready_state
        if state == CLOSED:
            return
        if state == CONNECTING:
            hs = self._handshake
            if hs is not None:
                hs.abort("WebSocket was closed before the connection was established")
            return
        if self._close_frame_sent:
            if self._close_frame_received and self._socket is not None and self._is_server:
                self._socket.end()
            return
        if state == CLOSING:
            # failing (an 'error' listener closing it, as Node's ws: nothing more to do)
            return
        self._ready_state = CLOSING
        self._send_close(code, raw)
        if self._close_frame_received:
            self._both_closed()
        else:
            self._arm_close_timer()

    def terminate(self) -> None:
        """Destroy the connection at once (no closing handshake)."""
        state = self._ready_state
        if state == CLOSED:
            return
        if state == CONNECTING:
            hs = self._handshake
            if hs is not None:
                hs.abort("WebSocket was closed before the connection was established")
            return
        self._ready_state = CLOSING
        if self._socket is not None:
            self._socket.destroy()

    def pause(self) -> None:
        """Stop reading from the peer (``ws``'s ``pause``)."""
        if self._ready_state == CONNECTING or self._ready_state == CLOSED:
            return
        self._user_paused = True
        self._pause_socket()

    def resume(self) -> None:
        """Read from the peer again."""
        if self._ready_state == CONNECTING or self._ready_state == CLOSED:
            return
        self._user_paused = False
        self._read_on()

    # ------------------------------------------------------------------ properties

    @property
    def ready_state(self) -> int:
        """0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED."""
        return self._ready_state

    @property
    def is_paused(self) -> bool:
        """Whether reading is paused by :meth:`pause`."""
        return self._user_paused

    @property
    def buffered_amount(self) -> int:
        """Bytes sent but not yet handed to the kernel."""
        sock = self._socket
        if sock is None:
            return 0
        n: int = sock.writable_length
        return n

    @property
    def protocol(self) -> str:
        """The subprotocol the server chose ('' if none)."""
        return self._protocol

    @property
    def extensions(self) -> str:
        """The negotiated extensions, as in the ``Sec-WebSocket-Extensions`` header."""
        return self._extensions

    @property
    def url(self) -> str:
        """The URL a client connected to ('' on the server side)."""
        return self._url

    @property
    def binary_type(self) -> str:
        """``'nodebuffer'``, ``'arraybuffer'`` (``bytes``) or ``'fragments'`` (a list per frame)."""
        return self._binary_type

    @binary_type.setter
    def binary_type(self, value: str) -> None:
        if value not in ("nodebuffer", "arraybuffer", "fragments"):
            return  # the browser ignores unknown values
        self._binary_type = value
        if self._receiver is not None:
            self._receiver.fragments = value == "fragments"

    # ------------------------------------------------------------------ browser API

    def _get_handler(self, kind: str) -> Any:
        h = self._handlers
        if h is None or kind not in h:
            return None
        return h[kind][0]

    def _set_handler(self, kind: str, fn: Any) -> None:
        h = self._handlers
        if h is None:
            h = self._handlers = {}
        old = h.pop(kind, None)
        if old is not None:
            self.remove_listener(kind, old[1])
        if callable(fn):
            wrapper = _wrap_event(self, kind, fn)
            h[kind] = (fn, wrapper)
            self.on(kind, wrapper)

    onopen = property(
        lambda self: self._get_handler("open"), lambda self, fn: self._set_handler("open", fn)
    )
    onmessage = property(
        lambda self: self._get_handler("message"),
        lambda self, fn: self._set_handler("message", fn),
    )
    onclose = property(
        lambda self: self._get_handler("close"), lambda self, fn: self._set_handler("close", fn)
    )
    onerror = property(
        lambda self: self._get_handler("error"), lambda self, fn: self._set_handler("error", fn)
    )

    def add_event_listener(
        self, type: str, listener: Callable[[Any], Any], *, once: bool = False
    ) -> None:
        """The browser's ``addEventListener``: ``listener`` gets an event object."""
        wrapper = _wrap_event(self, type, listener)
        wrapper.listener = listener  # type: ignore[attr-defined]
        if once:
            self.once(type, wrapper)
        else:
            self.on(type, wrapper)

    def remove_event_listener(self, type: str, listener: Callable[[Any], Any]) -> None:
        """The browser's ``removeEventListener``."""
        for fn in self.raw_listeners(type):
            inner = getattr(fn, "listener", None)
            if inner is listener or getattr(inner, "listener", None) is listener:
                self.remove_listener(type, fn)
                return

    # ------------------------------------------------------------------ awaiting

    def __await__(self) -> Generator[Any, None, WebSocket]:
        """``ws = await WebSocket(url)``: wait for ``'open'``; raise the failure."""
        if self._ready_state != CONNECTING:
            if self._ready_state == OPEN:
                return self
            raise self._not_open("await")
        fut: asyncio.Future[None] = self._loop.create_future()

        def on_open() -> None:
            if not fut.done():
                fut.set_result(None)

        def on_error(err: BaseException) -> None:
            if not fut.done():
                fut.set_exception(err)

        def on_close(code: int, reason: str) -> None:
            if not fut.done():
                fut.set_exception(
                    WebSocketError(f"WebSocket closed with {code}", "WS_ERR_CLOSED", code)
                )

        self.once("open", on_open)
        self.once("error", on_error)
        self.once("close", on_close)
        try:
            yield from fut
        finally:
            self.remove_listener("open", on_open)
            self.remove_listener("error", on_error)
            self.remove_listener("close", on_close)
        return self

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for message in ws``: each message's data until the connection closes."""
        return _MessageIterator(self)

    def __repr__(self) -> str:
        return f"<WebSocket {_STATE_NAMES[self._ready_state]} {self._url or 'server-side'}>"


class _MessageIterator:
    """Messages as an async iterator; pauses the socket when the consumer falls behind."""

    __slots__ = ("closed", "queue", "waiter", "ws")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.queue: collections.deque[Any] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = ws.ready_state == CLOSED
        ws.on("message", self._on_message)
        ws.on("close", self._on_close)

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _on_message(self, data: Any, is_binary: bool) -> None:
        self.queue.append(data)
        if len(self.queue) >= _ITER_HIGH and not self.ws.is_paused:
            self.ws.pause()
        self._wake()

    def _on_close(self, *_: Any) -> None:
        self.closed = True
        self.ws.remove_listener("message", self._on_message)
        self.ws.remove_listener("close", self._on_close)
        self._wake()

    def __aiter__(self) -> _MessageIterator:
        return self

    async def __anext__(self) -> Any:
        while not self.queue:
            if self.closed:
                raise StopAsyncIteration
            self.waiter = self.ws._loop.create_future()
            await self.waiter
            self.waiter = None
        data = self.queue.popleft()
        if len(self.queue) < _ITER_HIGH // 4 and self.ws.is_paused:
            self.ws.resume()
        return data
