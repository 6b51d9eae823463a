"""The in-memory adapter: rooms of one namespace on one server, and local broadcasts.

Theory of operation
-------------------
As in ``socket.io-adapter``: ``rooms`` maps a room to the ids of its sockets, ``sids``
a socket id to its rooms; every socket is in the room named by its own id, which is
how ``to(socket_id)`` and ``except_(socket_id)`` work. A broadcast selects sockets by
:class:`BroadcastOptions` (``rooms``: any of them, or every socket when empty;
``except_``: none of them), encodes the packet once and hands the same encoded
messages to each selected socket's connection. Adapters for several servers
(:mod:`.redis_adapter`) subclass this one and add the forwarding; everything here is
the local half they call.

Room names are strings (``socket.io``'s JS rooms may be any value; numbers arrive as
numbers from Node peers and are kept as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..events import EventEmitter
from . import parser as sio
from ._client import ws_frames

if TYPE_CHECKING:
    from .namespace import Namespace
    from .socket import Socket

__all__ = ["Adapter", "BroadcastOptions"]

Room = Any


class BroadcastOptions:
    """Which sockets a broadcast reaches: ``rooms`` (empty: all), ``except_``, ``flags``.

    ``flags`` keeps socket.io's names: ``volatile``, ``compress``, ``local``,
    ``timeout`` (seconds here; milliseconds on the wire to other servers).
    """

    __slots__ = ("except_", "flags", "rooms")

    def __init__(
        self,
        rooms: Iterable[Room] = (),
        except_: Iterable[Room] = (),
        flags: dict[str, Any] | None = None,
    ) -> None:
        self.rooms: set[Room] = set(rooms)
        self.except_: set[Room] = set(except_)
        self.flags: dict[str, Any] = flags if flags is not None else {}

    def __repr__(self) -> str:
        return f"BroadcastOptions({self.rooms!r}, except_={self.except_!r}, flags={self.flags!r})"


class Adapter(EventEmitter):
    """Rooms and broadcasts of one namespace on this server (``socket.io-adapter``).

    Emits ``'create-room'``(room), ``'delete-room'``(room), ``'join-room'``(room, id),
    ``'leave-room'``(room, id), as Node's does.
    """

    def __init__(self, nsp: Namespace) -> None:
        super().__init__()
        self.nsp = nsp
        self.rooms: dict[Room, set[str]] = {}
        self.sids: dict[str, set[Room]] = {}

    # life cycle ---------------------------------------------------------------------
    def init(self) -> None:
        """Called once the namespace is ready; adapters for several servers subscribe."""

    def close(self) -> Any:
        """Called when the server closes."""
        return None

    async def server_count(self) -> int:
        """How many servers share this namespace (1 here)."""
        return 1

    # rooms ----------------------------------------------------------------------------
    def add_all(self, id: str, rooms: Iterable[Room]) -> None:
        mine = self.sids.get(id)
        if mine is None:
            mine = self.sids[id] = set()
        for room in rooms:
            mine.add(room)
            members = self.rooms.get(room)
            if members is None:
                members = self.rooms[room] = set()
                self.emit("create-room", room)
            if id not in members:
                members.add(id)
                self.emit("join-room", room, id)

    def delete(self, id: str, room: Room) -> None:
        mine = self.sids.get(id)
        if mine is not None:
            mine.discard(room)
        self._del(room, id)

    def _del(self, room: Room, id: str) -> None:
        members = self.rooms.get(room)
        if members is None:
            return
        if id in members:
            members.discard(id)
            self.emit("leave-room", room, id)
        if not members and self.rooms.pop(room, None) is not None:
            self.emit("delete-room", room)

    def del_all(self, id: str) -> None:
        mine = self.sids.pop(id, None)
        if mine is None:
            return
        for room in mine:
            self._del(room, id)

    def socket_rooms(self, id: str) -> set[Room] | None:
        return self.sids.get(id)

    # broadcasts -------------------------------------------------------------------------
    def broadcast(self, packet: sio.Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to the local sockets ``opts`` selects."""
        packet.nsp = self.nsp.name
        sockets = self._select(opts)
        if not sockets:
            return
        encoded = sio.encode(packet)
        volatile = bool(opts.flags.get("volatile"))
        # for many recipients, the WebSocket payloads are made once (Node precomputes
        # the frame the same way)
        frames = ws_frames(encoded) if len(sockets) > 1 else None
        for socket in sockets:
            socket.client.write_to_engine(encoded, volatile, frames)

    def broadcast_with_ack(
        self,
        packet: sio.Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], Any],
        ack: Callable[..., Any],
    ) -> None:
        """Broadcast asking each socket for an ack; ``ack`` gets each answer."""
        packet.nsp = self.nsp.name
        packet.id = self.nsp.next_ack_id()
        encoded = sio.encode(packet)
        volatile = bool(opts.flags.get("volatile"))
        count = 0
        for socket in self._select(opts):
            count += 1
            socket.acks[packet.id] = ack
            socket.client.write_to_engine(encoded, volatile)
        client_count_callback(count)

    async def sockets(self, rooms: Iterable[Room]) -> set[str]:
        """Ids of the sockets in any of ``rooms`` (all when empty)."""
        return {s.id for s in self._select(BroadcastOptions(rooms))}

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Any]:
        return list(self._select(opts))

    def add_sockets(self, opts: BroadcastOptions, rooms: list[Room]) -> None:
        for socket in self._select(opts):
            socket.join(rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: list[Room]) -> None:
        for socket in self._select(opts):
            for room in rooms:
                socket.leave(room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for socket in self._select(opts):
            socket.disconnect(close)

    def server_side_emit(self, packet: list[Any]) -> None:
        """Forward an event to the other servers: nothing to do with one server."""
        if packet and callable(packet[-1]):
            packet[-1](None, [])

    def _select(self, opts: BroadcastOptions) -> list[Socket]:
        """The local sockets ``opts`` selects, each once, in join order."""
        sockets = self.nsp.sockets
        except_: set[str] = set()
        for room in opts.except_:
            members = self.rooms.get(room)
            if members:
                except_ |= members
        out: list[Socket] = []
        if opts.rooms:
            seen: set[str] = set()
            for room in opts.rooms:
                for id in self.rooms.get(room, ()):
                    if id in seen or id in except_:
                        continue
                    socket = sockets.get(id)
                    if socket is not None:
                        out.append(socket)
                        seen.add(id)
        else:
            for id in self.sids:
                if id in except_:
                    continue
                socket = sockets.get(id)
                if socket is not None:
                    out.append(socket)
        return out
