"""The receiving half of a WebSocket connection: bytes in, messages and verdicts out.

Theory of operation
-------------------
Sans-I/O (no asyncio, no sockets). :meth:`Receiver.feed` takes whatever bytes arrived
and calls, in wire order, ``on_message(data, is_binary)`` (``str`` for text, ``bytes``
for binary), ``on_ping(payload)``, ``on_pong(payload)``, then at most one of
``on_close(code, reason)`` (the peer's close frame) or ``on_fail(close_code, message,
error_code)`` (a protocol violation: the caller sends a close frame with
``close_code`` and drops the connection). After either, the receiver is ``done`` and
ignores further bytes (RFC 6455 1.4: data after a close frame is discarded).

Every check is made as early as the bytes allow, so a violation is reported before
its payload is buffered: opcode, mask bit and RSV bits on the first header byte pair,
control-frame rules and ``max_payload`` (counted over the fragments of a message, 1009)
as soon as the length is known. A frame is only read once it is complete; everything
valid before a violation is delivered first.

Text is validated as UTF-8 by the codec in C: a one-frame message with
``bytes.decode``, a fragmented one with an incremental decoder fed frame by frame, so an
invalid sequence fails at the fragment that proves it (8.1) and never after buffering
the rest. Compressed messages are inflated fragment by fragment under the remaining
``max_payload`` (see :mod:`.deflate`).

A server reads most messages as exactly one whole, small, masked frame per chunk: that
chunk takes a short path (one comparison for mask bit and length, the unmasking inline)
with the same checks and results as the general loop, which takes everything else.

Where a rule could go either way the RFC decides, and where ``ws`` and ``websockets``
differ we note it: a close frame in the middle of a fragmented message is a legal
control frame (5.4) and closes normally (``websockets`` fails it with 1002); an
invalid close reason is 1007 even when the code is invalid too (as ``websockets``;
``ws`` says 1002).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from .deflate import PayloadTooBigError, PerMessageDeflate
from .frames import apply_mask, is_valid_close_code

__all__ = ["DEFAULT_MAX_FRAGMENTS", "DEFAULT_MAX_PAYLOAD", "Receiver"]

DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024  # ws's maxPayload default
# A 4 MiB message in 64-byte fragments (65,536 frames) passes: memory is bounded by
# max_payload; this cap only bounds the work spent on frames carrying nothing.
DEFAULT_MAX_FRAGMENTS = 131072

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class Receiver:
    """Parses frames and assembles messages for one side of a connection.

    Args:
        client: True on the client side (server frames are never masked), False on
            the server side (client frames must be masked, 5.1).
        max_payload: the largest message in bytes, after inflating (1009 beyond).
        max_fragments: the most frames in one message (1008 beyond).
        deflate: the negotiated permessage-deflate codec, or None.
    """

    __slots__ = (
        "_buf",
        "_decoder",
        "_deflate",
        "_frag_compressed",
        "_frag_count",
        "_frag_inflated",
        "_frag_op",
        "_frag_parts",
        "_frag_size",
        "_mask_bit",
        "_max_fragments",
        "_max_payload",
        "_need",
        "done",
        "fragments",
        "on_close",
        "on_fail",
        "on_message",
        "on_ping",
        "on_pong",
    )

    def __init__(
        self,
        *,
        client: bool,
        on_message: Callable[[Any, bool], Any],
        on_close: Callable[[int, str], Any],
        on_fail: Callable[[int, str, str], Any],
        on_ping: Callable[[bytes], Any],
        on_pong: Callable[[bytes], Any],
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._mask_bit = 0 if client else 0x80
        self._max_payload = max_payload
        self._max_fragments = max_fragments
        self._deflate = deflate
        self._buf: bytearray | None = None
        self._need = 0
        self._frag_op = 0
        self._frag_compressed = False
        self._frag_count = 0
        self._frag_size = 0
        self._frag_inflated = 0
        self._frag_parts: list[Any] | None = None
        self._decoder: Any = None
        self.done = False
        # binary messages as the list of their frames' payloads (ws's 'fragments')
        self.fragments = False
        self.on_message = on_message
        self.on_close = on_close
        self.on_fail = on_fail
        self.on_ping = on_ping
        self.on_pong = on_pong

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Take the bytes that arrived; calls the handlers for what they complete."""
        if self.done:
            return
        buf = self._buf
        if buf is None and self._mask_bit and not self._frag_op and type(data) is bytes:
            # The common chunk on a server: exactly one whole, small, masked, final text
            # or binary frame, no RSV bits (so no extension). Same checks as below, in one
            # comparison: the second byte is the mask bit plus the length the chunk
            # holds. Unmasked as two integers, as apply_mask does for small payloads.
            n = len(data)
            if 6 <= n < 132 and data[1] == n + 0x7A and n - 6 <= self._max_payload:
                b0 = data[0]
                if b0 == 0x81 or b0 == 0x82:
                    ln = n - 6
                    message: Any = (
                        int.from_bytes(data[6:], "little")
                        ^ int.from_bytes((data[2:6] * 32)[:ln], "little")
                    ).to_bytes(ln, "little")
                    if b0 == 0x81:
                        try:
                            message = message.decode("utf-8")
                        except UnicodeDecodeError:
                            return self._fail(1007, "Invalid UTF-8 sequence", "WS_ERR_INVALID_UTF8")
                    self.on_message(message, b0 == 0x82)
                    return None
        elif buf is not None:
            buf += data
            if len(buf) < self._need:
                return
            data = buf
        n = len(data)
        pos = 0
        self._need = 0
        mask_bit = self._mask_bit
        try:
            while not self.done:
                avail = n - pos
                if avail < 2:
                    break
                b0 = data[pos]
                b1 = data[pos + 1]
                op = b0 & 0x0F
                if op > 2 and not 8 <= op <= 10:
                    return self._fail(1002, f"Invalid opcode {op}", "WS_ERR_INVALID_OPCODE")
                if b1 & 0x80 != mask_bit:
                    if mask_bit:
                        return self._fail(1002, "MASK must be set", "WS_ERR_EXPECTED_MASK")
                    return self._fail(1002, "MASK must be clear", "WS_ERR_UNEXPECTED_MASK")
                if b0 & 0x70 and (b0 & 0x70 != 0x40 or self._deflate is None or not 1 <= op <= 2):
                    bit = 1 if b0 & 0x40 else 2 if b0 & 0x20 else 3
                    return self._fail(
                        1002, f"RSV{bit} must be clear", f"WS_ERR_UNEXPECTED_RSV_{bit}"
                    )
                ln = b1 & 0x7F
                hl = 2
                if ln == 126:
                    if avail < 4:
                        break
                    ln = (data[pos + 2] << 8) | data[pos + 3]
                    hl = 4
                elif ln == 127:
                    if avail < 10:
                        break
                    ln = int.from_bytes(data[pos + 2 : pos + 10], "big")
                    hl = 10
                if op >= 8:
                    if not b0 & 0x80:
                        return self._fail(1002, "FIN must be set", "WS_ERR_EXPECTED_FIN")
                    if ln > 125:
                        return self._fail(
                            1002,
                            f"Invalid payload length {ln}",
                            "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
                        )
                elif self._frag_size + ln > self._max_payload:
                    return self._fail(
                        1009, "Max payload size exceeded", "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
                    )
                if mask_bit:
                    hl += 4
                end = pos + hl + ln
                if end > n:
                    self._need = end - pos
                    break
                if mask_bit:
                    payload = apply_mask(data[pos + hl : end], bytes(data[pos + hl - 4 : pos + hl]))
                else:
                    chunk = data[pos + hl : end]
                    payload = chunk if type(chunk) is bytes else bytes(chunk)
                pos = end
                if op <= 2:
                    if op and b0 & 0xC0 == 0x80 and not self._frag_op:
                        # the common case inline: a whole, uncompressed message
                        if op == 2:
                            self.on_message(payload, True)
                            continue
                        try:
                            text = payload.decode("utf-8")
                        except UnicodeDecodeError:
                            self._fail(1007, "Invalid UTF-8 sequence", "WS_ERR_INVALID_UTF8")
                            break
                        self.on_message(text, False)
                        continue
                    self._data_frame(op, payload, b0 & 0x80, b0 & 0x40)
                elif op == 8:
                    self._close_frame(payload)
                elif op == 9:
                    self.on_ping(payload)
                else:
                    self.on_pong(payload)
        finally:
            if self.done:
                self._buf = None
            elif pos >= n:
                self._buf = None
                self._need = 0
            elif buf is not None:
                del buf[:pos]
            else:
                self._buf = bytearray(data[pos:])
        return None

    # ------------------------------------------------------------------ frames

    def _fail(self, code: int, message: str, error_code: str) -> None:
        self.done = True
        self._frag_parts = None
        self.on_fail(code, message, error_code)

    def _data_frame(self, op: int, payload: bytes, fin: int, rsv1: int) -> None:
        if op:  # a new message
            if self._frag_op:
                return self._fail(1002, f"Invalid opcode {op}", "WS_ERR_INVALID_OPCODE")
            if fin:
                return self._deliver(op, payload, rsv1)
            self._frag_op = op
            self._frag_compressed = bool(rsv1)
            self._frag_count = 1
            self._frag_size = len(payload)
            self._frag_inflated = 0
            self._frag_parts = []
            self._decoder = _Utf8Decoder() if op == 1 else None
            return self._add_part(payload, False)
        if not self._frag_op:
            return self._fail(1002, "Invalid opcode 0", "WS_ERR_INVALID_OPCODE")
        self._frag_count += 1
        if self._frag_count > self._max_fragments:
            return self._fail(1008, "Too many fragments", "WS_ERR_TOO_MANY_FRAGMENTS")
        self._frag_size += len(payload)
        self._add_part(payload, bool(fin))
        if fin and not self.done:
            parts = self._frag_parts
            op = self._frag_op
            self._frag_parts = None
            self._decoder = None
            self._frag_op = 0
            self._frag_size = 0
            assert parts is not None
            if op == 1:
                self.on_message("".join(parts), False)
            else:
                self.on_message(parts if self.fragments else b"".join(parts), True)
        return None

    def _add_part(self, payload: bytes, fin: bool) -> None:
        if self._frag_compressed:
            assert self._deflate is not None
            limit = self._max_payload - self._frag_inflated
            try:
                payload = self._deflate.decompress(payload, fin, limit)
            except PayloadTooBigError:
                return self._fail(
                    1009, "Max payload size exceeded", "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
                )
            except ValueError as exc:
                return self._fail(1007, f"Invalid compressed data: {exc}", "Z_DATA_ERROR")
            self._frag_inflated += len(payload)
        parts = self._frag_parts
        assert parts is not None
        if self._decoder is not None:
            try:
                parts.append(self._decoder.decode(payload, fin))
            except UnicodeDecodeError:
                return self._fail(1007, "Invalid UTF-8 sequence", "WS_ERR_INVALID_UTF8")
        else:
            parts.append(payload)
        return None

    def _deliver(self, op: int, payload: bytes, compressed: int) -> None:
        if compressed:
            assert self._deflate is not None
            try:
                payload = self._deflate.decompress(payload, True, self._max_payload)
            except PayloadTooBigError:
                return self._fail(
                    1009, "Max payload size exceeded", "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
                )
            except ValueError as exc:
                return self._fail(1007, f"Invalid compressed data: {exc}", "Z_DATA_ERROR")
        if op == 2:
            return self.on_message(payload, True)  # type: ignore[no-any-return]
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(1007, "Invalid UTF-8 sequence", "WS_ERR_INVALID_UTF8")
        self.on_message(text, False)
        return None

    def _close_frame(self, payload: bytes) -> None:
        n = len(payload)
        if n == 0:
            self.done = True
            self.on_close(1005, "")
            return
        if n == 1:
            return self._fail(
                1002, "Invalid payload length 1", "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH"
            )
        code = (payload[0] << 8) | payload[1]
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(1007, "Invalid UTF-8 sequence", "WS_ERR_INVALID_UTF8")
        if not is_valid_close_code(code):
            return self._fail(1002, f"Invalid status code {code}", "WS_ERR_INVALID_CLOSE_CODE")
        self.done = True
        self._frag_parts = None
        self.on_close(code, reason)
        return None
