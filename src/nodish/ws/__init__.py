"""WebSocket (RFC 6455, permessage-deflate RFC 7692): ``WebSocket`` and ``WebSocketServer``.

Mirrors Node's ``ws`` package (server side and events) and the browser's WebSocket API
(client side). The protocol itself lives in sans-I/O modules: :mod:`.frames`,
:mod:`.receiver`, :mod:`.handshake`, :mod:`.deflate`.
"""

from .server import Server, WebSocketServer
from .websocket import (
    CloseEvent,
    ErrorEvent,
    MessageEvent,
    PreparedMessage,
    WebSocket,
    WebSocketError,
    prepare,
)

CONNECTING = WebSocket.CONNECTING
OPEN = WebSocket.OPEN
CLOSING = WebSocket.CLOSING
CLOSED = WebSocket.CLOSED

__all__ = [
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "OPEN",
    "CloseEvent",
    "ErrorEvent",
    "MessageEvent",
    "PreparedMessage",
    "Server",
    "WebSocket",
    "WebSocketError",
    "WebSocketServer",
    "prepare",
]
