"""The opening handshake (RFC 6455 section 4): keys, checks, response heads.

Theory of operation
-------------------
Pure functions over header dicts (lower-case names, as ``http.IncomingMessage``
gives them) and strings; the HTTP parsing itself is nodish.http's. The server checks a
request with :func:`check_request` (a :class:`HandshakeError` carries the status to
answer, 400 for a bad key, version or method), then writes :func:`accept_response`.
The client (:mod:`.client`, on ``http.request``) checks the answer with
:func:`check_response`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

__all__ = [
    "GUID",
    "HandshakeError",
    "accept_key",
    "accept_response",
    "check_request",
    "check_response",
    "new_key",
    "parse_protocols",
    "reject_response",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = re.compile(r"^[+/0-9A-Za-z]{22}==$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class HandshakeError(Exception):
    """The handshake is refused: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for ``key`` (4.2.2 step 5.4)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def parse_protocols(header: str) -> list[str]:
    """``Sec-WebSocket-Protocol`` → the offered subprotocols; ValueError if malformed."""
    if not header:
        return []
    protocols = [p.strip() for p in header.split(",")]
    if any(not _TOKEN.match(p) for p in protocols) or len(set(protocols)) != len(protocols):
        raise ValueError(f"Invalid Sec-WebSocket-Protocol header: {header!r}")
    return protocols


def check_request(method: str, headers: Mapping[str, Any]) -> str:
    """Check an upgrade request; returns its ``Sec-WebSocket-Key`` (4.2.1)."""
    if method != "GET":
        raise HandshakeError(400, "Invalid HTTP method")
    if _header(headers, "upgrade").lower() != "websocket":
        raise HandshakeError(400, "Invalid Upgrade header")
    key = _header(headers, "sec-websocket-key").strip()
    if not _KEY.match(key):
        raise HandshakeError(400, "Missing or invalid Sec-WebSocket-Key header")
    if _header(headers, "sec-websocket-version").strip() != "13":
        raise HandshakeError(
            400,
            "Missing or invalid Sec-WebSocket-Version header",
            {"Sec-WebSocket-Version": "13"},
        )
    return key


def accept_response(
    key: str,
    *,
    protocol: str | None = None,
    extensions: str | None = None,
    headers: Iterable[str] = (),
) -> list[str]:
    """The ``101 Switching Protocols`` head as lines (the ``'headers'`` event may edit them)."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ]
    if protocol:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    lines.extend(headers)
    return lines


def reject_response(
    status: int, message: str = "", headers: Mapping[str, str] | None = None
) -> bytes:
    """A complete HTTP response refusing the upgrade; the connection closes after it."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    body = (message or phrase).encode()
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "Connection: close",
        "Content-Type: text/html",
        f"Content-Length: {len(body)}",
    ]
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def check_response(
    status: int, headers: Mapping[str, Any], key: str, protocols: Iterable[str]
) -> str:
    """Check the server's answer (4.1, client side); returns the chosen subprotocol."""
    if status != 101:
        raise HandshakeError(status, f"Unexpected server response: {status}")
    if _header(headers, "upgrade").lower() != "websocket":
        raise HandshakeError(status, "Invalid Upgrade header")
    if _header(headers, "sec-websocket-accept") != accept_key(key):
        raise HandshakeError(status, "Invalid Sec-WebSocket-Accept header")
    protocol = _header(headers, "sec-websocket-protocol")
    offered = list(protocols)
    if protocol:
        if protocol not in offered:
            raise HandshakeError(status, "Server sent an invalid subprotocol")
    elif offered:
        raise HandshakeError(status, "Server sent no subprotocol")
    return protocol
