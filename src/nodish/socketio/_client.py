"""One Engine.IO connection seen from Socket.IO: its decoder and its namespaces.

A connection may join several namespaces (one :class:`Socket` each) over one
transport. Packets are decoded here and routed by namespace; a packet that cannot be
decoded, or that arrives for a namespace the client has not joined, closes this
connection alone (Node: ``client.onerror`` then ``conn.close()``). A connection that
joins no namespace within ``connect_timeout`` is closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import runtime, timers
from ..ws.frames import OP_BINARY, OP_TEXT, encode_frame
from . import parser as sio
from .engine_parser import MESSAGE

if TYPE_CHECKING:
    from .namespace import Namespace
    from .server import Server
    from .socket import Socket

__all__ = ["Client", "ws_frames"]

_PLAIN = frozenset("01234")  # packet types that carry no attachments


def ws_frames(encoded: list[str | bytes]) -> list[bytes]:
    """Engine.IO message packets as whole WebSocket frames (server side, unmasked).

    A broadcast builds them once for all its recipients, as Node does.
    """
    out: list[bytes] = []
    for m in encoded:
        if isinstance(m, bytes):
            out.append(b"".join(encode_frame(OP_BINARY, m)))
        else:
            out.append(b"".join(encode_frame(OP_TEXT, ("4" + m).encode("utf-8"))))
    return out


class Client:
    """The Socket.IO side of one Engine.IO connection (``conn``)."""

    __slots__ = ("_timer", "conn", "decoder", "id", "nsps", "server", "sockets")

    def __init__(self, server: Server, conn: Any) -> None:
        self.server = server
        self.conn = conn
        self.id: str = conn.id
        self.decoder = sio.Decoder()
        self.sockets: dict[str, Socket] = {}
        self.nsps: dict[str, Socket] = {}
        conn.on("data", self._on_data)
        conn.on("error", self._on_error)
        conn.on("close", self._on_close)
        self._timer: timers.Timeout | None = timers.set_timeout(
            self._on_connect_timeout, server.connect_timeout
        )
        self._timer.unref()

    def _on_connect_timeout(self) -> None:
        self._timer = None
        if not self.nsps:
            # as Node: a polling client gets the CLOSE packet on its next poll (so that it
            # hears "transport close"); a session that never polls again ends after the
            # engine's close_timeout
            self.close()

    # incoming ----------------------------------------------------------------------------
    def _on_data(self, data: str | bytes) -> None:
        decoder = self.decoder
        try:
            if type(data) is str and data[:1] in _PLAIN and decoder._pending is None:
                # a packet without attachments: what add() returns for it, one step less
                packet: sio.Packet | None = sio.decode_string(data)
            else:
                packet = decoder.add(data)
        except sio.SocketIOParseError as exc:
            self._on_error(exc)
            return
        if packet is None:
            return
        socket = self.nsps.get(packet.nsp)
        if socket is not None and packet.type not in (sio.CONNECT, sio.CONNECT_ERROR):
            try:
                socket._on_packet(packet)
            except BaseException as exc:
                runtime.report_uncaught(exc, socket)
        elif socket is None and packet.type == sio.CONNECT:
            self.connect(packet.nsp, packet.data if packet.data is not None else {})
        else:
            # a packet for a namespace it has not joined, or a second CONNECT
            self.close(force=True)

    def connect(self, name: str, auth: Any) -> None:
        nsp = self.server._nsps.get(name)
        if nsp is not None:
            nsp._add_client(self, auth, self._connected)
            return

        def checked(nsp: Namespace | None) -> None:
            if nsp is None:
                self.packet(sio.Packet(sio.CONNECT_ERROR, {"message": "Invalid namespace"}, name))
            else:
                nsp._add_client(self, auth, self._connected)

        # a dynamic namespace, if a parent accepts the name
        self.server._check_namespace(name, auth, checked)

    def _connected(self, socket: Socket) -> None:
        self.sockets[socket.id] = socket
        self.nsps[socket.nsp.name] = socket
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    def _remove(self, socket: Socket) -> None:
        if self.sockets.pop(socket.id, None) is not None:
            self.nsps.pop(socket.nsp.name, None)

    # outgoing ----------------------------------------------------------------------------
    def packet(self, packet: sio.Packet, volatile: bool = False) -> None:
        if self.conn.ready_state != "open":
            return
        self.write_to_engine(sio.encode(packet), volatile)

    def write_to_engine(
        self,
        encoded: list[str | bytes],
        volatile: bool = False,
        frames: list[bytes] | None = None,
    ) -> None:
        """Send encoded Socket.IO messages; ``frames`` are the same as WebSocket payloads
        prepared once for a broadcast (see :func:`ws_frames`)."""
        conn = self.conn
        if volatile and not conn.transport.writable:
            return
        if frames is not None and conn.write_frames(frames):
            return
        for message in encoded:
            conn.send_packet(MESSAGE, message)

    # closing -------------------------------------------------------------------------------
    def _on_error(self, err: BaseException) -> None:
        for socket in list(self.sockets.values()):
            socket._on_error(err)
        # a peer that sends garbage is not waited for
        self.conn.close(force=True)

    def close(self, force: bool = False) -> None:
        """Close the connection; ``force`` does not wait for a polling client's next poll."""
        if self.conn.ready_state == "open":
            self.conn.close(force=force)
            self._on_close("forced server close")

    def disconnect_all(self) -> None:
        for socket in list(self.sockets.values()):
            socket.disconnect()
        self.sockets.clear()
        self.close()

    def _on_close(self, reason: str, description: Any = None) -> None:
        conn = self.conn
        conn.remove_listener("data", self._on_data)
        conn.remove_listener("error", self._on_error)
        conn.remove_listener("close", self._on_close)
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        for socket in list(self.sockets.values()):
            socket._on_close(reason, description)
        self.sockets.clear()
        self.nsps.clear()
        self.decoder.destroy()
