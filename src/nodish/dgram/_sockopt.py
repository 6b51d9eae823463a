"""Socket-level helpers for ``dgram``: creation, options, multicast, disconnect.

Everything here is a thin, synchronous layer over ``setsockopt`` that does what libuv's
``uv_udp_*`` functions do for Node, and raises the ``OSError`` the kernel gave (or
``EINVAL`` where libuv refuses an argument before asking the kernel). The caller turns
the ``OSError`` into Node's error with the right ``syscall``.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
from functools import lru_cache
from typing import Any

from .._address import is_ip

__all__ = [
    "add_membership",
    "add_source_membership",
    "disconnect",
    "numeric_host",
    "open_socket",
    "set_multicast_interface",
]

_LINUX = sys.platform.startswith("linux")

# Not every Python build names these; the values are the Linux ABI (<netinet/in.h>,
# <linux/in.h>), used only on Linux.
_IP_ADD_SOURCE_MEMBERSHIP = getattr(socket, "IP_ADD_SOURCE_MEMBERSHIP", 39)
_IP_DROP_SOURCE_MEMBERSHIP = getattr(socket, "IP_DROP_SOURCE_MEMBERSHIP", 40)
_MCAST_JOIN_SOURCE_GROUP = getattr(socket, "MCAST_JOIN_SOURCE_GROUP", 46)
_MCAST_LEAVE_SOURCE_GROUP = getattr(socket, "MCAST_LEAVE_SOURCE_GROUP", 47)


def _einval() -> OSError:
    return OSError(errno.EINVAL, "invalid argument")


@lru_cache(maxsize=512)
def numeric_host(address: str, v6: bool) -> str | None:
    """The numeric form of ``address`` for a socket of the given family.

    Returns:
        ``address`` itself when it is an IP literal of the socket's family; an IPv4
        literal mapped into IPv6 (``::ffff:a.b.c.d``) for an IPv6 socket; ``''`` for an
        IPv6 literal given to an IPv4 socket (the caller reports EINVAL); None when it
        is a host name that needs a lookup.
    """
    kind = is_ip(address)
    if kind == 0:
        return None
    if v6:
        return address if kind == 6 else "::ffff:" + address
    return address if kind == 4 else ""


def open_socket(
    v6: bool,
    *,
    reuse_addr: bool,
    reuse_port: bool,
    ipv6_only: bool,
    recv_buffer_size: int | None,
    send_buffer_size: int | None,
) -> socket.socket:
    """A new non-blocking UDP socket with the options applied (before ``bind``)."""
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(socket, "SO_REUSEPORT"):
                raise OSError(errno.ENOTSUP, "SO_REUSEPORT is not supported")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if v6 and ipv6_only:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if recv_buffer_size:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer_size)
        if send_buffer_size:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_size)
    except BaseException:
        sock.close()
        raise
    return sock


def _ifindex(zone: str) -> int:
    """The interface index of an IPv6 zone (``'eth0'`` or ``'2'``)."""
    if zone.isdigit():
        return int(zone)
    try:
        return socket.if_nametoindex(zone)
    except OSError:
        raise _einval() from None


def _ipv6_and_index(address: str) -> tuple[bytes, int]:
    """``('fe80::1%eth0')`` → the 16 address bytes and the zone's interface index."""
    host, _, zone = address.partition("%")
    try:
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        raise _einval() from None
    return packed, (_ifindex(zone) if zone else 0)


def _ipv4(address: str | None) -> bytes:
    if address is None:
        return b"\x00\x00\x00\x00"  # INADDR_ANY: the kernel picks the interface
    if is_ip(address) != 4:
        raise _einval()
    return socket.inet_aton(address)


def add_membership(sock: socket.socket, group: str, interface: str | None, add: bool) -> None:
    """Join (``add``) or leave a multicast group, as libuv's ``uv_udp_set_membership``."""
    kind = is_ip(group)
    if kind == 4:
        mreq = socket.inet_aton(group) + _ipv4(interface)
        opt = socket.IP_ADD_MEMBERSHIP if add else socket.IP_DROP_MEMBERSHIP
        sock.setsockopt(socket.IPPROTO_IP, opt, mreq)
    elif kind == 6:
        packed, _ = _ipv6_and_index(group)
        index = _ipv6_and_index(interface)[1] if interface is not None else 0
        opt6 = socket.IPV6_JOIN_GROUP if add else socket.IPV6_LEAVE_GROUP
        sock.setsockopt(socket.IPPROTO_IPV6, opt6, packed + struct.pack("@I", index))
    else:
        raise _einval()


def _sockaddr_storage_in6(packed: bytes) -> bytes:
    # struct sockaddr_in6 (family, port, flowinfo, addr, scope_id) in a 128-byte
    # sockaddr_storage; family is in host byte order, the rest in network order.
    sin6 = struct.pack("@H", socket.AF_INET6) + b"\x00\x00" + b"\x00" * 4 + packed + b"\x00" * 4
    return sin6 + b"\x00" * (128 - len(sin6))


def add_source_membership(
    sock: socket.socket, source: str, group: str, interface: str | None, add: bool
) -> None:
    """Join or leave a source-specific multicast channel (``uv_udp_set_source_membership``).

    Raises ``ENOSYS`` where the platform's structure layout is not known (not Linux).
    """
    if not _LINUX:
        raise OSError(errno.ENOSYS, "source-specific multicast is not supported here")
    kind = is_ip(group)
    if kind != is_ip(source) or kind == 0:
        raise _einval()
    if kind == 4:
        # Linux's struct ip_mreq_source: multiaddr, interface, sourceaddr.
        mreq = socket.inet_aton(group) + _ipv4(interface) + socket.inet_aton(source)
        opt = _IP_ADD_SOURCE_MEMBERSHIP if add else _IP_DROP_SOURCE_MEMBERSHIP
        sock.setsockopt(socket.IPPROTO_IP, opt, mreq)
        return
    group_packed, _ = _ipv6_and_index(group)
    source_packed, _ = _ipv6_and_index(source)
    index = _ipv6_and_index(interface)[1] if interface is not None else 0
    # struct group_source_req: uint32 interface, padding to sockaddr_storage's
    # alignment (8), then the group and the source as sockaddr_storage.
    req = (
        struct.pack("@I", index)
        + b"\x00" * 4
        + _sockaddr_storage_in6(group_packed)
        + _sockaddr_storage_in6(source_packed)
    )
    opt6 = _MCAST_JOIN_SOURCE_GROUP if add else _MCAST_LEAVE_SOURCE_GROUP
    sock.setsockopt(socket.IPPROTO_IPV6, opt6, req)


def set_multicast_interface(sock: socket.socket, v6: bool, interface: str) -> None:
    """Choose the outgoing interface for multicast (``uv_udp_set_multicast_interface``).

    For IPv4 ``interface`` is the interface's address; for IPv6 it is ``'::%eth0'`` (the
    zone names the interface, the address part is ignored), as in Node. As libuv, the
    form of the address picks the option, not the socket's family: an IPv4 address
    given to a ``'udp6'`` socket sets ``IP_MULTICAST_IF`` (its IPv4-mapped traffic),
    an IPv6 one on a ``'udp4'`` socket fails with ``ENOPROTOOPT``.
    """
    kind = is_ip(interface)
    if kind == 4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _ipv4(interface))
    elif kind == 6:
        _, index = _ipv6_and_index(interface)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    else:
        raise _einval()


_libc: Any = None


def disconnect(sock: socket.socket) -> None:
    """Dissolve a UDP socket's association (``connect`` to ``AF_UNSPEC``).

    Python's ``socket.connect`` cannot express ``AF_UNSPEC``, so this calls libc's
    ``connect(2)`` directly, as libuv's ``uv_udp_disconnect`` does. macOS answers
    ``EAFNOSUPPORT`` but disconnects anyway, so that answer is not an error.
    """
    import ctypes  # only here: most programs never disconnect a UDP socket

    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    # struct sockaddr with sa_family = AF_UNSPEC, sized like a sockaddr_in6
    addr = ctypes.create_string_buffer(struct.pack("@H", socket.AF_UNSPEC), 28)
    rc = _libc.connect(sock.fileno(), addr, ctypes.sizeof(addr))
    if rc != 0:
        err = ctypes.get_errno()
        if err != errno.EAFNOSUPPORT:
            raise OSError(err, "disconnect failed")
