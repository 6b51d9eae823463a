"""``dgram.Socket``: a UDP socket with Node's API, over an asyncio datagram transport.

Theory of operation
-------------------
A Socket *is* its transport's ``asyncio.DatagramProtocol`` (the protocol classes have
empty ``__slots__``), so every transport callback is one method call away from the
events. It mirrors Node's ``lib/dgram.js`` state machine:

* **Binding** (UNBOUND → BINDING → BOUND). ``bind()`` validates at once, then a task
  resolves the address (``loop.getaddrinfo`` for a name; IP literals need none),
  creates the OS socket, applies the options that must precede ``bind(2)``
  (``SO_REUSEADDR``, ``SO_REUSEPORT``, ``IPV6_V6ONLY``, buffer sizes), binds it, and
  hands it to ``loop.create_datagram_endpoint(sock=...)``. ``'listening'`` is emitted
  from ``connection_made``, which the loop calls before it starts reading, so no
  ``'message'`` can precede ``'listening'`` (Node emits it right after ``recvStart``).
  As in libuv, there is no OS socket before ``bind``: options asked of an unbound
  socket fail with ``EBADF``. A failed bind emits ``'error'`` and returns to UNBOUND.
* **The queue.** ``send()``, ``connect()`` and ``close()`` called before the socket is
  bound are queued (a ``send`` or ``connect`` on an unbound socket binds it
  implicitly to port 0, Node's rule) and replayed, in order, by a ``'listening'``
  listener added with the first queued call; a bind failure drops the queue, as Node
  does (a queued ``close`` still runs).
* **Sending** (``sending.py``) goes straight to the OS socket, each datagram with its
  own outcome for its callback; names are looked up in a FIFO that keeps the order.
* **Errors**, as in Node: bad arguments raise at once; a send that fails calls its
  callback with the error, and without a callback a lookup failure is an ``'error'``
  event while a refused datagram is dropped (Node's ``dgram`` does not emit those);
  receive errors (``ECONNREFUSED`` on a connected socket) are ``'error'`` events with
  ``syscall='recvmsg'``. The socket stays open after all of them.
* **Closing.** ``close()`` aborts the transport (unsent datagrams are dropped, as
  libuv's ``uv_close`` does) and emits ``'close'`` on the next loop iteration. The
  socket's :class:`~nodish.runtime.HandleRef` is open from ``bind()`` until
  ``'close'`` has been emitted (or the bind failed), so ``nodish.run()`` lives while
  the socket is bound, unless ``unref()``.

The receive path is the hot one: ``datagram_received`` builds the ``rinfo`` named tuple
with one ``tuple.__new__`` and calls the ``'message'`` listeners without going through
``emit``. A listener that raises loses that datagram alone: the exception takes the
uncaught path and the socket keeps serving (UDP has no connection to drop).
"""

from __future__ import annotations

import asyncio
import errno as _errno
import logging
import socket as _socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, cast

from .. import runtime
from .._address import AddressInfo, RemoteInfo, family_name, lookup, validate_port
from ..errors import (
    ERR_SOCKET_ALREADY_BOUND,
    ERR_SOCKET_BAD_BUFFER_SIZE,
    ERR_SOCKET_BAD_TYPE,
    ERR_SOCKET_DGRAM_IS_CONNECTED,
    ERR_SOCKET_DGRAM_NOT_CONNECTED,
    system_error,
    translate_os_error,
)
from ..events import error_monitor, once
from . import _sockopt
from ._args import check_address, check_callback
from .options import SocketOptions
from .sending import _BINDING, _BOUND, _CONNECTED, _CONNECTING, _DISCONNECTED, _UNBOUND, Sending

__all__ = ["Socket"]

logger = logging.getLogger("nodish")


_tuple_new = tuple.__new__

Callback = Callable[..., Any]

# Set by nodish.cluster in a worker process (Node's dgram bind in a cluster worker):
# called with (socket, ip, port) for a bind without exclusive or reuse_port, it returns
# the primary's bound OS socket, or raises the primary's bind error.
cluster_bind: Callable[..., Any] | None = None


class Socket(Sending, SocketOptions, asyncio.DatagramProtocol):
    """A UDP socket (Node's ``dgram.Socket``). Create one with :func:`create_socket`.

    Events: ``'listening'``, ``'message'(msg: bytes, rinfo: RemoteInfo)``,
    ``'connect'``, ``'close'``, ``'error'(err)``.

    Awaiting the socket waits for what is pending: the bind (``await sock.bind(0)``),
    the connect (``await sock.connect(port)``) or the close (``await sock.close()``);
    ``async for msg, rinfo in sock`` iterates over the datagrams until ``'close'``.

    Args:
        type: ``'udp4'`` or ``'udp6'``.
        message_listener: added as a ``'message'`` listener.
        reuse_addr: set ``SO_REUSEADDR`` before binding (several sockets may then bind
            the same port; multicast receivers need it).
        reuse_port: set ``SO_REUSEPORT`` before binding (the kernel spreads datagrams
            over the sockets bound to the port).
        ipv6_only: for ``'udp6'``, do not accept IPv4 traffic (``IPV6_V6ONLY``).
        recv_buffer_size, send_buffer_size: ``SO_RCVBUF``/``SO_SNDBUF`` in bytes, set
            before binding.

    Raises:
        ERR_SOCKET_BAD_TYPE: ``type`` is neither ``'udp4'`` nor ``'udp6'``.
        ERR_SOCKET_BAD_BUFFER_SIZE: a buffer size that is not a positive int.
    """

    __slots__ = (
        "_bind_state",
        "_close_emitted",
        "_close_queued",
        "_closed",
        "_connect_state",
        "_default_ip",
        "_exclusive",
        "_family_name",
        "_handle",
        "_ipv6_only",
        "_loop",
        "_queue",
        "_recv_buffer_size",
        "_remote",
        "_reuse_addr",
        "_reuse_port",
        "_send_buffer_size",
        "_sock",
        "_transport",
        "_type",
        "_v6",
    )

    def __init__(
        self,
        type: str = "udp4",
        message_listener: Callback | None = None,
        *,
        reuse_addr: bool = False,
        reuse_port: bool = False,
        ipv6_only: bool = False,
        recv_buffer_size: int | None = None,
        send_buffer_size: int | None = None,
    ) -> None:
        super().__init__()
        if type not in ("udp4", "udp6"):
            raise ERR_SOCKET_BAD_TYPE()
        for size in (recv_buffer_size, send_buffer_size):
            if size is not None and (
                not isinstance(size, int) or isinstance(size, bool) or size < 0
            ):
                raise ERR_SOCKET_BAD_BUFFER_SIZE()
        self._type = type
        self._v6 = type == "udp6"
        self._family_name = "IPv6" if self._v6 else "IPv4"
        self._default_ip = "::1" if self._v6 else "127.0.0.1"
        self._reuse_addr = bool(reuse_addr)
        self._reuse_port = bool(reuse_port)
        self._ipv6_only = bool(ipv6_only)
        self._recv_buffer_size = recv_buffer_size
        self._send_buffer_size = send_buffer_size
        self._exclusive = False
        self._loop = runtime.get_loop()
        self._handle = runtime.HandleRef(self._loop, self._close_on_exit)
        self._bind_state = _UNBOUND
        self._connect_state = _DISCONNECTED
        self._closed = False
        self._close_queued = False
        self._close_emitted = False
        self._sock: _socket.socket | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._queue: list[Callable[[], Any]] | None = None
        self._remote: tuple[Any, ...] | None = None
        self._init_sending()
        if message_listener is not None:
            self.on("message", message_listener)

    # ------------------------------------------------------------------ state helpers

    @property
    def type(self) -> str:
        """``'udp4'`` or ``'udp6'``."""
        return self._type

    def _enqueue(self, fn: Callable[[], Any]) -> None:
        """Hold a call until the socket is bound (Node's ``enqueue``)."""
        if self._queue is None:
            self._queue = []
            self.once("listening", self._flush_queue)
        self._queue.append(fn)

    def _flush_queue(self) -> None:
        queue, self._queue = self._queue, None
        for fn in queue or ():
            fn()

    def _drop_queue(self) -> None:
        """The bind failed: Node forgets the queued sends; a queued close still runs."""
        if self._queue is not None:
            self._queue = None
            self.remove_listener("listening", self._flush_queue)

    # ------------------------------------------------------------------ binding

    def bind(
        self,
        port: int | str | None = 0,
        address: str | None = None,
        callback: Callback | None = None,
        *,
        exclusive: bool = False,
    ) -> Socket:
        """Bind to ``port`` on ``address`` and start receiving (Node's ``socket.bind``).

        Args:
            port: 0 (the default) or None picks a free port.
            address: an IP or a host name (resolved in the socket's family); None binds
                every interface (``0.0.0.0`` or ``::``).
            callback: added as a ``'listening'`` listener (removed if the bind fails).
            exclusive: in a cluster worker, bind here instead of sharing the
                primary's socket (elsewhere it changes nothing).

        Returns:
            The socket; ``await`` it to wait for ``'listening'``.

        Raises:
            ERR_SOCKET_BAD_PORT: at once, for a port outside 0-65535 (Node 20 lets the
                kernel see it; nodish refuses it before).
            ERR_SOCKET_ALREADY_BOUND: bound, or binding.
            ERR_SOCKET_DGRAM_NOT_RUNNING: the socket is closed.

        Bind and lookup failures arrive later as ``'error'`` (``EADDRINUSE``,
        ``ENOTFOUND`` ...).
        """
        self._health_check()
        if self._bind_state != _UNBOUND:
            raise ERR_SOCKET_ALREADY_BOUND()
        port_n = validate_port(0 if port is None else port)
        check_address(address)
        check_callback(callback)
        self._bind_state = _BINDING
        self._exclusive = bool(exclusive)
        if callback is not None:
            cb = callback

            def on_listening() -> None:
                self.remove_listener(error_monitor, on_error)
                cb()

            def on_error(_err: BaseException) -> None:
                self.remove_listener("listening", on_listening)

            self.once("listening", on_listening)
            self.once(error_monitor, on_error)
        self._handle.open()
        self._loop.create_task(self._bind(port_n, address or None))
        return self

    def _bind_adopted(self, sock: _socket.socket) -> Socket:
        """Receive on ``sock``, a bound UDP socket this one now owns (a ``dgram.Socket``
        handle received from a cluster peer); ``'listening'`` follows."""
        if self._bind_state != _UNBOUND:
            raise ERR_SOCKET_ALREADY_BOUND()
        self._bind_state = _BINDING
        self._handle.open()
        self._loop.create_task(self._bind(0, None, sock))
        return self

    async def _bind(
        self, port: int, address: str | None, adopted: _socket.socket | None = None
    ) -> None:
        try:
            if adopted is not None:
                self._sock = adopted
                await self._loop.create_datagram_endpoint(lambda: self, sock=adopted)
                return
            if address is None:
                ip: str | None = "::" if self._v6 else "0.0.0.0"
            else:
                ip = _sockopt.numeric_host(address, self._v6)
                if ip is None:
                    ip = await self._resolve(address)
                elif not ip:
                    raise system_error(_errno.EINVAL, "bind", address, port)
            if self._closed:
                return
            if cluster_bind is not None and not (self._exclusive or self._reuse_port):
                self._sock = await cluster_bind(self, ip, port)
                await self._loop.create_datagram_endpoint(lambda: self, sock=self._sock)
                return
            try:
                sock = _sockopt.open_socket(
                    self._v6,
                    reuse_addr=self._reuse_addr,
                    reuse_port=self._reuse_port,
                    ipv6_only=self._ipv6_only,
                    recv_buffer_size=self._recv_buffer_size,
                    send_buffer_size=self._send_buffer_size,
                )
            except OSError as exc:
                raise translate_os_error(exc, "bind", ip, port) from None
            try:
                sock.bind((ip, port))
            except OSError as exc:
                sock.close()
                raise translate_os_error(exc, "bind", ip, port) from None
            self._sock = sock
            await self._loop.create_datagram_endpoint(lambda: self, sock=sock)
        except BaseException as exc:
            if self._transport is None and self._sock is not None:
                self._sock.close()  # the loop never took it (a taken one is detached)
                self._sock = None
            if isinstance(exc, asyncio.CancelledError):
                raise
            self._bind_failed(exc)

    def _bind_failed(self, exc: BaseException) -> None:
        if self._closed:
            return
        self._bind_state = _UNBOUND
        if self._connect_state == _CONNECTING:
            self._connect_state = _DISCONNECTED
        close_queued, self._close_queued = self._close_queued, False
        self._drop_queue()
        self._handle.close()
        try:
            self.emit("error", exc)
        except BaseException as err:
            runtime.report_uncaught(err, self)
        if close_queued and not self._closed:
            self.close()

    async def _resolve(self, host: str) -> str:
        """The first address of ``host`` in the socket's family (Node's ``dns.lookup``)."""
        family = _socket.AF_INET6 if self._v6 else _socket.AF_INET
        infos = await lookup(self._loop, host, None, family=family, type=_socket.SOCK_DGRAM)
        return str(infos[0][4][0])

    # ------------------------------------------------------------------ protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The loop took the bound socket: the socket is listening."""
        # uvloop's UDPTransport does not derive from asyncio.DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)
        if self._closed:
            transport.abort()  # type: ignore[attr-defined]
            return
        self._bind_state = _BOUND
        self._update_fast()
        try:
            self.emit("listening")
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """One datagram in: ``'message'(data, rinfo)``."""
        # The listeners tuple is a snapshot (EventEmitter replaces it, never mutates
        # it), so calling it here is what emit() would do, minus a call.
        listeners = self._events.get("message")
        if listeners is None:
            return
        if addr is None:  # a connected socket on some loops: the peer is the sender
            addr = self._remote or ("", 0)
        rinfo = _tuple_new(RemoteInfo, (addr[0], self._family_name, addr[1], len(data)))
        try:
            if len(listeners) == 1:
                listeners[0](data, rinfo)
            else:
                for fn in listeners:
                    fn(data, rinfo)
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    def error_received(self, exc: Exception) -> None:
        """A receive error (ICMP port unreachable on a connected socket ...): ``'error'``."""
        if self._closed:
            return
        if self._overflow and getattr(exc, "errno", None) == _errno.EMSGSIZE:
            # A datagram the transport queued was refused: Node drops those silently.
            logger.debug("dgram: a queued datagram was refused: %s", exc)
            return
        err = translate_os_error(exc, "recvmsg")
        try:
            self.emit("error", err)
        except BaseException as exc2:
            runtime.report_uncaught(exc2, self)

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport is gone; unexpected unless ``close()`` asked for it."""
        self._transport = None
        self._sock = None
        self._fast = False
        if self._closed:
            return
        if exc is not None:
            try:
                self.emit("error", translate_os_error(exc, "recvmsg"))
            except BaseException as exc2:
                runtime.report_uncaught(exc2, self)
        if not self._closed:
            self.close()

    def pause_writing(self) -> None:
        """The transport's send queue is over its high-water mark (nothing to do: UDP)."""

    def resume_writing(self) -> None:
        """The transport's send queue drained below its low-water mark."""

    def _on_uncaught(self, exc: BaseException) -> None:
        """A listener raised: the datagram it handled is lost, the socket keeps serving."""

    # ------------------------------------------------------------------ connected sockets

    def connect(
        self, port: int | str, address: str | None = None, callback: Callback | None = None
    ) -> Socket:
        """Associate the socket with one peer (Node's ``socket.connect``).

        Afterwards ``send(msg)`` needs no destination and only that peer's datagrams
        are received. ``'connect'`` follows; an unbound socket is bound first.

        Args:
            port: the peer's port (1-65535).
            address: the peer, an IP or a host name; None means localhost.
            callback: added as a ``'connect'`` listener; if the connect fails it is
                called with the error instead of an ``'error'`` event.

        Returns:
            The socket; ``await`` it to wait for ``'connect'``.

        Raises:
            ERR_SOCKET_BAD_PORT: at once, for a bad port.
            ERR_SOCKET_DGRAM_IS_CONNECTED: connected or connecting already.
        """
        port_n = validate_port(port, "Port", allow_zero=False)
        check_address(address)
        check_callback(callback)
        if self._connect_state != _DISCONNECTED:
            raise ERR_SOCKET_DGRAM_IS_CONNECTED()
        self._health_check()
        self._connect_state = _CONNECTING
        if self._bind_state == _UNBOUND:
            self.bind(0, exclusive=True)
        if self._bind_state != _BOUND:
            self._enqueue(lambda: self._connect(port_n, address, callback))
        else:
            self._connect(port_n, address, callback)
        return self

    def _connect(self, port: int, address: str | None, callback: Callback | None) -> None:
        if callback is not None:
            self.once("connect", callback)
        host = address or self._default_ip
        ip = _sockopt.numeric_host(host, self._v6)
        if ip is None:
            self._loop.create_task(self._connect_after_lookup(host, port, callback))
        elif not ip:
            self._connect_done(
                system_error(_errno.EINVAL, "connect", host, port), None, 0, callback
            )
        else:
            self._connect_done(None, ip, port, callback, host)

    async def _connect_after_lookup(self, host: str, port: int, callback: Callback | None) -> None:
        try:
            ip = await self._resolve(host)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._connect_done(exc, None, port, callback)
            return
        self._connect_done(None, ip, port, callback, host)

    def _connect_done(
        self,
        err: BaseException | None,
        ip: str | None,
        port: int,
        callback: Callback | None,
        host: str | None = None,
    ) -> None:
        sock = self._sock
        if self._closed or sock is None:
            return
        if err is None:
            assert ip is not None
            try:
                sock.connect((ip, port))
                self._remote = sock.getpeername()
            except OSError as exc:
                err = translate_os_error(exc, "connect", host, port)
        if err is not None:
            self._connect_state = _DISCONNECTED
            failure = err

            def report() -> None:
                if callback is not None:
                    self.remove_listener("connect", callback)
                    callback(failure)
                else:
                    self.emit("error", failure)

            self._loop.call_soon(runtime.guarded, self, report)
            return
        self._connect_state = _CONNECTED
        self._fast = False
        self._loop.call_soon(runtime.guarded, self, self._emit_connect)

    def _emit_connect(self) -> None:
        if not self._closed:
            self.emit("connect")

    def disconnect(self) -> None:
        """Dissolve the association made by :meth:`connect` (Node's ``socket.disconnect``).

        Raises:
            ERR_SOCKET_DGRAM_NOT_CONNECTED: not connected.
        """
        self._health_check()
        if self._connect_state != _CONNECTED:
            raise ERR_SOCKET_DGRAM_NOT_CONNECTED()
        sock = self._sock
        assert sock is not None
        try:
            _sockopt.disconnect(sock)
        except OSError as exc:
            raise translate_os_error(exc, "connect") from None
        self._connect_state = _DISCONNECTED
        self._remote = None
        self._update_fast()

    def remote_address(self) -> AddressInfo:
        """The connected peer's ``{address, family, port}``.

        Raises:
            ERR_SOCKET_DGRAM_NOT_CONNECTED: not connected.
        """
        self._health_check()
        remote = self._remote
        if self._connect_state != _CONNECTED or remote is None:
            raise ERR_SOCKET_DGRAM_NOT_CONNECTED()
        host = str(remote[0])
        return AddressInfo(host, family_name(host), int(remote[1]))

    # ------------------------------------------------------------------ introspection

    def address(self) -> AddressInfo:
        """The bound ``{address, family, port}`` (Node's ``socket.address``).

        Raises:
            ERR_SOCKET_DGRAM_NOT_RUNNING: closed.
            OSError: ``EBADF`` (syscall ``getsockname``) before the socket is bound.
        """
        sock = self._bound_sock("getsockname")
        try:
            name = sock.getsockname()
        except OSError as exc:
            raise translate_os_error(exc, "getsockname") from None
        host = str(name[0])
        return AddressInfo(host, family_name(host) if self._v6 else "IPv4", int(name[1]))

    def ref(self) -> Socket:
        """Keep the process alive while the socket is bound (the default)."""
        self._handle.ref()
        return self

    def unref(self) -> Socket:
        """Let the process exit even though this socket is bound."""
        self._handle.unref()
        return self

    # ------------------------------------------------------------------ closing

    def close(self, callback: Callback | None = None) -> Socket:
        """Close the socket; ``'close'`` follows (Node's ``socket.close``).

        Args:
            callback: added as a ``'close'`` listener.

        Returns:
            The socket; ``await`` it to wait for ``'close'``.

        Raises:
            ERR_SOCKET_DGRAM_NOT_RUNNING: closed already.
        """
        runtime.check_thread(self._loop, "dgram.Socket.close()")
        check_callback(callback)
        if self._loop.is_closed():
            # run() has returned and its loop is gone: close the OS socket, quietly
            self._closed = True
            sock, self._sock = self._sock, None
            if sock is not None:
                sock.close()
            self._handle.close()
            return self
        if callback is not None:
            self.on("close", callback)
        if self._queue is not None:
            # Node: a close made while sends wait for the bind runs after them.
            self._close_queued = True
            self._queue.append(self._close_from_queue)
            return self
        self._health_check()
        self._closed = True
        self._fast = False
        self._outq.clear()
        transport = self._transport
        if transport is not None:
            transport.abort()
        # else: a bind in flight sees _closed and drops its socket (connection_made
        # aborts the transport the loop is about to hand over).
        self._loop.call_soon(self._emit_close)
        return self

    def _close_from_queue(self) -> None:
        self._close_queued = False
        if not self._closed:
            self.close()

    def _emit_close(self) -> None:
        self._close_emitted = True
        try:
            self.emit("close")
        except BaseException as exc:
            runtime.report_uncaught(exc, None)
        finally:
            self._handle.close()

    def _close_on_exit(self) -> None:
        if not self._closed:
            self._queue = None
            self.close()

    # ------------------------------------------------------------------ await / async for

    def __await__(self) -> Generator[Any, None, Socket]:
        return self._settled().__await__()

    async def _settled(self) -> Socket:
        """Wait for the pending bind, connect or close, whichever applies."""
        if self._closed:
            if not self._close_emitted:
                await once(self, "close")
        elif self._queue is not None and self._close_queued:
            await once(self, "close")
        elif self._connect_state == _CONNECTING:
            await once(self, "connect")
        elif self._bind_state == _BINDING:
            await once(self, "listening")
        return self

    def __aiter__(self) -> AsyncIterator[tuple[bytes, RemoteInfo]]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[tuple[bytes, RemoteInfo]]:
        """Every datagram as ``(msg, rinfo)`` until ``'close'``; ``'error'`` raises."""
        if self._closed:
            return
        queue: deque[tuple[bytes, RemoteInfo]] = deque()
        failure: list[BaseException] = []
        done = [False]
        waiter: list[asyncio.Future[None] | None] = [None]

        def wake() -> None:
            w = waiter[0]
            if w is not None and not w.done():
                w.set_result(None)

        def on_message(msg: bytes, rinfo: RemoteInfo) -> None:
            queue.append((msg, rinfo))
            if waiter[0] is not None:
                wake()

        def on_error(err: BaseException) -> None:
            failure.append(err)
            wake()

        def on_close() -> None:
            done[0] = True
            wake()

        self.on("message", on_message)
        self.on("error", on_error)
        self.on("close", on_close)
        try:
            while True:
                if queue:
                    yield queue.popleft()
                    continue
                if failure:
                    raise failure.pop(0)
                if done[0]:
                    return
                fut = waiter[0] = self._loop.create_future()
                try:
                    await fut
                finally:
                    waiter[0] = None
        finally:
            self.remove_listener("message", on_message)
            self.remove_listener("error", on_error)
            self.remove_listener("close", on_close)

    def __repr__(self) -> str:
        state = ("unbound", "binding", "bound")[self._bind_state]
        if self._closed:
            state = "closed"
        return f"<nodish.dgram.Socket {self._type} {state}>"
