"""The IPC framing between a cluster primary and its workers, sans I/O.

Theory of operation
-------------------
Node's IPC channel (``serialization: 'json'``, the default) writes each message as
``JSON.stringify(message) + '\\n'``: JSON never contains a raw newline (newlines inside
strings are escaped), so a newline ends a message and nothing else. :func:`encode`
produces exactly that; :class:`Decoder` is fed the bytes as they arrive, in chunks of
any size, and returns the complete messages in order.

Handles (file descriptors) travel beside the bytes, as ``SCM_RIGHTS`` ancillary data
attached to the first byte of their message's frame; this module never sees them. The
channel (``channel.py``) keeps the received descriptors in a FIFO and gives the next
one to each handle-carrying message it decodes: descriptors arrive with or before the
bytes of the frame they belong to, never after.

Limits. A line longer than ``max_message`` bytes (counted while it is still
incomplete, so a peer that never sends a newline cannot grow the buffer without end),
bytes that are not UTF-8 JSON, or an empty line raise ``ERR_IPC_BAD_MESSAGE``; the
channel then closes, since a stream whose framing is lost cannot be resynchronised.
Node sets no limit; ours defaults to 64 MiB.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ERR_INVALID_ARG_TYPE, ERR_IPC_BAD_MESSAGE, NodeError

__all__ = ["DEFAULT_MAX_MESSAGE", "Decoder", "encode"]

DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024

# ASCII output: lone surrogates survive the round trip and Node parses the escapes.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_loads = json.loads


def encode(message: Any) -> bytes:
    """One frame: ``message`` as compact JSON followed by a newline.

    Raises:
        ERR_INVALID_ARG_TYPE: the message is not JSON-serialisable (a set, an object,
            NaN), as Node's ``process.send`` throws for what it cannot serialise.
    """
    try:
        text = _dumps(message)
    except (TypeError, ValueError) as exc:
        raise ERR_INVALID_ARG_TYPE(
            "message", "JSON-serialisable", f"{type(message).__name__} ({exc})"
        ) from None
    return text.encode("ascii") + b"\n"


class Decoder:
    """Splits a byte stream into messages; feed it chunks of any size.

    Args:
        max_message: the longest frame accepted, in bytes, newline excluded.
    """

    __slots__ = ("_parts", "_size", "max_message")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message = max_message
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held so far."""
        return self._size

    def feed(self, data: bytes) -> list[Any]:
        """The messages completed by ``data``, in order.

        Raises:
            ERR_IPC_BAD_MESSAGE: a frame is malformed or too long; the messages
                completed before it are on the error as ``.messages``. The decoder is
                then unusable (the stream has lost its framing).
        """
        out: list[Any] = []
        try:
            self._feed(data, out)
        except NodeError as exc:
            exc.messages = out  # type: ignore[attr-defined]
            raise
        return out

    def _feed(self, data: bytes, out: list[Any]) -> None:
        nl = data.find(b"\n")
        if nl < 0:
            self._hold(data)
            return
        start = 0
        if self._parts:
            self._parts.append(data[:nl])
            line = b"".join(self._parts)
            self._parts = []
            self._size = 0
            out.append(self._parse(line))
            start = nl + 1
            nl = data.find(b"\n", start)
        while nl >= 0:
            out.append(self._parse(data[start:nl]))
            start = nl + 1
            nl = data.find(b"\n", start)
        if start < len(data):
            self._hold(data[start:])

    def _hold(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_message:
            self._parts = []
            raise ERR_IPC_BAD_MESSAGE(
                f"IPC message longer than {self.max_message} bytes (no newline yet)"
            )
        self._parts.append(chunk)

    def _parse(self, line: bytes) -> Any:
        if len(line) > self.max_message:
            raise ERR_IPC_BAD_MESSAGE(
                f"IPC message of {len(line)} bytes exceeds {self.max_message}"
            )
        try:
            return _loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ERR_IPC_BAD_MESSAGE(f"IPC message is not valid JSON: {exc}") from None
