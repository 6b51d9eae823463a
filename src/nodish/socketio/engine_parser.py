"""Engine.IO protocol v4 packets and polling payloads (sans-I/O).

Theory of operation
-------------------
An Engine.IO packet is a type (one digit, ``0`` open ... ``6`` noop) and optional data,
text or binary. How it travels depends on the transport:

* **WebSocket**: one packet per frame. A text packet is its type digit followed by its
  data (``"4hello"``); a binary *message* packet is the raw bytes in a binary frame,
  with no type byte (v4 dropped the ``4`` prefix of v3).
* **HTTP long-polling**: several packets in one body, joined by the ASCII record
  separator ``\\x1e``. Binary messages are base64 and prefixed by ``b``
  (``"bAQID"``), because the body is text.

The decoder follows ``engine.io-parser`` v5: a packet whose first character is neither
``b`` nor a known type is an error. Where the JS parser returns an ``error`` packet we
raise :class:`EngineParseError`, and a payload decoder stops at the first bad packet
(the JS one does too: it pushes the error packet and breaks).

:class:`PayloadDecoder` takes a polling body in chunks of any size, down to one byte,
and returns each packet as soon as its separator has arrived; the separator byte
``0x1e`` cannot occur inside a UTF-8 multi-byte sequence, so bytes are split before
they are decoded. It never holds more than one unfinished packet.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

__all__ = [
    "CLOSE",
    "MESSAGE",
    "NOOP",
    "OPEN",
    "PING",
    "PONG",
    "SEPARATOR",
    "UPGRADE",
    "EngineParseError",
    "Packet",
    "PayloadDecoder",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
]

PROTOCOL: Final = 4

OPEN: Final = 0
CLOSE: Final = 1
PING: Final = 2
PONG: Final = 3
MESSAGE: Final = 4
UPGRADE: Final = 5
NOOP: Final = 6

TYPE_NAMES: Final = ("open", "close", "ping", "pong", "message", "upgrade", "noop")
SEPARATOR: Final = "\x1e"
_SEP_BYTE: Final = 0x1E
_DIGITS: Final = "0123456789"


class EngineParseError(ValueError):
    """An Engine.IO packet or payload that does not follow protocol v4."""


class Packet:
    """One Engine.IO packet: ``type`` (0-6) and ``data`` (``str``, ``bytes`` or None)."""

    __slots__ = ("data", "type")

    def __init__(self, type: int, data: str | bytes | None = None) -> None:
        self.type = type
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packet) and self.type == other.type and self.data == other.data

    def __hash__(self) -> int:
        return hash((self.type, self.data))

    def __repr__(self) -> str:
        return f"Packet({TYPE_NAMES[self.type]}, {self.data!r})"


def encode_packet(packet: Packet, supports_binary: bool = True) -> str | bytes:
    """One packet as a WebSocket frame's payload (``supports_binary``) or for a payload.

    Binary data is sent raw when the transport supports binary, else as ``b`` + base64.
    """
    data = packet.data
    if isinstance(data, (bytes, bytearray, memoryview)):
        if supports_binary:
            return bytes(data)
        return "b" + base64.b64encode(data).decode("ascii")
    if data:
        return _DIGITS[packet.type] + data
    return _DIGITS[packet.type]


def decode_packet(encoded: str | bytes | bytearray | memoryview) -> Packet:
    """The packet in one WebSocket frame, or one element of a polling payload."""
    if not isinstance(encoded, str):
        return Packet(MESSAGE, bytes(encoded))
    if not encoded:
        raise EngineParseError("empty packet")
    head = encoded[0]
    if head == "b":
        try:
            return Packet(MESSAGE, base64.b64decode(encoded[1:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise EngineParseError(f"invalid base64 in binary packet: {exc}") from None
    type_ = ord(head) - 48
    if not 0 <= type_ <= 6:
        raise EngineParseError(f"unknown packet type {head!r}")
    return Packet(type_, encoded[1:] if len(encoded) > 1 else None)


def encode_payload(packets: list[Packet]) -> str:
    """Packets joined for a polling body (binary as base64)."""
    return SEPARATOR.join([encode_packet(p, False) for p in packets])  # type: ignore[misc]


def decode_payload(payload: str | bytes) -> list[Packet]:
    """Every packet of a whole polling body; raises at the first bad packet."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        dec = PayloadDecoder()
        return dec.feed(payload) + dec.end()
    return [decode_packet(part) for part in payload.split(SEPARATOR)]


class PayloadDecoder:
    """A polling body decoded as it arrives, in chunks of any size.

    ``feed(chunk)`` returns the packets completed by the chunk, ``end()`` the last one.
    Raises :class:`EngineParseError` on a bad packet or invalid UTF-8; ``max_size``
    bounds the whole body (``None``: no bound).
    """

    __slots__ = ("_buf", "_ended", "_size", "max_size")

    def __init__(self, max_size: int | None = None) -> None:
        self._buf = bytearray()
        self._size = 0
        self._ended = False
        self.max_size = max_size

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Packet]:
        if self._ended:
            raise EngineParseError("data after the end of the payload")
        self._size += len(chunk)
        if self.max_size is not None and self._size > self.max_size:
            raise EngineParseError("payload too large")
        buf = self._buf
        start = len(buf)
        buf += chunk
        if buf.find(_SEP_BYTE, start) < 0:
            return []
        parts = buf.split(b"\x1e")
        self._buf = bytearray(parts.pop())
        return [decode_packet(_text(p)) for p in parts]

    def end(self) -> list[Packet]:
        """The last packet; an empty body is an error, as in Engine.IO."""
        if self._ended:
            return []
        self._ended = True
        rest = self._buf
        self._buf = bytearray()
        return [decode_packet(_text(rest))]


def _text(raw: bytes | bytearray) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EngineParseError("payload is not valid UTF-8") from None
