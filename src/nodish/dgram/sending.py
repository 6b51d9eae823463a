"""Sending datagrams: ``send()`` and what it needs, for :class:`~nodish.dgram.Socket`.

Theory of operation
-------------------
Datagrams go straight to the OS socket (``sendto``/``send``), not through the
transport: the kernel takes a datagram or refuses it synchronously, so every send has
its own outcome for its callback (asyncio's ``sendto`` would hand an EMSGSIZE to
``error_received`` instead, without saying which datagram it was). Only when the
kernel's buffer is full (EAGAIN) does a datagram go to the transport, which queues it
and writes it when the socket is writable; every later datagram follows it there
until that queue drains, so the order is kept.

Destinations are resolved as Node's ``dgram`` does: a name with ``getaddrinfo`` in the
socket's family, no address meaning localhost. A datagram waiting for a lookup waits in
a FIFO (``_outq``), and so does every datagram sent after it, so datagrams leave in the
order ``send`` was called; concurrent sends to one name share one lookup.

The hot path (an echo server's reply) is guarded by one flag, ``_fast``: bound, not
connected, not closed, nothing in the FIFO, no overflow. With it, ``send`` checks its
arguments' types, finds the numeric destination in a per-socket dict, and calls
``sendto``: nothing else. Every state change that can clear a condition recomputes
the flag (``_update_fast``).

Errors, as in Node: bad arguments raise at once; a datagram the kernel refuses goes to
its callback, and without one it is dropped (Node's ``dgram`` emits no ``'error'`` for
it); a failed lookup goes to the callback, else to ``'error'``.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import logging
import socket as _socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import runtime
from .._address import validate_port
from ..errors import (
    ERR_SOCKET_DGRAM_IS_CONNECTED,
    ERR_SOCKET_DGRAM_NOT_RUNNING,
    system_error,
    translate_os_error,
)
from ..events import EventEmitter
from . import _sockopt
from ._args import check_address, check_callback, to_bytes
from .options import buffered

_get_running_loop = asyncio._get_running_loop

__all__ = ["Sending"]

logger = logging.getLogger("nodish")

_UNBOUND, _BINDING, _BOUND = 0, 1, 2
_DISCONNECTED, _CONNECTING, _CONNECTED = 0, 1, 2

Callback = Callable[..., Any]


class _PendingSend:
    """A datagram waiting for its destination's lookup (or for one queued before it)."""

    __slots__ = ("address", "callback", "data", "error", "ip", "port", "ready")

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        port: int,
        address: str,
        callback: Callback | None,
    ) -> None:
        self.data = data
        self.port = port
        self.address = address
        self.callback = callback
        self.ip: str | None = None
        self.error: BaseException | None = None
        self.ready = False


class Sending(EventEmitter):
    """``send()`` for :class:`~nodish.dgram.Socket`: the FIFO, the hot path, the overflow."""

    __slots__ = ("_fast", "_ips", "_lookups", "_outq", "_overflow")

    _bind_state: int
    _closed: bool
    _connect_state: int
    _default_ip: str
    _loop: asyncio.AbstractEventLoop
    _remote: tuple[Any, ...] | None
    _sock: _socket.socket | None
    _transport: asyncio.DatagramTransport | None
    _v6: bool

    if TYPE_CHECKING:

        def bind(
            self,
            port: int | str | None = 0,
            address: str | None = None,
            callback: Callback | None = None,
            *,
            exclusive: bool = False,
        ) -> Any: ...

        def _enqueue(self, fn: Callable[[], Any]) -> None: ...

        async def _resolve(self, host: str) -> str: ...

    def _init_sending(self) -> None:
        self._fast = False
        self._outq: deque[_PendingSend] = deque()
        self._lookups: dict[str, list[_PendingSend]] = {}
        self._overflow = False
        # destinations known to be numeric, for send's hot path (None: localhost)
        self._ips: dict[str | None, str] = {None: self._default_ip}

    def send(
        self,
        msg: Any,
        port: int | str | None = None,
        address: str | None = None,
        callback: Callback | None = None,
        *,
        offset: int = 0,
        length: int | None = None,
    ) -> None:
        """Send one datagram (Node's ``socket.send``).

        Args:
            msg: ``bytes``/``bytearray``/``memoryview``, a ``str`` (sent as UTF-8), or a
                list of them sent together as one datagram.
            port: the destination port; must be None on a connected socket.
            address: the destination, an IP or a host name (looked up in the socket's
                family); None means localhost (``127.0.0.1`` or ``::1``). An IPv4
                address given to a ``'udp6'`` socket is sent to its IPv4-mapped form.
            callback: ``callback(err, bytes_sent)`` once the datagram has left (or
                failed); ``err`` is None on success.
            offset, length: send only this slice of ``msg`` (a single message only).

        An unbound socket is bound first, to a random port on every interface.

        Raises:
            ERR_SOCKET_BAD_PORT: ``port`` missing or outside 1-65535 (not connected).
            ERR_SOCKET_DGRAM_IS_CONNECTED: ``port`` or ``address`` on a connected socket.
            ERR_INVALID_ARG_TYPE: ``msg`` of another type.
            ERR_SOCKET_DGRAM_NOT_RUNNING: the socket is closed.

        A datagram the kernel refuses (``EMSGSIZE`` ...) or a destination that does not
        resolve (``ENOTFOUND``) is reported to ``callback``. Without one, a lookup
        failure is an ``'error'`` event and a refused datagram is dropped, as in Node.
        """
        # The hot path (an echo server's reply): a bound, unconnected socket with nothing
        # queued, bytes, an int port, and a destination already known to be numeric.
        if (
            self._fast
            and _get_running_loop() is self._loop
            and type(msg) is bytes
            and type(port) is int
            and 0 < port < 65536
            and not offset
            and length is None
        ):
            ip = self._ips.get(address)
            if ip is not None and (callback is None or callable(callback)):
                try:
                    n = self._sock.sendto(msg, (ip, port))  # type: ignore[union-attr]
                except OSError as exc:
                    self._send_error(exc, msg, (ip, port), address or ip, port, callback)
                    return
                if callback is not None:
                    self._loop.call_soon(runtime.guarded, self, callback, None, n)
                return
        self._send(msg, port, address, callback, offset, length)

    def _send(
        self,
        msg: Any,
        port: Any,
        address: Any,
        callback: Callback | None,
        offset: int,
        length: int | None,
    ) -> None:
        """``send`` in full: validation, implicit bind, lookups, connected sockets."""
        runtime.check_thread(self._loop, "dgram.Socket.send()")
        if type(msg) is bytes and not offset and length is None:
            data: bytes | bytearray | memoryview = msg
        else:
            data = to_bytes(msg, offset, length)
        connected = self._connect_state == _CONNECTED
        if connected:
            if port is not None or address is not None:
                raise ERR_SOCKET_DGRAM_IS_CONNECTED()
        else:
            if type(port) is not int or not 0 < port < 65536:
                port = validate_port(port, "Port", allow_zero=False)
            if address is not None and type(address) is not str:
                check_address(address)
        if callback is not None and not callable(callback):
            check_callback(callback)
        if self._closed:
            raise ERR_SOCKET_DGRAM_NOT_RUNNING()
        if self._bind_state != _BOUND:
            if self._bind_state == _UNBOUND:
                self.bind(0, exclusive=True)
            if not isinstance(data, bytes):
                data = bytes(data)  # it may change before the socket is bound
            self._enqueue(lambda: self.send(data, port, address, callback))
            return
        if connected:
            remote = self._remote
            assert remote is not None
            self._send_to(data, remote, remote[0], remote[1], callback)
            return
        if not address:  # None or '': localhost, as Node's lookup4/lookup6
            host = self._default_ip
            ip: str | None = host
        else:
            host = address
            ip = _sockopt.numeric_host(address, self._v6)
            if ip and len(self._ips) < 1024:
                self._ips[address] = ip  # for the hot path next time
        if ip is None or self._outq:
            self._send_later(data, port, host, ip, callback)
        elif not ip:
            self._send_failed(system_error(_errno.EINVAL, "send", host, port), callback)
        else:
            self._send_to(data, (ip, port), host, port, callback)

    def _send_to(
        self,
        data: bytes | bytearray | memoryview,
        dest: tuple[Any, ...],
        host: str,
        port: int,
        callback: Callback | None,
    ) -> None:
        """Hand one datagram to the kernel; the callback runs on the next iteration."""
        sock = self._sock
        if sock is None:
            return
        try:
            if self._overflow and self._transport_busy():
                n = self._queue_in_transport(data, dest)
            else:
                n = sock.sendto(data, dest)
        except OSError as exc:
            self._send_error(exc, data, dest, host, port, callback)
            return
        if callback is not None:
            self._loop.call_soon(runtime.guarded, self, callback, None, n)

    def _send_error(
        self,
        exc: OSError,
        data: bytes | bytearray | memoryview,
        dest: tuple[Any, ...],
        host: str,
        port: int,
        callback: Callback | None,
    ) -> None:
        """``sendto`` raised: a full kernel buffer queues the datagram, the rest fail it."""
        if isinstance(exc, BlockingIOError):
            self._overflow = True
            self._update_fast()
            try:
                n = self._queue_in_transport(data, dest)
            except OSError as exc2:
                self._send_failed(translate_os_error(exc2, "send", host, port), callback)
                return
            if callback is not None:
                self._loop.call_soon(runtime.guarded, self, callback, None, n)
            return
        self._send_failed(translate_os_error(exc, "send", host, port), callback)

    def _transport_busy(self) -> bool:
        transport = self._transport
        if transport is not None and buffered(transport):
            return True
        self._overflow = False
        self._update_fast()
        return False

    def _update_fast(self) -> None:
        """Whether ``send`` may take its hot path (see there)."""
        self._fast = (
            self._bind_state == _BOUND
            and not self._closed
            and self._connect_state != _CONNECTED
            and not self._outq
            and not self._overflow
            and self._sock is not None
        )

    def _queue_in_transport(
        self, data: bytes | bytearray | memoryview, dest: tuple[Any, ...]
    ) -> int:
        """The kernel's buffer is full: let the transport hold the datagram (it writes
        it when the socket is writable again, in order)."""
        transport = self._transport
        if transport is None:
            raise OSError(_errno.EBADF, "socket closed")
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if size == 0:
            return 0  # asyncio's transports drop empty datagrams; nothing is lost
        transport.sendto(bytes(data), dest)
        return size

    def _send_failed(self, err: BaseException, callback: Callback | None) -> None:
        if callback is not None:
            self._loop.call_soon(runtime.guarded, self, callback, err)
        else:
            logger.debug("dgram: datagram dropped: %s", err)

    def _send_later(
        self,
        data: bytes | bytearray | memoryview,
        port: int,
        host: str,
        ip: str | None,
        callback: Callback | None,
    ) -> None:
        """Queue a datagram behind the lookups in flight, starting its own if needed."""
        if not isinstance(data, bytes):
            data = bytes(data)
        entry = _PendingSend(data, port, host, callback)
        self._outq.append(entry)
        self._fast = False
        if ip is not None:
            entry.ready = True
            entry.ip = ip or None
            if not ip:
                entry.error = system_error(_errno.EINVAL, "send", host, port)
            return
        waiting = self._lookups.get(host)
        if waiting is not None:
            waiting.append(entry)
            return
        self._lookups[host] = [entry]
        self._loop.create_task(self._lookup_for_send(host))

    async def _lookup_for_send(self, host: str) -> None:
        error: BaseException | None = None
        ip: str | None = None
        try:
            ip = await self._resolve(host)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            error = exc
        for entry in self._lookups.pop(host, ()):
            entry.ready = True
            entry.ip = ip
            entry.error = error
        if not self._closed:
            self._flush_outq()

    def _flush_outq(self) -> None:
        """Send every datagram at the head of the FIFO whose destination is known."""
        outq = self._outq
        while outq and outq[0].ready:
            entry = outq.popleft()
            if entry.error is not None:
                if entry.callback is not None:
                    self._loop.call_soon(runtime.guarded, self, entry.callback, entry.error)
                elif getattr(entry.error, "syscall", None) == "getaddrinfo":
                    self._loop.call_soon(self._emit_error, entry.error)  # Node: 'error'
                else:
                    logger.debug("dgram: datagram dropped: %s", entry.error)
                continue
            assert entry.ip is not None
            self._send_to(
                entry.data, (entry.ip, entry.port), entry.address, entry.port, entry.callback
            )
        if not outq:
            self._update_fast()

    def _emit_error(self, err: BaseException) -> None:
        if self._closed:
            return
        try:
            self.emit("error", err)
        except BaseException as exc:
            runtime.report_uncaught(exc, self)
