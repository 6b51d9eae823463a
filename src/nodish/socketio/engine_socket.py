"""One Engine.IO session on the server: its transport, heartbeat and write buffer.

Theory of operation
-------------------
A session starts on the transport of its handshake request (long-polling or
WebSocket) and sends the OPEN packet (``sid``, ``upgrades``, ``pingInterval``,
``pingTimeout``, ``maxPayload``; durations in milliseconds on the wire). Every
``ping_interval`` the server sends PING and expects PONG within ``ping_timeout``, else
the session closes with ``'ping timeout'`` (Engine.IO v4 moved pings to the server).

Messages are queued in ``_buffer`` and handed to the transport when it is writable:
at once for WebSocket, and for polling whenever a GET is waiting, batched by turn of
the loop so that the emits of one callback travel in one response.

An upgrade (polling to WebSocket) is driven by :meth:`maybe_upgrade`: the new transport
answers the client's ``2probe`` with ``3probe``, the waiting poll is released with a
NOOP, and when ``5`` (UPGRADE) arrives the session switches transports and flushes
what was queued. No message is written to both transports, and none is lost: until
the switch, everything goes to the old one.

``'close'``(reason, description) is emitted once, with Engine.IO's reasons:
``'transport close'``, ``'transport error'``, ``'ping timeout'``, ``'parse error'``,
``'forced close'``, ``'server shutting down'``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import runtime, timers
from ..events import EventEmitter
from . import engine_parser as eio
from .transports import PARSE_ERROR

if TYPE_CHECKING:
    from .engine import EngineServer, HandshakeRequest
    from .transports import Transport

__all__ = ["EngineSocket"]


# packets queued for a client that does not poll, beyond which it is dropped (as a
# WebSocket client that does not read): a polling client POSTing events with acks and
# never GETting them would otherwise grow the server's memory until its ping timeout
MAX_QUEUED = 1 << 17


class EngineSocket(EventEmitter):
    """An Engine.IO session: ``write(data)`` sends a message; ``'data'`` receives one."""

    protocol = 4

    def __init__(
        self, server: EngineServer, id: str, request: HandshakeRequest, transport: Transport
    ) -> None:
        super().__init__()
        self.server = server
        self.id = id
        self.request = request
        self.remote_address = request.remote_address
        self.ready_state = "opening"
        self.upgrading = False
        self.upgraded = False
        self._buffer: list[eio.Packet] = []
        self._flush_pending = False
        self._ping_timer: timers.Timeout | None = None
        self._pong_timer: timers.Timeout | None = None
        self._upgrade_timer: timers.Timeout | None = None
        self._noop_when_writable = False
        self.transport = transport
        self._bind(transport)
        self._open()

    # transport wiring ----------------------------------------------------------------
    def _bind(self, transport: Transport) -> None:
        transport.sid = self.id
        transport.on_text = self._on_text
        transport.session = self
        transport.on("packet", self._on_packet)
        transport.on("drain", self.flush)
        transport.on("ready", self.flush)
        transport.on("error", self._on_transport_error)
        transport.on("close", self._on_transport_close)

    def _unbind(self, transport: Transport) -> None:
        transport.on_text = None
        transport.session = None
        transport.remove_listener("packet", self._on_packet)
        transport.remove_listener("drain", self.flush)
        transport.remove_listener("ready", self.flush)
        transport.remove_listener("error", self._on_transport_error)
        transport.remove_listener("close", self._on_transport_close)

    def _on_transport_error(self, message: str, description: Any = None) -> None:
        if message == PARSE_ERROR:
            self._on_close(PARSE_ERROR, description)
            return
        self._on_close("transport error", description if description is not None else message)

    def _on_transport_close(self, description: Any = None) -> None:
        self._on_close("transport close", description)

    # opening and heartbeat ------------------------------------------------------------------
    def _open(self) -> None:
        self.ready_state = "open"
        server = self.server
        upgrades = server.upgrades(self.transport.name)
        self.send_packet(
            eio.OPEN,
            json.dumps(
                {
                    "sid": self.id,
                    "upgrades": upgrades,
                    "pingInterval": round(server.ping_interval * 1000),
                    "pingTimeout": round(server.ping_timeout * 1000),
                    "maxPayload": server.max_http_buffer_size,
                },
                separators=(",", ":"),
            ),
        )
        self._schedule_ping()

    def _schedule_ping(self) -> None:
        self._ping_timer = timers.set_timeout(self._ping, self.server.ping_interval)
        self._ping_timer.unref()

    def _ping(self) -> None:
        self._ping_timer = None
        self.send_packet(eio.PING)
        self._pong_timer = timers.set_timeout(self._on_ping_timeout, self.server.ping_timeout)
        self._pong_timer.unref()

    def _on_ping_timeout(self) -> None:
        self._pong_timer = None
        self._on_close("ping timeout")

    # incoming --------------------------------------------------------------------------------
    def _on_text(self, text: str) -> None:
        # a text MESSAGE, from a transport that skips making the packet
        if self.ready_state == "open":
            listeners = self._events.get("data")
            if listeners is not None and len(listeners) == 1:
                listeners[0](text)  # emit()'s path for one listener, inline: every message
            else:
                self.emit("data", text)

    def _on_packet(self, packet: eio.Packet) -> None:
        if self.ready_state != "open":
            return
        type_ = packet.type
        if type_ == eio.MESSAGE:
            self.emit("data", packet.data if packet.data is not None else "")
        elif type_ == eio.PONG:
            if self._pong_timer is not None:
                self._pong_timer.close()
                self._pong_timer = None
                self._schedule_ping()
            self.emit("heartbeat")
        elif type_ == eio.CLOSE:
            self._on_close("transport close")
        elif type_ == eio.NOOP:
            pass
        else:
            # PING from a v4 client ("invalid heartbeat direction"), OPEN, UPGRADE here
            self._on_close("transport error", f"unexpected {eio.TYPE_NAMES[type_]} packet")

    # outgoing --------------------------------------------------------------------------------
    def write(self, data: str | bytes) -> EngineSocket:
        """Queue a message (text or binary) for the client."""
        self.send_packet(eio.MESSAGE, data)
        return self

    send = write

    def write_frames(self, frames: list[bytes]) -> bool:
        """Send prepared WebSocket frames now, if nothing is queued before them.

        Returns False (nothing sent) when the session is not on an idle WebSocket.
        """
        transport = self.transport
        if self.ready_state != "open" or self._buffer or not transport.writable:
            return False
        send = getattr(transport, "send_frames", None)
        if send is None:
            return False
        send(frames)
        return True

    def send_packet(self, type_: int, data: str | bytes | None = None) -> None:
        if self.ready_state in ("closing", "closed"):
            return
        transport = self.transport
        if not self._buffer and transport.direct and transport.writable:
            # WebSocket with nothing queued: straight to the transport (the hot path)
            transport.send_one(type_, data)
            return
        buffer = self._buffer
        buffer.append(eio.Packet(type_, data))
        if len(buffer) > MAX_QUEUED and not transport.writable:
            self._on_close("transport close")
            return
        if transport.batches:
            if not self._flush_pending:
                self._flush_pending = True
                runtime.call_soon(self._deferred_flush, owner=self)
        else:
            self.flush()

    def _deferred_flush(self) -> None:
        self._flush_pending = False
        self.flush()

    def flush(self) -> None:
        transport = self.transport
        if self.ready_state == "closed" or not transport.writable:
            return
        if self._buffer:
            buffer, self._buffer = self._buffer, []
            transport.send(buffer)
            self.emit("drain")
        elif self._noop_when_writable:
            # during an upgrade every poll is answered at once (Node checks every
            # 100 ms), so that the client can pause polling and send UPGRADE
            transport.send([eio.Packet(eio.NOOP)])

    # upgrade ---------------------------------------------------------------------------------
    def maybe_upgrade(self, transport: Transport) -> None:
        """Take ``transport`` (a WebSocket) as the new transport once the client confirms."""
        self.upgrading = True

        def on_packet(packet: eio.Packet) -> None:
            if packet.type == eio.PING and packet.data == "probe":
                transport.send([eio.Packet(eio.PONG, "probe")])
                self.emit("upgrading", transport)
                # free the client's pending poll (now or when it comes) so that the
                # client can send UPGRADE
                self._noop_when_writable = True
                self.flush()
            elif packet.type == eio.UPGRADE and self.ready_state != "closed":
                cleanup()
                old = self.transport
                self._unbind(old)
                old.discard()
                old.close()
                self.transport = transport
                self._bind(transport)
                self.upgraded = True
                self.upgrading = False
                self.emit("upgrade", transport)
                self.flush()
            else:
                cleanup()
                transport.close()

        def on_fail(*_: Any) -> None:
            cleanup()
            transport.close()

        def cleanup() -> None:
            self.upgrading = False
            self._noop_when_writable = False
            transport.remove_listener("packet", on_packet)
            transport.remove_listener("close", on_fail)
            transport.remove_listener("error", on_fail)
            self.remove_listener("close", on_fail)
            if self._upgrade_timer is not None:
                self._upgrade_timer.close()
                self._upgrade_timer = None

        transport.on("packet", on_packet)
        transport.once("close", on_fail)
        transport.once("error", on_fail)
        self.once("close", on_fail)
        self._upgrade_timer = timers.set_timeout(on_fail, self.server.upgrade_timeout)
        self._upgrade_timer.unref()

    # closing ---------------------------------------------------------------------------------
    def close(self, discard: bool = False, force: bool = False) -> None:
        """Close the session after flushing what is queued (unless ``discard``).

        On polling with no poll waiting, the CLOSE packet waits for the next poll
        (Engine.IO's rule) unless ``force``: the session then ends at once.
        """
        if self.ready_state != "open":
            if force and self.ready_state == "closing":
                self._on_close("forced close")  # the server goes away: no waiting for a poll
            return
        self.ready_state = "closing"
        if self._buffer and not discard:
            self.once("drain", lambda: self._close_transport(force))
            self.flush()
            return
        self._close_transport(force)

    def _close_transport(self, force: bool = False) -> None:
        self.transport.close(lambda: self._on_close("forced close"), force)

    def _on_close(self, reason: str, description: Any = None) -> None:
        if self.ready_state == "closed":
            return
        self.ready_state = "closed"
        for timer in (self._ping_timer, self._pong_timer, self._upgrade_timer):
            if timer is not None:
                timer.close()
        self._ping_timer = self._pong_timer = self._upgrade_timer = None
        transport = self.transport
        self._unbind(transport)
        transport.on("error", _ignore)
        # the session is gone: a poll that comes later gets "Session ID unknown"
        transport.close(force=True)
        self._buffer = []
        self.emit("close", reason, description)

    def __repr__(self) -> str:
        return f"<EngineSocket {self.id} {self.transport.name} {self.ready_state}>"


def _ignore(*_: Any) -> None:
    pass
