"""Dynamic namespaces: ``io.of(re.compile(r'^/dynamic-\\d+$'))`` or ``io.of(check)``.

Theory of operation
-------------------
As socket.io's ``ParentNamespace``: ``io.of(pattern_or_check)`` makes a parent
namespace that no client joins by name (its name is ``/_0``, ``/_1``...). When a client
asks for a namespace the server does not have, the server asks each parent in the order
they were made: a pattern matches with ``search`` (JavaScript's ``RegExp.test``), a
check is called ``check(name, auth, next)`` and answers ``next(None, True)`` to accept
(``next(err)`` or ``next(None, False)`` passes to the next parent; a check that raises
counts as a refusal; a coroutine check may call ``next`` from inside). The first parent
that accepts makes a child namespace of that name: it takes the parent's middleware and
its ``'connect'``/``'connection'`` listeners as they are at that moment, and the
server's main namespace emits ``'new_namespace'``(child). No parent accepting: the
client gets CONNECT_ERROR ``{"message": "Invalid namespace"}``, as from Node.

``parent.emit`` (and ``parent.to(room).emit``) reaches every child; ``fetch_sockets``
is refused on a parent, as in Node (children may differ from server to server). With
the server's ``cleanup_empty_child_namespaces=True``, a child whose last socket leaves
is closed and forgotten; the next client to ask makes a new one.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from .adapter import Adapter, BroadcastOptions
from .namespace import Namespace

if TYPE_CHECKING:
    from . import parser as sio
    from .server import Server

__all__ = ["ParentNamespace"]


class ParentNamespace(Namespace):
    """The namespaces made on demand for one pattern or check; ``children`` holds them."""

    _count = itertools.count()

    def __init__(self, server: Server) -> None:
        # insertion-ordered, as Node's Set
        self.children: dict[Namespace, None] = {}
        super().__init__(server, f"/_{next(ParentNamespace._count)}")

    def _init_adapter(self) -> Adapter:
        return _ParentBroadcastAdapter(self)

    def emit(self, event: str, *args: Any, callback: Any = None) -> bool:  # type: ignore[override]
        """Emit ``event`` in every child namespace."""
        for nsp in list(self.children):
            nsp.emit(event, *args, callback=callback)
        return True

    async def fetch_sockets(self) -> list[Any]:
        raise RuntimeError("fetch_sockets() is not supported on parent namespaces")

    def create_child(self, name: str) -> Namespace:
        """Make the child namespace ``name`` (the server calls it)."""
        server = self.server
        nsp = Namespace(server, name)
        for fn in self._fns:
            nsp.use(fn)
        for event in ("connect", "connection"):
            for listener in self.listeners(event):
                nsp.on(event, listener)
        self.children[nsp] = None
        if server.cleanup_empty_child_namespaces:
            nsp._on_empty = lambda: self._close_child(nsp)
        server._nsps[name] = nsp
        server.sockets.emit_local("new_namespace", nsp)
        return nsp

    def _close_child(self, nsp: Namespace) -> None:
        server = self.server
        if server._nsps.get(nsp.name) is nsp:
            del server._nsps[nsp.name]
        self.children.pop(nsp, None)
        server._close_adapter(nsp)

    def __repr__(self) -> str:
        return f"<ParentNamespace {self.name!r} children={[n.name for n in self.children]}>"


class _ParentBroadcastAdapter(Adapter):
    """Broadcasts go to the children's adapters; the parent has no sockets of its own."""

    def broadcast(self, packet: sio.Packet, opts: BroadcastOptions) -> None:
        nsp = self.nsp
        assert isinstance(nsp, ParentNamespace)
        for child in list(nsp.children):
            # a packet each: an adapter may keep it (the Redis one publishes later)
            copy = type(packet)(packet.type, packet.data, child.name, packet.id)
            child.adapter.broadcast(copy, opts)
