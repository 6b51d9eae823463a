"""A sans-I/O reader of a TLS ClientHello's SNI name, for asynchronous ``sni_callback``.

OpenSSL's servername callback must answer at once, so a server whose ``sni_callback``
answers later (a coroutine function, or Node's ``(servername, callback)`` form) reads
the ClientHello itself first, as Node's ClientHelloParser does: the bytes are held
(in OpenSSL's input BIO, with no handshake step run) while :class:`HelloReader` is fed
them, the callback is asked for the name, the chosen context is set on the connection,
and only then does OpenSSL read the hello.

The reader walks TLS records of type handshake (22), joins their payloads (a hello may
span records), reads the handshake header (type 1, 24-bit length), skips the legacy
version, random, session id, cipher suites and compression methods, then walks the
extensions to ``server_name`` (type 0) and its first ``host_name`` (type 0) entry.
Anything else (another record type, an SSLv2 hello, a bad length, a hello over
:data:`MAX_HELLO` bytes) raises :class:`HelloError`; the server then lets OpenSSL read
the bytes, and OpenSSL refuses them with its usual error.
"""

from __future__ import annotations

__all__ = ["MAX_HELLO", "HelloError", "HelloReader"]

MAX_HELLO = 65536  # bytes of handshake message; a real ClientHello is well under this
_MAX_RECORD = 16384 + 2048  # RFC 8446 5.2 (TLSCiphertext); a plaintext one is smaller
_HANDSHAKE = 22
_CLIENT_HELLO = 1


class HelloError(ValueError):
    """The bytes are not a TLS ClientHello this reader understands."""


class HelloReader:
    """Feed bytes as they come; ``feed`` is True once the ClientHello is complete.
    ``servername`` is then the SNI host name (``None`` if the hello has none)."""

    __slots__ = ("_buf", "_msg", "done", "servername")

    def __init__(self) -> None:
        self._buf = bytearray()  # record bytes not yet unwrapped
        self._msg = bytearray()  # handshake bytes, joined across records
        self.done = False
        self.servername: str | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        if self.done:
            return True
        buf = self._buf
        buf += data
        while len(buf) >= 5:
            if buf[0] != _HANDSHAKE or buf[1] != 3:
                raise HelloError("not a TLS handshake record")
            size = int.from_bytes(buf[3:5], "big")
            if size == 0 or size > _MAX_RECORD:
                raise HelloError(f"bad record length {size}")
            if len(buf) < 5 + size:
                break
            self._msg += buf[5 : 5 + size]
            del buf[: 5 + size]
            if self._parse():
                self.done = True
                return True
        if len(buf) >= 1 and buf[0] != _HANDSHAKE:
            raise HelloError("not a TLS handshake record")
        return False

    def _parse(self) -> bool:
        msg = self._msg
        if len(msg) < 4:
            return False
        if msg[0] != _CLIENT_HELLO:
            raise HelloError("the first handshake message is not a ClientHello")
        size = int.from_bytes(msg[1:4], "big")
        if size > MAX_HELLO:
            raise HelloError(f"ClientHello of {size} bytes")
        if len(msg) < 4 + size:
            return False
        self.servername = _servername(memoryview(msg)[4 : 4 + size])
        return True


def _servername(body: memoryview) -> str | None:
    end = len(body)
    pos = 2 + 32  # legacy_version, random
    pos = _skip(body, pos, 1)  # session id
    pos = _skip(body, pos, 2)  # cipher suites
    pos = _skip(body, pos, 1)  # compression methods
    if pos == end:
        return None  # no extensions at all
    ext_end = _length(body, pos, 2) + pos + 2
    if ext_end > end:
        raise HelloError("extensions overrun the ClientHello")
    pos += 2
    while pos + 4 <= ext_end:
        kind = int.from_bytes(body[pos : pos + 2], "big")
        size = int.from_bytes(body[pos + 2 : pos + 4], "big")
        pos += 4
        if pos + size > ext_end:
            raise HelloError("an extension overruns the ClientHello")
        if kind == 0:  # server_name (RFC 6066 3)
            return _host_name(body[pos : pos + size])
        pos += size
    if pos != ext_end:
        raise HelloError("truncated extension")
    return None


def _host_name(ext: memoryview) -> str | None:
    if len(ext) < 2 or _length(ext, 0, 2) != len(ext) - 2:
        raise HelloError("bad server_name list")
    pos = 2
    while pos + 3 <= len(ext):
        kind = ext[pos]
        size = int.from_bytes(ext[pos + 1 : pos + 3], "big")
        pos += 3
        if pos + size > len(ext):
            raise HelloError("a server name overruns its extension")
        if kind == 0 and size:
            return bytes(ext[pos : pos + size]).decode("ascii", "replace")
        pos += size
    return None


def _length(body: memoryview, pos: int, width: int) -> int:
    if pos + width > len(body):
        raise HelloError("truncated ClientHello")
    return int.from_bytes(body[pos : pos + width], "big")


def _skip(body: memoryview, pos: int, width: int) -> int:
    """The position after a vector with a ``width``-byte length at ``pos``."""
    after = pos + width + _length(body, pos, width)
    if after > len(body):
        raise HelloError("truncated ClientHello")
    return after
