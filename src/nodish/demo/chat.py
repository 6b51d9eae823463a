"""The demo's chat room: every open tab, over ws:// and wss:// alike, in one room.

The server pushes JSON messages to every client: ``welcome`` (your name, the count) to
a newcomer, ``join`` and ``leave`` notices with the new count to everybody, and each
``message`` (who, what). A client sends plain text; a text longer than ``MAX_TEXT``
characters is cut, a binary message is refused with close code 1003 (RFC 6455: a type
of data the endpoint cannot accept).
"""

from __future__ import annotations

import json
from typing import Any

from . import Context, preview

MAX_TEXT = 2000


class Room:
    """The connected clients and their names."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.clients: dict[Any, str] = {}
        self._next = 1
        ctx.on_stop.append(self.close_all)

    def close_all(self) -> None:
        """Say goodbye to every client: RFC 6455's 1001, the server is going away."""
        for ws in list(self.clients):
            if ws.ready_state == ws.OPEN:
                ws.close(1001, "the demo is stopping")

    def broadcast(self, message: dict[str, Any]) -> None:
        """Push ``message`` to every open client."""
        data = json.dumps(message)
        for ws in list(self.clients):
            if ws.ready_state == ws.OPEN:
                ws.send(data)

    def join(self, ws: Any, req: Any, scheme: str) -> None:
        """A new client (the ``'connection'`` of a WebSocketServer)."""
        name = f"guest-{self._next}"
        self._next += 1
        self.clients[ws] = name
        peer = f"{req.socket.remote_address}:{req.socket.remote_port}"
        count = len(self.clients)
        self.ctx.log(scheme, f"open {name} from {peer} ({count} connected)")
        ws.send(json.dumps({"type": "welcome", "name": name, "count": count}))
        self.broadcast({"type": "join", "name": name, "count": count})

        def on_message(data: Any, is_binary: bool) -> None:
            if is_binary:
                ws.close(1003, "text messages only")
                return
            text = bytes(data).decode() if not isinstance(data, str) else data
            self.ctx.log(scheme, f"message from {name}: {preview(text.encode())}")
            self.broadcast({"type": "message", "name": name, "text": text[:MAX_TEXT]})

        def on_close(code: int, reason: Any) -> None:
            self.clients.pop(ws, None)
            count = len(self.clients)
            self.ctx.log(scheme, f"close {name} (code {code}, {count} connected)")
            self.broadcast({"type": "leave", "name": name, "count": count})

        ws.on("message", on_message)
        ws.on("close", on_close)
        ws.on("error", lambda err: self.ctx.log(scheme, f"error from {name}: {err}"))
