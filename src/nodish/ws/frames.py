"""WebSocket frames (RFC 6455 section 5): masking, serializing, close payloads.

Theory of operation
-------------------
Sans-I/O: bytes in, bytes out, no sockets and no loop. This module knows the wire
format of one frame; :mod:`.receiver` turns a byte stream into messages.

Masking (5.3) is a XOR of the payload with a 4-byte key repeated. Python has no
vectorised XOR on bytes, so two C-speed routes are used, never a Python loop per byte:

* small payloads (under 512 bytes): the payload and the repeated key are read as two
  little-endian integers, XORed, and written back;
* larger ones: byte ``i`` is XORed with ``key[i % 4]``, so the payload is four
  interleaved streams, each XORed with one constant byte: ``bytes.translate`` with a
  256-byte XOR table does each stream, and extended-slice assignment (``out[i::4]``)
  puts them back in place. Measured about 1.6x faster than the integer route at 64
  KiB (the integer conversions walk the bytes three times).
"""

from __future__ import annotations

import os
import struct

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "apply_mask",
    "close_payload",
    "encode_frame",
    "is_valid_close_code",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_H2 = struct.Struct("!BB").pack
_H4 = struct.Struct("!BBH").pack
_H10 = struct.Struct("!BBQ").pack
_urandom = os.urandom
# the headers of a server's (unmasked) final frame of under 126 bytes, by length: a
# tuple lookup instead of a pack per message
TEXT_HEADS = tuple(bytes((0x81, n)) for n in range(126))
BINARY_HEADS = tuple(bytes((0x82, n)) for n in range(126))


# _XOR[k] maps every byte b to b ^ k (for bytes.translate); built on first use.
_XOR: list[bytes | None] = [None] * 256


def _xor_table(k: int) -> bytes:
    table = _XOR[k]
    if table is None:
        table = _XOR[k] = bytes(b ^ k for b in range(256))
    return table


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """``data`` XOR the 4-byte ``mask`` repeated (RFC 6455 5.3); masking is its own inverse."""
    n = len(data)
    if n < 512:
        if n == 0:
            return b""
        key = mask * ((n >> 2) + 1)
        return (int.from_bytes(data, "little") ^ int.from_bytes(key[:n], "little")).to_bytes(
            n, "little"
        )
    out = bytearray(data)
    out[0::4] = out[0::4].translate(_xor_table(mask[0]))
    out[1::4] = out[1::4].translate(_xor_table(mask[1]))
    out[2::4] = out[2::4].translate(_xor_table(mask[2]))
    out[3::4] = out[3::4].translate(_xor_table(mask[3]))
    return bytes(out)


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = False,
) -> list[bytes | bytearray | memoryview]:
    """One frame as a list of buffers to write in order (header, payload).

    Small frames come back as one buffer; a large unmasked payload is not copied.
    A client masks (``mask=True``) with a fresh random key per frame (5.3).
    """
    n = len(payload)
    b0 = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = _H2(b0, mbit | n)
    elif n < 65536:
        head = _H4(b0, mbit | 126, n)
    else:
        head = _H10(b0, mbit | 127, n)
    if mask:
        key = _urandom(4)
        return [head + key + apply_mask(payload, key)]
    if n < 262144:
        return [head + payload]  # one write, one send: a copy is cheaper
    return [head, payload]


# 7.4.1 and the IANA registry: codes an endpoint may receive in a close frame.
# 1004, 1005, 1006 and 1015 are reserved and never sent on the wire.
_VALID_CLOSE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 7.4, IANA)."""
    return code in _VALID_CLOSE or 3000 <= code <= 4999


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """The payload of a close frame: empty, or the 2-byte code then the reason."""
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason
