"""permessage-deflate (RFC 7692): negotiation and the per-connection codec.

Theory of operation
-------------------
Negotiation is a pure function of the header strings. The server walks the client's
offers in order and accepts the first one it can honour; an offer with an unknown or
duplicate parameter or an invalid value is *declined*, not an error (RFC 7692 5.1).
The client offers one configuration and fails the connection when the server's answer
breaks the rules of 5.1 / 7.1.

The codec compresses a whole message (deflate, sync flush, the trailing
``00 00 ff ff`` removed, 7.2.1) and inflates a message fragment by fragment. Inflating
is bounded *while* it runs: each call asks zlib for at most ``limit + 1`` bytes, so a
few KiB that would inflate to gigabytes stop after ``limit`` bytes with
:class:`PayloadTooBigError`, and memory never holds more than the limit.

zlib objects are created on first use (an idle connection costs nothing) and, with
``*_no_context_takeover``, dropped after each message. Raw deflate cannot compress
with an 8-bit window (zlib silently uses 9), so an offer that forces
``server_max_window_bits=8`` is declined rather than broken.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = [
    "DeflateOptions",
    "PayloadTooBigError",
    "PerMessageDeflate",
    "accept_offer",
    "client_offer",
    "parse_extensions",
    "parse_response",
]

_TRAILER = b"\x00\x00\xff\xff"
NAME = "permessage-deflate"


class PayloadTooBigError(Exception):
    """An inflated message passed its size limit."""


class DeflateOptions:
    """Our side's preferences (the ``per_message_deflate`` option, as in ``ws``)."""

    __slots__ = (
        "client_max_window_bits",
        "client_no_context_takeover",
        "level",
        "mem_level",
        "server_max_window_bits",
        "server_no_context_takeover",
        "threshold",
    )

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = None,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
        mem_level: int = 8,
        threshold: int = 1024,
    ) -> None:
        for name, bits in (
            ("server_max_window_bits", server_max_window_bits),
            ("client_max_window_bits", client_max_window_bits),
        ):
            if bits is not None and not isinstance(bits, bool) and not 9 <= bits <= 15:
                raise ValueError(f"{name} must be between 9 and 15, got {bits!r}")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.level = level
        self.mem_level = mem_level
        self.threshold = threshold

    @classmethod
    def from_option(cls, value: Any) -> DeflateOptions | None:
        """``False``/``None`` → off, ``True`` → defaults, a dict → those settings."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, DeflateOptions):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise TypeError(f"per_message_deflate must be a bool or a dict, got {value!r}")


class PerMessageDeflate:
    """The negotiated codec of one connection."""

    __slots__ = (
        "_deflater",
        "_inflater",
        "compress_bits",
        "compress_reset",
        "decompress_bits",
        "decompress_reset",
        "level",
        "mem_level",
        "threshold",
    )

    def __init__(
        self,
        *,
        compress_bits: int = 15,
        decompress_bits: int = 15,
        compress_reset: bool = False,
        decompress_reset: bool = False,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
        mem_level: int = 8,
        threshold: int = 1024,
    ) -> None:
        self.compress_bits = compress_bits
        self.decompress_bits = decompress_bits
        self.compress_reset = compress_reset
        self.decompress_reset = decompress_reset
        self.level = level
        self.mem_level = mem_level
        self.threshold = threshold
        self._deflater: Any = None
        self._inflater: Any = None

    def compress(self, data: bytes | bytearray | memoryview) -> bytes:
        """One whole message, compressed (RFC 7692 7.2.1)."""
        d = self._deflater
        if d is None:
            d = zlib.compressobj(self.level, zlib.DEFLATED, -self.compress_bits, self.mem_level)
        out: bytes = d.compress(data) + d.flush(zlib.Z_SYNC_FLUSH)
        if self.compress_reset:
            self._deflater = None
        else:
            self._deflater = d
        if out.endswith(_TRAILER):
            return out[:-4]
        return out  # pragma: no cover - a sync flush always ends with the trailer

    def decompress(self, data: bytes | bytearray | memoryview, fin: bool, limit: int) -> bytes:
        """Inflate one fragment of a message: at most ``limit`` bytes, else the error."""
        d = self._inflater
        if d is None:
            d = self._inflater = zlib.decompressobj(-self.decompress_bits)
        try:
            out = d.decompress(data, limit + 1) if data else b""
            if fin and len(out) <= limit:
                out += d.decompress(_TRAILER, limit + 1 - len(out))
        except zlib.error as exc:
            self._inflater = None
            raise ValueError(str(exc)) from None
        if len(out) > limit or d.unconsumed_tail:
            self._inflater = None
            raise PayloadTooBigError(limit)
        if fin and self.decompress_reset:
            self._inflater = None
        return out


# ---------------------------------------------------------------------------- headers


def parse_extensions(header: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """``Sec-WebSocket-Extensions`` → ``[(name, [(param, value or None), ...]), ...]``."""
    result: list[tuple[str, list[tuple[str, str | None]]]] = []
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        params: list[tuple[str, str | None]] = []
        for p in parts[1:]:
            if not p:
                continue
            if "=" in p:
                k, v = p.split("=", 1)
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                params.append((k.strip().lower(), v))
            else:
                params.append((p.lower(), None))
        result.append((parts[0].lower(), params))
    return result


def _bits(value: str | None) -> int | None:
    """A window-bits value: digits 8..15 without leading zero, else None."""
    if value is None or not value.isdigit() or value[0] == "0":
        return None
    n = int(value)
    return n if 8 <= n <= 15 else None


def accept_offer(header: str, opts: DeflateOptions) -> tuple[str, PerMessageDeflate] | None:
    """Server side: the response header value and codec for the first acceptable offer."""
    for name, params in parse_extensions(header):
        if name != NAME:
            continue
        seen: set[str] = set()
        ok = True
        server_nct = opts.server_no_context_takeover
        client_nct = opts.client_no_context_takeover
        server_bits = opts.server_max_window_bits
        client_bits: int | None = None
        client_bits_offered = False
        for key, value in params:
            if key in seen:
                ok = False
                break
            seen.add(key)
            if key == "server_no_context_takeover" and value is None:
                server_nct = True
            elif key == "client_no_context_takeover" and value is None:
                client_nct = True
            elif key == "server_max_window_bits":
                bits = _bits(value)
                if bits is None or bits == 8:
                    ok = False  # 8 is legal, but raw deflate cannot compress with it
                    break
                server_bits = bits if server_bits is None else min(server_bits, bits)
            elif key == "client_max_window_bits":
                client_bits_offered = True
                if value is not None:
                    bits = _bits(value)
                    if bits is None:
                        ok = False
                        break
                    client_bits = bits
            else:
                ok = False
                break
        if not ok:
            continue
        mine = opts.client_max_window_bits
        if client_bits_offered and isinstance(mine, int) and not isinstance(mine, bool):
            client_bits = mine if client_bits is None else min(client_bits, mine)
        response = [NAME]
        if server_nct:
            response.append("server_no_context_takeover")
        if client_nct:
            response.append("client_no_context_takeover")
        if server_bits is not None:
            response.append(f"server_max_window_bits={server_bits}")
        if client_bits is not None:
            response.append(f"client_max_window_bits={client_bits}")
        codec = PerMessageDeflate(
            compress_bits=server_bits or 15,
            decompress_bits=client_bits or 15,
            compress_reset=server_nct,
            decompress_reset=client_nct,
            level=opts.level,
            mem_level=opts.mem_level,
            threshold=opts.threshold,
        )
        return "; ".join(response), codec
    return None


def client_offer(opts: DeflateOptions) -> str:
    """Client side: the offer we send."""
    offer = [NAME]
    if opts.server_no_context_takeover:
        offer.append("server_no_context_takeover")
    if opts.client_no_context_takeover:
        offer.append("client_no_context_takeover")
    if opts.server_max_window_bits is not None:
        offer.append(f"server_max_window_bits={opts.server_max_window_bits}")
    bits = opts.client_max_window_bits
    if bits is None or bits is True:
        offer.append("client_max_window_bits")
    elif bits is not False:
        offer.append(f"client_max_window_bits={bits}")
    return "; ".join(offer)


def parse_response(header: str, opts: DeflateOptions) -> PerMessageDeflate:
    """Client side: the codec the server's answer sets up; ``ValueError`` if it is invalid."""
    exts = parse_extensions(header)
    if len(exts) != 1 or exts[0][0] != NAME:
        raise ValueError(f"Server indicated an extension that was not requested: {header}")
    seen: set[str] = set()
    server_nct = False
    client_nct = opts.client_no_context_takeover
    server_bits = 15
    client_bits = 15
    for key, value in exts[0][1]:
        if key in seen:
            raise ValueError(f"Duplicate parameter {key!r}")
        seen.add(key)
        if key == "server_no_context_takeover" and value is None:
            server_nct = True
        elif key == "client_no_context_takeover" and value is None:
            client_nct = True
        elif key == "server_max_window_bits" and _bits(value) is not None:
            server_bits = _bits(value) or 15
        elif key == "client_max_window_bits" and _bits(value) is not None:
            if opts.client_max_window_bits is False:
                raise ValueError("client_max_window_bits was not offered")
            client_bits = _bits(value) or 15
            if client_bits == 8:
                raise ValueError("client_max_window_bits=8 is not supported by zlib")
        else:
            raise ValueError(f"Invalid parameter {key!r} in {header!r}")
    if opts.server_no_context_takeover and not server_nct:
        raise ValueError("server_no_context_takeover was requested")
    if isinstance(opts.server_max_window_bits, int) and server_bits > opts.server_max_window_bits:
        raise ValueError("server_max_window_bits is too large")
    bits = opts.client_max_window_bits
    if isinstance(bits, int) and not isinstance(bits, bool):
        client_bits = min(client_bits, bits)
    return PerMessageDeflate(
        compress_bits=client_bits,
        decompress_bits=server_bits,
        compress_reset=client_nct,
        decompress_reset=server_nct,
        level=opts.level,
        mem_level=opts.mem_level,
        threshold=opts.threshold,
    )
