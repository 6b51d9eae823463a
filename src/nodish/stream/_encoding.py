"""Node's Buffer encodings for str <-> bytes conversions in streams.

Theory of operation
-------------------
Node names an encoding by a short string (``'utf8'``, ``'latin1'``, ``'hex'`` ...), matched
case-insensitively, with aliases (``'utf-8'``, ``'binary'``, ``'ucs2'``). Streams take
those names: ``write(chunk, 'hex')``, ``set_encoding('utf8')``, ``default_encoding=``.
:func:`normalize_encoding` turns any accepted spelling into Node's canonical name, or
raises ``ERR_UNKNOWN_ENCODING`` (a ``TypeError``), as ``Buffer.isEncoding`` does.

:func:`encode` is ``Buffer.from(str, enc)`` and :func:`decode` is ``buf.toString(enc)``,
including Node's leniencies, because code ported from Node relies on them:

* utf8: lone surrogates become U+FFFD (EF BF BD), never an exception.
* latin1/ascii: each UTF-16 code unit keeps its low byte (``'€'`` → ``0xAC``).
* hex: decoding stops at the first pair that is not two hex digits.
* base64/base64url: both alphabets accepted, characters outside them ignored, padding
  optional, decoding stops at the first ``'='``.
* ascii decoding clears the high bit of each byte.

Strings in Python are code points, in JavaScript UTF-16 code units; a surrogate pair in
a Python ``str`` is treated as the character it encodes.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import codes

__all__ = ["decode", "encode", "normalize_encoding"]

# Every spelling Node accepts (lower-cased) -> Node's canonical name.
_NAMES: dict[str, str] = {
    "utf8": "utf8",
    "utf-8": "utf8",
    "ucs2": "utf16le",
    "ucs-2": "utf16le",
    "utf16le": "utf16le",
    "utf-16le": "utf16le",
    "latin1": "latin1",
    "binary": "latin1",
    "ascii": "ascii",
    "hex": "hex",
    "base64": "base64",
    "base64url": "base64url",
}

_HEX_PREFIX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_NOT_B64 = re.compile(r"[^A-Za-z0-9+/\-_]")
_B64URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_CLEAR_HIGH_BIT = bytes(i & 0x7F for i in range(256))


def normalize_encoding(encoding: str | None) -> str:
    """Node's canonical name for ``encoding`` (``None`` means ``'utf8'``).

    Raises:
        ERR_UNKNOWN_ENCODING: not an encoding Node knows.
    """
    if encoding is None:
        return "utf8"
    name = _NAMES.get(encoding)
    if name is not None:
        return name
    if isinstance(encoding, str):
        name = _NAMES.get(encoding.lower())
        if name is not None:
            return name
    raise codes.ERR_UNKNOWN_ENCODING(encoding)


def _utf16_units_low_bytes(s: str) -> bytes:
    # One byte per UTF-16 code unit, its low byte: Node's latin1 encoder.
    return s.encode("utf-16-le", "surrogatepass")[::2]


def encode(s: str, encoding: str) -> bytes:
    """``Buffer.from(s, encoding)``; ``encoding`` must already be normalized."""
    if encoding == "utf8":
        try:
            return s.encode("utf-8")
        except UnicodeEncodeError:
            # Join surrogate pairs, then lone surrogates -> U+FFFD, as V8 does.
            fixed = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            return fixed.encode("utf-8")
    if encoding in ("latin1", "ascii"):
        try:
            return s.encode("latin-1")
        except UnicodeEncodeError:
            return _utf16_units_low_bytes(s)
    if encoding == "utf16le":
        return s.encode("utf-16-le", "surrogatepass")
    if encoding == "hex":
        m = _HEX_PREFIX.match(s)
        return bytes.fromhex(m.group(0)) if m else b""
    if encoding in ("base64", "base64url"):
        return _b64decode(s)
    raise codes.ERR_UNKNOWN_ENCODING(encoding)


def _b64decode(s: str) -> bytes:
    s = s.split("=", 1)[0]
    data = _NOT_B64.sub("", s).encode("ascii").translate(_B64URL_TO_STD)
    rem = len(data) % 4
    if rem == 1:  # a dangling sixth of a byte carries no data
        data = data[:-1]
        rem = 0
    if rem:
        data += b"=" * (4 - rem)
    try:
        return base64.b64decode(data)
    except binascii.Error:  # pragma: no cover - input is sanitized above
        return b""


def decode(data: bytes | bytearray | memoryview, encoding: str) -> str:
    """``buf.toString(encoding)`` for a whole buffer; ``encoding`` already normalized."""
    if encoding == "utf8":
        return bytes(data).decode("utf-8", "replace")
    if encoding == "latin1":
        return bytes(data).decode("latin-1")
    if encoding == "ascii":
        return bytes(data).translate(_CLEAR_HIGH_BIT).decode("latin-1")
    if encoding == "hex":
        return bytes(data).hex()
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    if encoding == "base64url":
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
    if encoding == "utf16le":
        raw = bytes(data)
        return raw[: len(raw) & ~1].decode("utf-16-le", "surrogatepass")
    raise codes.ERR_UNKNOWN_ENCODING(encoding)
