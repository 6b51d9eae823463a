"""Socket.IO for nodish: Engine.IO v4 and Socket.IO v5, server, client and Redis adapter.

    from nodish import socketio

    io = socketio.Server()

    def on_connection(socket):
        socket.on('chat', lambda msg: io.emit('chat', msg))

    io.on('connection', on_connection)
    io.listen(3000)

The protocol codecs (:mod:`.engine_parser`, :mod:`.parser`) are sans-I/O and usable
alone.
"""

from __future__ import annotations

from . import engine_parser, parser
from .adapter import Adapter, BroadcastOptions
from .broadcast import BroadcastOperator, RemoteSocket
from .client import ClientSocket, ConnectError, Manager, connect
from .namespace import Namespace
from .redis_adapter import RedisAdapter, create_redis_adapter
from .server import Server
from .socket import Socket

__all__ = [
    "Adapter",
    "BroadcastOperator",
    "BroadcastOptions",
    "ClientSocket",
    "ConnectError",
    "Manager",
    "Namespace",
    "RedisAdapter",
    "RemoteSocket",
    "Server",
    "Socket",
    "connect",
    "create_redis_adapter",
    "engine_parser",
    "parser",
]
