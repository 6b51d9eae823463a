"""Engine.IO server transports: HTTP long-polling and WebSocket.

Theory of operation
-------------------
A transport turns its wire into Engine.IO packets (``'packet'`` events) and packets
into its wire (``send(packets)``), and says when it can take more (``writable``,
``'ready'``, ``'drain'``). It knows nothing of sessions or heartbeats.

Long-polling: the client holds one GET open at a time and the server answers it with
every packet queued (a payload); the client sends with POST, one payload per request,
answered ``ok``. A second GET while one waits, or a second POST while one is read, is
an error that ends the session (Node's ``'overlap from client'``). A POST body is
decoded as it arrives and refused with 413 as soon as it passes
``max_http_buffer_size``; a body that does not decode is refused with 400 (Engine.IO's
``{"code":3,"message":"Bad request"}``); either way the session closes and the server
goes on. Bytes that are not Engine.IO, on either transport, close the session with
Node's reason ``'parse error'``.

WebSocket: one packet per message, binary messages raw. The socket is the ``ws``
module's WebSocket; a message over ``max_http_buffer_size`` closes it with 1009. A
text MESSAGE (``"4..."``, nearly every message) goes straight to the session's
``on_text`` without a packet object, and while nobody else listens to the WebSocket's
messages nor to the session's data, from the WebSocket's receiver to the session's
Socket.IO client in one step; frames out are built here and written to the socket
directly (see :meth:`WebSocketTransport.send_frames`).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import timers
from ..events import EventEmitter
from ..ws.frames import OP_BINARY, OP_TEXT, TEXT_HEADS, encode_frame
from ..ws.websocket import OPEN
from . import engine_parser as eio
from .engine_client import ws_message

if TYPE_CHECKING:
    from .engine import EngineServer

__all__ = ["Polling", "Transport", "WebSocketTransport", "error_body"]

BAD_REQUEST = 3
# the 'error' a transport emits for bytes that are not Engine.IO: the session closes
# with Node's reason 'parse error' (engine.io's onPacket for an "error" packet)
PARSE_ERROR = "parse error"
_DIGITS = "0123456789"
# bytes queued to one WebSocket client beyond which it is dropped as not reading
MAX_BUFFERED = 64 << 20
# frames of one turn held for one write; more are written at once (one write per 256
# frames costs nothing next to building them)
_PENDING_MAX = 256
_H4 = struct.Struct("!BBH").pack


def text_frame(payload: bytes) -> bytes:
    """A whole, unmasked text frame (RFC 6455 5.2) for ``payload``."""
    n = len(payload)
    if n < 126:
        return TEXT_HEADS[n] + payload
    if n < 65536:
        return _H4(0x81, 126, n) + payload
    return b"".join(encode_frame(OP_TEXT, payload))


def error_body(code: int, message: str) -> bytes:
    return f'{{"code":{code},"message":"{message}"}}'.encode()


class Transport(EventEmitter):
    """What a session needs of a transport."""

    name = ""
    batches = False
    direct = False  # has send_one(type, data), used when nothing is queued before it
    # the session's handler for MESSAGE text (``"4..."`` without its type), which a
    # transport may call instead of emitting a ``'packet'``: the common packet's path
    on_text: Callable[[str], Any] | None = None
    # the session bound to this transport (set with on_text), for a transport whose
    # fast path hands a message to the session's sole 'data' listener itself
    session: Any = None

    def __init__(self, server: EngineServer) -> None:
        super().__init__()
        self.server = server
        self.sid = ""
        self.writable = False
        self.discarded = False
        self.closed = False

    def send(self, packets: list[eio.Packet]) -> None:
        raise NotImplementedError

    def send_one(self, type_: int, data: str | bytes | None) -> None:
        """One packet, when the transport is ``direct``."""
        raise NotImplementedError

    def discard(self) -> None:
        """The session moved to another transport: stop answering on this one."""
        self.discarded = True

    def close(self, callback: Callable[[], Any] | None = None, force: bool = False) -> None:
        """Close; polling waits for the next poll to say so unless ``force``."""
        raise NotImplementedError

    def _packets(self, packets: list[eio.Packet]) -> None:
        for packet in packets:
            if self.closed:
                return
            self.emit("packet", packet)


class Polling(Transport):
    """HTTP long-polling: GET waits for packets, POST brings them."""

    name = "polling"
    batches = True

    def __init__(self, server: EngineServer) -> None:
        super().__init__(server)
        self._req: Any = None
        self._res: Any = None
        self._data_req: Any = None
        self._should_close: Callable[[], Any] | None = None
        self._close_timer: timers.Timeout | None = None

    def on_request(self, req: Any, res: Any) -> None:
        if req.method == "GET":
            self._on_poll(req, res)
        elif req.method == "POST":
            self._on_data_request(req, res)
        else:
            self.server.respond(req, res, 500, b"")

    def _on_poll(self, req: Any, res: Any) -> None:
        if self._req is not None:
            self.server.respond(req, res, 400, b"")
            self._error("overlap from client")
            return
        self._req, self._res = req, res

        def on_close(*_: Any) -> None:
            if self._res is res:
                self._req = self._res = None
                self.writable = False
                self._error("poll connection closed prematurely")

        res.on("close", on_close)
        self.writable = True
        self.emit("ready")
        if self.writable and self._should_close is not None:
            self.send([eio.Packet(eio.NOOP)])

    def _on_data_request(self, req: Any, res: Any) -> None:
        server = self.server
        if self._data_req is not None:
            server.respond(req, res, 400, b"")
            self._error("data request overlap from client")
            return
        if req.headers.get("content-type") == "application/octet-stream":
            server.respond(req, res, 400, b"")
            self._error("invalid content")
            return
        self._data_req = req
        decoder = eio.PayloadDecoder(server.max_http_buffer_size)
        packets: list[eio.Packet] = []
        failed = False

        def fail(status: int, body: bytes, why: str, description: Any = None) -> None:
            nonlocal failed
            failed = True
            cleanup()
            server.respond(req, res, status, body, {"Connection": "close"})
            self._error(why, description)

        def on_data(chunk: bytes) -> None:
            if failed:
                return
            try:
                packets.extend(decoder.feed(chunk))
            except eio.EngineParseError as exc:
                if decoder.size > server.max_http_buffer_size:
                    fail(413, b"", "payload too large")
                else:
                    fail(400, error_body(BAD_REQUEST, "Bad request"), PARSE_ERROR, exc)

        def on_end() -> None:
            if failed:
                return
            try:
                packets.extend(decoder.end())
            except eio.EngineParseError as exc:
                fail(400, error_body(BAD_REQUEST, "Bad request"), PARSE_ERROR, exc)
                return
            cleanup()
            server.respond(req, res, 200, b"ok", {"Content-Type": "text/html"})
            self._packets(packets)

        def on_close(*_: Any) -> None:
            if not failed and self._data_req is req:
                cleanup()
                self._error("data request connection closed prematurely")

        def cleanup() -> None:
            req.remove_listener("data", on_data)
            req.remove_listener("end", on_end)
            req.remove_listener("close", on_close)
            if self._data_req is req:
                self._data_req = None

        req.on("data", on_data)
        req.on("end", on_end)
        req.on("close", on_close)

    def _packets(self, packets: list[eio.Packet]) -> None:
        for packet in packets:
            if self.closed:
                return
            if packet.type == eio.CLOSE:
                self._on_close()
                return
            self.emit("packet", packet)

    def send(self, packets: list[eio.Packet]) -> None:
        self.writable = False
        if self._should_close is not None:
            packets = [*packets, eio.Packet(eio.CLOSE)]
            should_close, self._should_close = self._should_close, None
        else:
            should_close = None
        req, res = self._req, self._res
        self._req = self._res = None
        if res is not None:
            self.server.respond(
                req,
                res,
                200,
                eio.encode_payload(packets).encode(),
                {"Content-Type": "text/plain; charset=UTF-8"},
            )
        if should_close is not None:
            should_close()
        else:
            self.emit("drain")

    def close(self, callback: Callable[[], Any] | None = None, force: bool = False) -> None:
        if self.closed:
            if callback is not None:
                callback()
            return
        # a POST being read is still answered "ok" when its body ends (its packets are
        # dropped): destroying a finished request would leave its response hanging

        def on_close() -> None:
            if self._close_timer is not None:
                self._close_timer.close()
                self._close_timer = None
            if callback is not None:
                callback()
            self._on_close()

        if self.writable:
            self.send([eio.Packet(eio.CLOSE)])
            on_close()
        elif force or self.discarded or self.server.closing:
            on_close()
        else:
            self._should_close = on_close
            self._close_timer = timers.set_timeout(on_close, self.server.close_timeout)
            self._close_timer.unref()

    def _error(self, message: str, description: Any = None) -> None:
        if not self.closed:
            self.emit("error", message, description)

    def _on_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.writable = False
        self._should_close = None
        if self._close_timer is not None:
            self._close_timer.close()
            self._close_timer = None
        if self._res is not None:
            # release a waiting poll so that the client sees the end at once
            req, res = self._req, self._res
            self._req = self._res = None
            self.server.respond(req, res, 200, b"1", {"Content-Type": "text/plain; charset=UTF-8"})
        self.emit("close")


class WebSocketTransport(Transport):
    """One Engine.IO packet per WebSocket message."""

    name = "websocket"
    direct = True

    def __init__(self, server: EngineServer, ws: Any) -> None:
        super().__init__(server)
        self.ws = ws
        self.writable = True
        self._pending: list[bytes] | None = None
        self._full = False
        ws.on("message", self._on_message)
        ws.on("close", self._on_ws_close)
        ws.on("error", self._on_ws_error)
        # While the WebSocket's 'message' listeners are ours alone (the very tuple
        # made when ours was added: the emitter replaces it on any change), its
        # receiver hands each message to _on_frame, one step instead of three.
        self._only = ws._events.get("message")
        receiver = ws._receiver
        only = self._only
        if (
            receiver is not None
            and only is not None
            and len(only) == 1
            and receiver.on_message == ws._on_message
        ):
            receiver.on_message = self._on_frame

    def _on_frame(self, data: Any, is_binary: bool) -> None:
        # the receiver's on_message: a text MESSAGE for an open session whose sole
        # 'data' listener is its Socket.IO client goes there at once (the path of
        # nearly every message); anything else as the WebSocket delivers it
        if type(data) is str and data[:1] == "4":
            ws = self.ws
            session = self.session
            if (
                ws._events.get("message") is self._only
                and session is not None
                and session.ready_state == "open"
            ):
                listeners = session._events.get("data")
                if listeners is not None and len(listeners) == 1:
                    listeners[0](data[1:])
                    return
        self.ws._on_message(data, is_binary)

    def _on_message(self, data: Any, is_binary: bool = False) -> None:
        if not is_binary and type(data) is str and data[:1] == "4":
            on_text = self.on_text
            if on_text is not None:
                on_text(data[1:])
                return
        try:
            packet = eio.decode_packet(ws_message(data, is_binary))
        except (UnicodeDecodeError, eio.EngineParseError) as exc:
            self.emit("error", PARSE_ERROR, exc)
            self.close()
            return
        if packet.type == eio.CLOSE:
            self.close()
            return
        self.emit("packet", packet)

    def _on_ws_error(self, err: Any) -> None:
        if not self.closed:
            self.emit("error", "websocket error", err)

    def _on_ws_close(self, *_: Any) -> None:
        if self.closed:
            return
        self.closed = True
        self.writable = False
        self.emit("close")

    # Frames are built here (server frames are unmasked, and the server never
    # compresses) and written straight to the socket: the first write of a turn of the
    # loop at once (an ack waits for no one), what follows in the same turn joined into
    # one write at its end, or every 256 frames in a longer burst (so that the client
    # reads while the server still emits): a burst of emits costs a few writes per
    # client, and a broadcast builds its frames once for everyone. One callback per turn
    # ends the turn for every transport of the server that wrote in it.
    def send(self, packets: list[eio.Packet]) -> None:
        frames = []
        for packet in packets:
            data = packet.data
            if isinstance(data, (bytes, bytearray, memoryview)):
                frames.append(b"".join(encode_frame(OP_BINARY, bytes(data))))
            else:
                text = eio.encode_packet(packet, True)
                assert isinstance(text, str)
                frames.append(text_frame(text.encode("utf-8")))
        self.send_frames(frames)

    def send_one(self, type_: int, data: str | bytes | None) -> None:
        if isinstance(data, str):
            payload = (_DIGITS[type_] + data).encode("utf-8")
            n = len(payload)
            frame = TEXT_HEADS[n] + payload if n < 126 else text_frame(payload)
        elif data is None:
            frame = text_frame(_DIGITS[type_].encode())
        else:
            frame = b"".join(encode_frame(OP_BINARY, bytes(data)))
        pending = self._pending
        if pending is None:
            # _turn_begins, inline: the path of every ack
            self._pending = []
            written = self.server._ws_written
            if not written:
                asyncio.get_running_loop().call_soon(self.server._ws_turn_ends)
            written.append(self)
            self._write(frame)
        else:
            pending.append(frame)
            if len(pending) >= _PENDING_MAX:
                self._write_pending(pending)

    def send_frames(self, frames: list[bytes]) -> None:
        pending = self._pending
        if pending is None:
            self._turn_begins()
            self._write(frames[0] if len(frames) == 1 else b"".join(frames))
        else:
            pending.extend(frames)
            if len(pending) >= _PENDING_MAX:
                self._write_pending(pending)

    def _write_pending(self, pending: list[bytes]) -> None:
        # a long burst in one turn goes out as it grows, so that the client reads it
        # while the server still emits (the rest, at the turn's end)
        data = b"".join(pending)
        pending.clear()
        self._write(data)

    def _turn_begins(self) -> None:
        self._pending = []
        written = self.server._ws_written
        if not written:
            asyncio.get_running_loop().call_soon(self.server._ws_turn_ends)
        written.append(self)

    def _turn_ends(self) -> None:
        pending, self._pending = self._pending, None
        if pending:
            self._write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _write(self, data: bytes) -> None:
        ws = self.ws
        sock = ws._socket
        if ws._ready_state != OPEN or sock is None or sock._destroyed:
            return
        if self._full and ws.buffered_amount > MAX_BUFFERED:
            # a client that does not read: ws's rule for a send buffer that piles up
            ws.terminate()
            return
        # the WebSocket's own write of a whole frame: straight into the transport when
        # nothing is queued, with ws's backpressure (a peer that does not read is not
        # read either); over the high-water mark, the size is checked before the next
        self._full = not ws._write(data)

    def close(self, callback: Callable[[], Any] | None = None, force: bool = False) -> None:
        if not self.closed:
            if self._pending:
                self._turn_ends()  # what was sent before the close goes first
            self.ws.close()
        if callback is not None:
            callback()
