"""Socket options of ``dgram.Socket``: broadcast, TTLs, multicast, buffer sizes.

A mixin of :class:`~nodish.dgram.Socket`. Every call works on the bound OS socket and
raises at once, as Node's do: ``EBADF`` before ``bind`` (there is no OS socket yet, as
in libuv), ``ERR_SOCKET_DGRAM_NOT_RUNNING`` after ``close``, and the kernel's answer as a
system error whose ``syscall`` is Node's method name (``setTTL EINVAL``).
"""

from __future__ import annotations

import asyncio
import errno as _errno
import socket as _socket
import sys
from typing import Any, cast

from .. import runtime
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_MISSING_ARGS,
    ERR_SOCKET_BAD_BUFFER_SIZE,
    ERR_SOCKET_BUFFER_SIZE,
    ERR_SOCKET_DGRAM_NOT_RUNNING,
    system_error,
    translate_os_error,
)
from . import _sockopt
from ._args import check_address, check_int

_get_running_loop = asyncio._get_running_loop

__all__ = ["SocketOptions", "buffered"]

_BOUND = 2


def buffered(transport: asyncio.BaseTransport) -> int:
    """Bytes a datagram transport holds (asyncio's and uvloop's both have the method)."""
    return cast(asyncio.WriteTransport, transport).get_write_buffer_size()


class SocketOptions:
    """Node's socket-option methods, for :class:`~nodish.dgram.Socket`."""

    __slots__ = ()

    _bind_state: int
    _closed: bool
    _loop: asyncio.AbstractEventLoop
    _sock: _socket.socket | None
    _transport: asyncio.DatagramTransport | None
    _v6: bool

    def _health_check(self) -> None:
        """Node's ``healthCheck``: every call on a closed socket is ERR_SOCKET_DGRAM_NOT_RUNNING.

        Also: every call from a thread other than the running loop's is
        ERR_INVALID_THREAD.
        """
        if _get_running_loop() is not self._loop:
            caller = sys._getframe(1).f_code.co_name
            runtime.check_thread(self._loop, f"dgram.Socket.{caller}()")
        if self._closed:
            raise ERR_SOCKET_DGRAM_NOT_RUNNING()

    def _bound_sock(self, syscall: str) -> _socket.socket:
        """The OS socket for an option call; EBADF before bind, as libuv answers."""
        self._health_check()
        sock = self._sock
        if sock is None or self._bind_state != _BOUND:
            raise system_error(_errno.EBADF, syscall)
        return sock

    def set_broadcast(self, flag: bool) -> None:
        """Allow sending to broadcast addresses (``SO_BROADCAST``)."""
        sock = self._bound_sock("setBroadcast")
        self._setsockopt(sock, "setBroadcast", _socket.SOL_SOCKET, _socket.SO_BROADCAST, flag)

    def set_ttl(self, ttl: int) -> int:
        """Set the unicast hop limit (``IP_TTL``/``IPV6_UNICAST_HOPS``), 1-255. Returns it."""
        check_int(ttl, "ttl")
        sock = self._bound_sock("setTTL")
        if not 1 <= ttl <= 255:
            raise system_error(_errno.EINVAL, "setTTL")
        level, opt = (
            (_socket.IPPROTO_IPV6, _socket.IPV6_UNICAST_HOPS)
            if self._v6
            else (_socket.IPPROTO_IP, _socket.IP_TTL)
        )
        self._setsockopt(sock, "setTTL", level, opt, ttl)
        return ttl

    def set_multicast_ttl(self, ttl: int) -> int:
        """Set the multicast hop limit, 0-255 (``IP_MULTICAST_TTL``). Returns it."""
        check_int(ttl, "ttl")
        sock = self._bound_sock("setMulticastTTL")
        if not 0 <= ttl <= 255:
            raise system_error(_errno.EINVAL, "setMulticastTTL")
        level, opt = (
            (_socket.IPPROTO_IPV6, _socket.IPV6_MULTICAST_HOPS)
            if self._v6
            else (_socket.IPPROTO_IP, _socket.IP_MULTICAST_TTL)
        )
        self._setsockopt(sock, "setMulticastTTL", level, opt, ttl)
        return ttl

    def set_multicast_loopback(self, flag: bool) -> bool:
        """Whether this host's own multicast datagrams loop back to it. Returns ``flag``."""
        sock = self._bound_sock("setMulticastLoopback")
        level, opt = (
            (_socket.IPPROTO_IPV6, _socket.IPV6_MULTICAST_LOOP)
            if self._v6
            else (_socket.IPPROTO_IP, _socket.IP_MULTICAST_LOOP)
        )
        self._setsockopt(sock, "setMulticastLoopback", level, opt, flag)
        return flag

    def set_multicast_interface(self, multicast_interface: str) -> None:
        """Choose the interface multicast datagrams leave by.

        ``'udp4'``: the interface's IPv4 address. ``'udp6'``: ``'::%eth0'`` (the zone
        names the interface), as in Node.
        """
        check_address(multicast_interface, "multicast_interface")
        sock = self._bound_sock("setMulticastInterface")
        try:
            _sockopt.set_multicast_interface(sock, self._v6, multicast_interface)
        except OSError as exc:
            raise translate_os_error(exc, "setMulticastInterface") from None

    def add_membership(
        self, multicast_address: str, multicast_interface: str | None = None
    ) -> None:
        """Join a multicast group (``IP_ADD_MEMBERSHIP``/``IPV6_JOIN_GROUP``)."""
        self._membership("addMembership", multicast_address, multicast_interface, True)

    def drop_membership(
        self, multicast_address: str, multicast_interface: str | None = None
    ) -> None:
        """Leave a multicast group."""
        self._membership("dropMembership", multicast_address, multicast_interface, False)

    def _membership(self, syscall: str, group: str, interface: str | None, add: bool) -> None:
        if not group:
            raise ERR_MISSING_ARGS("multicastAddress")
        check_address(group, "multicast_address")
        check_address(interface, "multicast_interface")
        sock = self._bound_sock(syscall)
        try:
            _sockopt.add_membership(sock, group, interface, add)
        except OSError as exc:
            raise translate_os_error(exc, syscall) from None

    def add_source_specific_membership(
        self, source_address: str, group_address: str, multicast_interface: str | None = None
    ) -> None:
        """Join a source-specific multicast channel (only ``source_address``'s datagrams)."""
        self._source_membership(
            "addSourceSpecificMembership", source_address, group_address, multicast_interface, True
        )

    def drop_source_specific_membership(
        self, source_address: str, group_address: str, multicast_interface: str | None = None
    ) -> None:
        """Leave a source-specific multicast channel."""
        self._source_membership(
            "dropSourceSpecificMembership",
            source_address,
            group_address,
            multicast_interface,
            False,
        )

    def _source_membership(
        self, syscall: str, source: str, group: str, interface: str | None, add: bool
    ) -> None:
        for name, value in (("source_address", source), ("group_address", group)):
            if not isinstance(value, str):
                raise ERR_INVALID_ARG_TYPE(name, "of type str", type(value).__name__)
        check_address(interface, "multicast_interface")
        sock = self._bound_sock(syscall)
        try:
            _sockopt.add_source_membership(sock, source, group, interface, add)
        except OSError as exc:
            raise translate_os_error(exc, syscall) from None

    def get_recv_buffer_size(self) -> int:
        """The kernel's receive buffer size (``SO_RCVBUF``; Linux reports twice the set value)."""
        return self._buffer_size(_socket.SO_RCVBUF, "uv_recv_buffer_size", None)

    def set_recv_buffer_size(self, size: int) -> None:
        """Set the receive buffer size in bytes (``SO_RCVBUF``)."""
        self._buffer_size(_socket.SO_RCVBUF, "uv_recv_buffer_size", size)

    def get_send_buffer_size(self) -> int:
        """The kernel's send buffer size (``SO_SNDBUF``)."""
        return self._buffer_size(_socket.SO_SNDBUF, "uv_send_buffer_size", None)

    def set_send_buffer_size(self, size: int) -> None:
        """Set the send buffer size in bytes (``SO_SNDBUF``)."""
        self._buffer_size(_socket.SO_SNDBUF, "uv_send_buffer_size", size)

    def _buffer_size(self, opt: int, what: str, size: int | None) -> int:
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**32
        ):
            raise ERR_SOCKET_BAD_BUFFER_SIZE()
        self._health_check()
        sock = self._sock
        try:
            if sock is None or self._bind_state != _BOUND:
                raise OSError(_errno.EBADF, "bad file descriptor")
            if size:
                sock.setsockopt(_socket.SOL_SOCKET, opt, size)
            return int(sock.getsockopt(_socket.SOL_SOCKET, opt))
        except OSError as exc:
            code = _errno.errorcode.get(exc.errno or 0, "EIO")
            raise ERR_SOCKET_BUFFER_SIZE(f"{what} returned {code} ({exc.strerror})") from None

    def get_send_queue_size(self) -> int:
        """Bytes waiting in the send queue (datagrams the kernel could not take yet)."""
        transport = self._transport
        return buffered(transport) if transport is not None else 0

    def _setsockopt(
        self, sock: _socket.socket, syscall: str, level: int, opt: int, value: Any
    ) -> None:
        try:
            sock.setsockopt(level, opt, int(value))
        except OSError as exc:
            raise translate_os_error(exc, syscall) from None
