"""UDP datagram sockets with Node's ``dgram`` API.

Mirrors https://nodejs.org/docs/latest-v20.x/api/dgram.html with Python's naming::

    import nodish
    from nodish import dgram

    server = dgram.create_socket("udp4")
    server.on("message", lambda msg, rinfo: print(f"got {msg!r} from {rinfo.address}:{rinfo.port}"))
    server.on("listening", lambda: print("listening", server.address().port))
    server.bind(41234)
    nodish.run()

Differences from Node, each deliberate:

* A ``'message'`` listener that raises loses that datagram alone; the exception takes
  nodish's uncaught path and the socket keeps serving.
* ``bind()`` refuses a port outside 0-65535 at once (``ERR_SOCKET_BAD_PORT``).
* Socket options asked of a socket that is not bound yet fail with ``EBADF``, the
  membership calls included (Node's libuv would bind such a socket on the quiet).
* An IPv4 destination given to a ``'udp6'`` socket is sent to its IPv4-mapped IPv6
  address instead of failing with ``EINVAL``.
* ``exclusive`` is accepted and means nothing: there is no cluster module to share
  handles with.
"""

from __future__ import annotations

from typing import Any

from .._address import AddressInfo, RemoteInfo
from .socket import Socket

__all__ = ["AddressInfo", "RemoteInfo", "Socket", "create_socket"]


def create_socket(
    type: str = "udp4",
    message_listener: Any = None,
    *,
    reuse_addr: bool = False,
    reuse_port: bool = False,
    ipv6_only: bool = False,
    recv_buffer_size: int | None = None,
    send_buffer_size: int | None = None,
) -> Socket:
    """A new UDP socket (Node's ``dgram.createSocket``).

    Args:
        type: ``'udp4'`` or ``'udp6'``.
        message_listener: added as a ``'message'`` listener.
        reuse_addr: ``SO_REUSEADDR``: bind even if the port is in use by a socket that
            set it too (multicast receivers).
        reuse_port: ``SO_REUSEPORT``: the kernel spreads datagrams over every socket
            bound to the port.
        ipv6_only: for ``'udp6'``, refuse IPv4 traffic (``IPV6_V6ONLY``).
        recv_buffer_size, send_buffer_size: ``SO_RCVBUF``/``SO_SNDBUF`` in bytes.

    Raises:
        ERR_SOCKET_BAD_TYPE: another ``type``.
        ERR_SOCKET_BAD_BUFFER_SIZE: a size that is not a non-negative int.
    """
    return Socket(
        type,
        message_listener,
        reuse_addr=reuse_addr,
        reuse_port=reuse_port,
        ipv6_only=ipv6_only,
        recv_buffer_size=recv_buffer_size,
        send_buffer_size=send_buffer_size,
    )
