"""``nodish.net``: TCP and Unix-domain stream servers and clients, Node's ``net`` module.

    from nodish import net

    server = net.create_server(lambda sock: sock.pipe(sock))   # echo
    server.listen(8124)

    sock = net.connect(8124, callback=lambda: sock.write('hello'))
    sock.on('data', print)

Mirrors https://nodejs.org/docs/latest-v20.x/api/net.html with Python names
(``create_server``, ``set_no_delay``, ``allow_half_open=``) and durations in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._address import is_ip, is_ipv4, is_ipv6
from .server import DropInfo, Server
from .socket import Socket

__all__ = [
    "DropInfo",
    "Server",
    "Socket",
    "connect",
    "create_connection",
    "create_server",
    "is_ip",
    "is_ipv4",
    "is_ipv6",
]


def create_server(
    connection_listener: Callable[[Socket], Any] | None = None,
    *,
    allow_half_open: bool = False,
    pause_on_connect: bool = False,
    no_delay: bool = False,
    keep_alive: bool = False,
    keep_alive_initial_delay: float = 0,
    high_water_mark: int | None = None,
) -> Server:
    """A new :class:`Server`; ``connection_listener`` is added for ``'connection'``."""
    return Server(
        connection_listener,
        allow_half_open=allow_half_open,
        pause_on_connect=pause_on_connect,
        no_delay=no_delay,
        keep_alive=keep_alive,
        keep_alive_initial_delay=keep_alive_initial_delay,
        high_water_mark=high_water_mark,
    )


def connect(
    port: int | None = None,
    host: str | None = "localhost",
    *,
    path: str | None = None,
    local_address: str | None = None,
    local_port: int | None = None,
    family: int = 0,
    timeout: float | None = None,
    allow_half_open: bool = False,
    no_delay: bool = False,
    keep_alive: bool = False,
    keep_alive_initial_delay: float = 0,
    high_water_mark: int | None = None,
    callback: Callable[[], Any] | None = None,
) -> Socket:
    """Open a connection and return its :class:`Socket` at once (Node's ``net.connect``).

    The socket emits ``'connect'`` when the connection is up; ``callback`` is added as
    its listener. The socket is also awaitable: ``sock = await net.connect(port)``
    raises the connection error (``ConnectionRefusedError`` with
    ``code == 'ECONNREFUSED'``, ``ENOTFOUND`` ...) instead of emitting it.

    Raises:
        ERR_SOCKET_BAD_PORT: bad port, at once.
    """
    sock = Socket(
        allow_half_open=allow_half_open,
        no_delay=no_delay,
        keep_alive=keep_alive,
        keep_alive_initial_delay=keep_alive_initial_delay,
        high_water_mark=high_water_mark,
    )
    return sock.connect(
        port,
        host,
        path=path,
        local_address=local_address,
        local_port=local_port,
        family=family,
        timeout=timeout,
        callback=callback,
    )


create_connection = connect
