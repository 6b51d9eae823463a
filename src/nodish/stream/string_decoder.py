"""``StringDecoder``: bytes arriving in pieces to text that never splits a character.

Mirrors Node's ``string_decoder`` module
(https://nodejs.org/docs/latest-v20.x/api/string_decoder.html). A multi-byte character
cut between two chunks is held back until its last byte arrives; ``end()`` flushes what
is left (an incomplete UTF-8 sequence becomes U+FFFD, as in Node).

For ``'base64'``/``'base64url'`` only whole 3-byte groups are encoded by ``write()``; the
remainder waits for the next chunk or ``end()``. For ``'utf16le'`` a surrogate pair cut
between chunks is held back whole (Node emits its two halves separately, which a Python
``str`` cannot join again).
"""

from __future__ import annotations

import codecs

from ._encoding import decode, normalize_encoding

__all__ = ["StringDecoder"]

_BufferLike = bytes | bytearray | memoryview


class StringDecoder:
    """Decode a stream of byte chunks to ``str`` without splitting characters.

    Args:
        encoding: any Node encoding name (default ``'utf8'``).

    Attributes:
        encoding: Node's canonical name of the encoding (``'utf8'``, ``'utf16le'`` ...).

    Raises:
        ERR_UNKNOWN_ENCODING: ``encoding`` is not one Node knows.
    """

    __slots__ = ("_group", "_incremental", "_pending", "encoding")

    def __init__(self, encoding: str | None = "utf8") -> None:
        enc = normalize_encoding(encoding)
        self.encoding = enc
        self._incremental: codecs.IncrementalDecoder | None = None
        self._pending = b""
        # bytes per unit that must stay whole (base64 groups of 3, 1 for the others)
        self._group = 1
        if enc == "utf8":
            self._incremental = codecs.getincrementaldecoder("utf-8")("replace")
        elif enc == "utf16le":
            self._incremental = codecs.getincrementaldecoder("utf-16-le")("surrogatepass")
        elif enc in ("base64", "base64url"):
            self._group = 3

    def write(self, buf: _BufferLike | str) -> str:
        """The text for ``buf`` and any bytes held back before it (a ``str`` passes through)."""
        if isinstance(buf, str):
            return buf
        inc = self._incremental
        if inc is not None:
            return inc.decode(buf)
        if self._group == 1:
            return decode(buf, self.encoding)
        data = self._pending + bytes(buf) if self._pending else bytes(buf)
        cut = len(data) - len(data) % 3
        self._pending = data[cut:]
        return decode(data[:cut], self.encoding) if cut else ""

    def end(self, buf: _BufferLike | str | None = None) -> str:
        """Flush: the text for ``buf`` (if given) and whatever was held back.

        The decoder is reset and may be used again.
        """
        out = self.write(buf) if buf is not None else ""
        inc = self._incremental
        if inc is not None:
            if self.encoding == "utf16le":
                held, _ = inc.getstate()
                inc.reset()
                return out + decode(held, "utf16le") if held else out
            return out + inc.decode(b"", True)
        if self._pending:
            rest, self._pending = self._pending, b""
            return out + decode(rest, self.encoding)
        return out
