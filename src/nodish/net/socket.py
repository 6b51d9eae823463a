"""``net.Socket``: a Duplex stream over one asyncio transport.

Theory of operation
-------------------
A Socket *is* its transport's asyncio Protocol (``asyncio.Protocol`` has empty
``__slots__``, so the two share one object and every transport callback is one method
call away from the stream). The mapping, one to one with Node's ``lib/net.js``:

=====================  ===================================================
asyncio callback        Node behaviour
=====================  ===================================================
``connection_made``     ``'connect'`` then ``'ready'`` (client); the server's
                        ``'connection'`` (accepted socket)
``data_received``       ``push(data)`` → ``'data'``; ``push`` returning False
                        stops reading (``pause_reading``) until ``_read``
``eof_received``        ``push(None)`` → ``'end'``; returns True so the
                        transport stays open for half-close
``pause_writing``       the ``_write`` callback is held back, so further
                        writes buffer in the Writable and ``write()`` returns
                        False at the mark
``resume_writing``      the held callback runs; the Writable flushes its
                        buffer (``_writev``) and emits ``'drain'`` when empty
``connection_lost``     ``'error'`` (if the peer broke it) then
                        ``'close'(had_error)``
=====================  ===================================================

The transport's write-buffer limits are the socket's ``writable_high_water_mark``
(low = high / 4), and ``writable_length`` adds the transport's buffered bytes to the
stream's own, so ``write()`` returns False once *everything* not yet handed to the
kernel reaches the mark.

Closing. ``end()`` sends FIN once the buffer is flushed (``write_eof``). A socket that
ended normally is closed gracefully (``transport.close()`` flushes first); ``destroy()``
on a socket with unfinished writes aborts it (what is not yet in the kernel is
dropped, as libuv's ``uv_close`` does); ``reset_and_destroy()`` sends RST. ``'close'``
is emitted by the socket itself (``emit_close=False`` on the stream) once the transport
is gone, with ``had_error``; it is the moment the handle stops keeping the process
alive.

Nagle. Node leaves Nagle's algorithm on (``no_delay=False``); asyncio and uvloop turn
it off on every TCP transport, so the socket turns it back on: a client at once, an
accepted plain socket just before its second write (or a first one over
``NAGLE_FIRST_WRITE``). A first write goes out at once either way, nothing being
unacknowledged yet, so a connection that answers once and ends spares the system calls.
An accepted TLS socket turns it on just before its first write (the handshake's writes
came before it), so one that fails its handshake spares them too.

Connecting. ``connect()`` validates its arguments at once, then resolves the host
(``loop.getaddrinfo``, never blocking), emits ``'lookup'``, and tries each address in
turn (Node's ``autoSelectFamily``: an attempt that has not connected in 0.25 s gives
way to the next address). Writes and ``end()`` made while connecting are held and
replayed on ``'connect'``.
"""

from __future__ import annotations

import _socket as _csocket
import asyncio
import errno as _errno
import math
import socket as _socket
import struct
from collections.abc import Callable, Generator
from typing import Any

from .. import runtime
from .._address import AddressInfo, family_name, is_ip, lookup, validate_host, validate_port
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_OUT_OF_RANGE,
    ERR_SOCKET_CLOSED,
    ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
    translate_os_error,
    validate_callback,
)
from ..events import EventEmitter
from ..stream._base import Stream
from ..stream.duplex import Duplex

__all__ = ["Socket"]

# Node's net.Socket `autoSelectFamilyAttemptTimeout` default (v20): 250 ms.
ATTEMPT_TIMEOUT = 0.25

_INET = (_socket.AF_INET, _socket.AF_INET6)
_EPIPE = _errno.EPIPE
# An accepted socket's first write up to this size goes out before Nagle is turned on
# (see connection_made); a larger one turns it on first.
NAGLE_FIRST_WRITE = 16384


def _closed_onwrite(err: BaseException | None = None) -> None:
    """A closed socket's write callback: no write can be in flight once it has closed."""


def _loop_turns_nagle_off(server: Any) -> bool:
    # uvloop turns Nagle off on every TCP transport, asyncio on the sockets it creates
    # with proto IPPROTO_TCP (its connects), not on those accepted from our listeners.
    return server is None or getattr(server, "_loop_no_delay", False)


class Socket(Duplex, asyncio.Protocol):
    """A TCP or Unix-domain stream socket; Node's ``net.Socket``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/net.html#class-netsocket.
    Events: ``'lookup'``, ``'connect'``, ``'ready'``, ``'data'``, ``'end'``,
    ``'drain'``, ``'timeout'``, ``'error'``, ``'close'`` (with ``had_error``).

    Args:
        allow_half_open: keep the writable side open after the peer's FIN (``'end'``);
            by default the socket ends its side too.
        no_delay: disable Nagle's algorithm (Node's default is False: Nagle on).
        keep_alive: enable TCP keep-alive, first probe after
            ``keep_alive_initial_delay`` seconds.
        high_water_mark: both directions' mark in bytes (default 16384).

    A ``Socket`` is awaitable: ``sock = await net.connect(port)`` waits for
    ``'connect'`` and raises the connect error.
    """

    __slots__ = (
        "_bytes_read",
        "_bytes_written",
        "_close_due",
        "_connect_task",
        "_connecting",
        "_consumer",
        "_final_cb",
        "_final_destroy_cb",
        "_had_error",
        "_handle",
        "_keep_alive",
        "_keep_alive_delay",
        "_last_active",
        "_lost",
        "_nagle_due",
        "_no_delay",
        "_peer",
        "_pending_writes",
        "_read_paused",
        "_server",
        "_sockname",
        "_timeout",
        "_timer",
        "_transport",
        "_unix_path",
        "_write_cb",
        "_write_paused",
    )

    def __init__(
        self,
        *,
        allow_half_open: bool = False,
        no_delay: bool = False,
        keep_alive: bool = False,
        keep_alive_initial_delay: float = 0,
        high_water_mark: int | None = None,
        _server: Any = None,
    ) -> None:
        # Duplex.__init__ without its keyword processing (a socket is made per
        # connection): no hooks, no _construct, Node's defaults but emitClose false.
        Stream.__init__(self, emit_close=False)
        self._init_duplex(
            allow_half_open,
            True,
            True,
            high_water_mark,
            None,
            None,
            False,
            False,
            False,
            None,
            "utf8",
            True,
        )
        self._start_construct()  # a subclass may define _construct
        self._transport: asyncio.Transport | None = None
        self._server = _server
        self._handle = runtime.HandleRef(self._loop, self.destroy)
        self._connecting = False
        self._connect_task: asyncio.Task[None] | None = None
        self._lost = False
        self._had_error = False
        self._close_due = False
        self._bytes_read = 0
        self._bytes_written = 0
        self._read_paused = False
        self._write_paused = False
        self._write_cb: Callable[..., Any] | None = None
        self._pending_writes: list[tuple[Any, Callable[..., Any]]] | None = None
        self._final_cb: Callable[..., Any] | None = None
        self._final_destroy_cb: tuple[BaseException | None, Callable[..., Any]] | None = None
        self._no_delay = no_delay
        self._nagle_due = False
        self._keep_alive = keep_alive
        self._keep_alive_delay = keep_alive_initial_delay
        self._timeout = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._last_active = 0.0
        self._peer: Any = None
        self._sockname: Any = None
        self._unix_path: str | None = None
        # A protocol layered on the socket (http's parser) may take the bytes straight
        # from data_received, as Node's parser.consume() does, instead of through 'data'.
        self._consumer: Callable[[bytes], Any] | None = None

    # ------------------------------------------------------------------ protocol

    # (typed asyncio.Transport: uvloop's transports are not subclasses, and a cast()
    # would cost a call per connection)
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """asyncio: the connection is up (accepted, or our connect succeeded)."""
        if self._destroyed:
            transport.abort()
            return
        self._transport = transport
        hwm = self._w_hwm
        transport.set_write_buffer_limits(high=hwm, low=hwm // 4)
        server = self._server
        if self._no_delay:
            if self._keep_alive or not _loop_turns_nagle_off(server):
                self._apply_sockopts(transport, server)
        elif self._keep_alive or server is None:
            self._apply_sockopts(transport, server)
        else:
            # An accepted socket turns Nagle on just before its second write: the first
            # goes out at once with Nagle on or off (nothing is unacknowledged yet), so a
            # connection that answers once and ends saves the system calls. (A TLS
            # socket's handshake writes first: its first write already needs it.)
            self._nagle_due = True
        self._handle.open()
        if server is not None:
            if self._timeout:
                self._touch()
            server._accepted(self)
            if self._read_paused:
                self._pause_after_connection_made()
            return
        self._connecting = False
        # The connect task is still finishing (create_connection returns after this
        # callback); it must not be cancelled by a destroy() from a 'connect' listener,
        # or the loop would drop this transport without calling connection_lost.
        self._connect_task = None
        if self._timeout:
            self._touch()
        pending = self._pending_writes
        self._pending_writes = None
        try:
            if pending:
                for chunk, cb in pending:
                    self._write(chunk, "buffer", cb)
            if self._final_cb is not None:
                cb, self._final_cb = self._final_cb, None
                self._final(cb)
            self.emit("connect")
            self.emit("ready")
        except BaseException as exc:
            runtime.report_uncaught(exc, self)
        self._pause_after_connection_made()

    def _apply_sockopts(self, transport: asyncio.Transport, server: Any) -> None:
        # Nagle as no_delay asks (see the module notes), and keep-alive.
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        # An accepted socket has its listener's family: no enum lookup per connection.
        family = getattr(server, "_family", None) or sock.family
        if family not in _INET:
            return
        try:
            if not self._no_delay or not _loop_turns_nagle_off(server):
                # A C-level socket object on the same descriptor, without a Python-level
                # socket object per connection.
                raw = _csocket.socket(family, _socket.SOCK_STREAM, 0, sock.fileno())
                try:
                    raw.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, int(self._no_delay))
                finally:
                    raw.detach()
            if self._keep_alive:
                self._apply_keep_alive(sock, True, self._keep_alive_delay)
        except OSError:
            pass

    def _nagle_on(self, transport: asyncio.Transport) -> None:
        self._nagle_due = False
        self._apply_sockopts(transport, self._server)

    def _pause_after_connection_made(self) -> None:
        # A pause() made before the transport existed, or from a 'connection' or
        # 'connect' listener (both run inside connection_made), must reach the
        # transport. uvloop, and asyncio before Python 3.11, start reading after
        # connection_made returns whatever it did, so the pause is asserted again on
        # the next turn.
        if not self._read_paused or self._transport is None or self._lost:
            return
        self._transport.pause_reading()
        self._loop.call_soon(self._assert_paused)

    def _assert_paused(self) -> None:
        t = self._transport
        if self._read_paused and t is not None and not self._lost and not self.destroyed:
            # Both calls: a transport that believes it is paused while it reads (asyncio
            # 3.10 added its reader after our pause) ignores a lone pause_reading().
            t.resume_reading()
            t.pause_reading()

    def data_received(self, data: bytes) -> None:
        """asyncio: bytes arrived → ``'data'`` (or the buffer, when paused)."""
        self._bytes_read += len(data)
        if self._timeout:
            self._touch()
        try:
            if self._read_paused:
                # Paused, yet the transport still reads: a loop that dropped our
                # pause_reading(). Stop it now, so at most this chunk is buffered.
                self._assert_paused()
            consumer = self._consumer
            if consumer is not None:
                consumer(data)
            elif not self.push(data) and not self._read_paused:
                self._read_paused = True
                if self._transport is not None:
                    self._transport.pause_reading()
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    def eof_received(self) -> bool:
        """asyncio: the peer sent FIN → ``'end'`` once the buffer is read."""
        try:
            self.push(None)
            # Node's onStreamRead does the same: with nothing buffered, 'end' follows
            # even when nobody consumes the socket. (A flowing socket, emptied by
            # push(None) outside a synchronous read, has scheduled 'end' already: the
            # read(0) would only schedule it a second time.)
            if not self._r_flowing or self._r_length or self._r_sync:
                self.read(0)
        except BaseException as exc:
            runtime.report_uncaught(exc, self)
        return True  # keep the transport: our side may still write (half-open)

    def pause_writing(self) -> None:
        """asyncio: the transport's buffer is over the mark; hold write callbacks."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """asyncio: the transport's buffer is under the low mark; release the callback."""
        self._write_paused = False
        cb = self._write_cb
        if cb is not None:
            self._write_cb = None
            try:
                cb()
            except BaseException as exc:
                runtime.report_uncaught(exc, self)

    def connection_lost(self, exc: Exception | None) -> None:
        """asyncio: the transport is closed → ``'error'`` (if any) then ``'close'``."""
        self._lost = True
        if self._timer is not None:
            self._stop_timer()
        if self._write_cb is not None:
            # writes that never reached the kernel: their callbacks get the error
            cb, self._write_cb = self._write_cb, None
            err = self._translate(exc, "write") if exc else ERR_SOCKET_CLOSED()
            try:
                cb(err)
            except BaseException as exc2:
                runtime.report_uncaught(exc2, self)
        if self._destroyed:
            # our _destroy closed the transport: finish it
            self._finish_destroy()
            return
        try:
            if exc is not None:
                self.destroy(self._translate(exc, self._lost_syscall(exc)))
            else:
                self.destroy()
        except BaseException as exc3:
            runtime.report_uncaught(exc3, self)

    # ------------------------------------------------------------------ stream hooks

    def _read(self, size: int) -> None:
        if self._read_paused:
            self._read_paused = False
            t = self._transport
            if t is not None and not self._lost:
                t.resume_reading()

    def _write(self, chunk: Any, encoding: str, callback: Callable[..., Any]) -> None:
        t = self._transport
        if t is None or self._connecting:
            if self._connecting or self._pending_writes is not None:
                if self._pending_writes is None:
                    self._pending_writes = []
                self._pending_writes.append((chunk, callback))
                return
            callback(ERR_SOCKET_CLOSED())
            return
        if self._lost:
            callback(ERR_SOCKET_CLOSED())
            return
        if self._nagle_due and (self._bytes_written or len(chunk) > self._nagle_first_write):
            self._nagle_on(t)
        t.write(chunk)
        self._bytes_written += len(chunk)
        if self._timeout:
            self._touch()
        if self._write_paused:
            self._write_cb = callback
        else:
            callback()

    def _writev(self, chunks: list[tuple[Any, str]], callback: Callable[..., Any]) -> None:
        t = self._transport
        if t is None or self._connecting or self._lost:
            self._write(b"".join(c for c, _ in chunks), "buffer", callback)
            return
        data = [c for c, _ in chunks]
        size = sum(len(c) for c in data)
        if self._nagle_due and (self._bytes_written or size > self._nagle_first_write):
            self._nagle_on(t)
        t.writelines(data)
        self._bytes_written += size
        if self._timeout:
            self._touch()
        if self._write_paused:
            self._write_cb = callback
        else:
            callback()

    def _final(self, callback: Callable[..., Any]) -> None:
        t = self._transport
        if t is None or self._connecting:
            if self._connecting:
                self._final_cb = callback
                return
            callback(ERR_SOCKET_CLOSED())
            return
        if not self._lost and t.can_write_eof():
            try:
                t.write_eof()
            except OSError as exc:
                callback(self._translate(exc, "shutdown"))
                return
        callback()

    def _destroy(self, err: BaseException | None, callback: Callable[..., Any]) -> None:
        self._close_due = True  # until 'close' is emitted
        self._connecting = False
        if self._timer is not None:
            self._stop_timer()
        task = self._connect_task
        if task is not None:
            self._connect_task = None
            task.cancel()
        self._had_error = err is not None
        self._final_destroy_cb = (err, callback)
        t = self._transport
        if t is None or self._lost:
            self._finish_destroy()
            return
        if self._w_finished and err is None:
            t.close()  # graceful: flushes what is buffered, then connection_lost
        else:
            t.abort()

    def _finish_destroy(self) -> None:
        pair = self._final_destroy_cb
        if pair is None:
            return
        self._final_destroy_cb = None
        err, callback = pair
        callback(err)
        self._loop.call_soon(self._emit_close_event)

    def _emit_close_event(self) -> None:
        self._close_due = False
        self._handle.close()
        # The two references to itself a socket holds, dropped now that nothing can use
        # them, so that reference counting frees a closed socket (not the cycle
        # collector); a reconnect sets them again (_reset_for_reconnect).
        self._handle.closer = None
        self._w_onwrite = _closed_onwrite
        server = self._server
        pending = self._pending_writes
        if pending:
            # Writes held while connecting (Node's _writeGeneric 'close' hook): their
            # callbacks get ERR_SOCKET_CLOSED_BEFORE_CONNECTION, just before 'close'.
            self._pending_writes = None
            for _chunk, cb in pending:
                runtime.guarded(self, cb, ERR_SOCKET_CLOSED_BEFORE_CONNECTION())
        self._final_cb = None
        try:
            self.emit("close", self._had_error)
        except BaseException as exc:
            runtime.report_uncaught(exc, self)
        if server is not None:
            server._released(self)

    # ------------------------------------------------------------------ public API

    @property
    def writable_length(self) -> int:
        """Bytes waiting to be written: the stream's buffer plus the transport's."""
        own: int = Duplex.writable_length.fget(self)  # type: ignore[attr-defined]
        t = self._transport
        if t is not None and not self._lost:
            return own + t.get_write_buffer_size()
        return own

    @property
    def buffer_size(self) -> int:
        """Node's deprecated ``bufferSize``: same as ``writable_length``."""
        return self.writable_length

    def connect(
        self,
        port: int | None = None,
        host: str | None = "localhost",
        *,
        path: str | None = None,
        local_address: str | None = None,
        local_port: int | None = None,
        family: int = 0,
        timeout: float | None = None,
        callback: Callable[[], Any] | None = None,
    ) -> Socket:
        """Open the connection (Node's ``socket.connect``). Returns the socket.

        Args:
            port: TCP port (omit when ``path`` is given).
            host: name or address, default ``'localhost'``.
            path: a Unix-domain socket path instead of host and port.
            local_address, local_port: bind the local end first.
            family: 4 or 6 to restrict the lookup, 0 for both.
            timeout: idle timeout in seconds (``set_timeout``), armed before connecting.
            callback: added as a ``'connect'`` listener.

        A socket that has emitted ``'close'`` may be connected again: this is how
        Node reconnects one (same object, same listeners, new connection).

        Raises:
            ERR_INVALID_STATE: already connected or connecting, or destroyed and
                its ``'close'`` not yet emitted.
            ERR_SOCKET_BAD_PORT: bad port (at once). Connection failures arrive as
            ``'error'`` (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, EHOSTUNREACH) then
            ``'close'``.
        """
        runtime.check_thread(self._loop, "net.Socket.connect()")
        if self._connecting or (self._transport is not None and not self.destroyed):
            raise runtime_error_already_connected()
        if self._close_due:
            raise runtime_error_closing()
        if path is None:
            if port is None:
                raise ERR_INVALID_ARG_TYPE("port", "of type int", "None")
            port = validate_port(port, "Port", allow_zero=False)
            if local_port is not None:
                local_port = validate_port(local_port, "localPort")
            if family not in (0, 4, 6):
                raise ERR_INVALID_ARG_TYPE("family", "one of 0, 4, 6", repr(family))
            validate_host(host)
            validate_host(local_address, "local_address")
            host = host or "localhost"
        elif not isinstance(path, str):
            raise ERR_INVALID_ARG_TYPE("path", "of type str", type(path).__name__)
        validate_callback(callback)
        if self.destroyed:
            self._reset_for_reconnect()
        if timeout is not None:
            self.set_timeout(timeout)
        if callback is not None:
            self.once("connect", callback)
        self._connecting = True
        self._handle.open()
        if path is not None:
            self._unix_path = path
            coro = self._connect_unix(path)
        else:
            assert port is not None and host is not None
            coro = self._connect_tcp(host, port, local_address, local_port, family)
        self._connect_task = self._loop.create_task(coro)
        return self

    def _reset_for_reconnect(self) -> None:
        # Node's connect() on a destroyed socket: forget the old handle, undestroy the
        # stream (its buffers and flowing mode stay), count bytes afresh.
        self._undestroy()
        self._handle.closer = self.destroy
        self._w_onwrite = self._onwrite
        self._transport = None
        self._server = None
        self._lost = False
        self._had_error = False
        self._peer = None
        self._sockname = None
        self._unix_path = None
        self._bytes_read = 0
        self._bytes_written = 0
        self._write_paused = False
        self._nagle_due = False
        self._write_cb = None
        self._final_destroy_cb = None
        self._pending_writes = None
        self._final_cb = None
        self._read_paused = bool(self.is_paused())  # applied by connection_made

    async def _connect_unix(self, path: str) -> None:
        try:
            await self._loop.create_unix_connection(lambda: self, path)
        except asyncio.CancelledError:
            return
        except Exception as exc:  # OSError, and anything else: never connecting forever
            self._connect_failed(translate_os_error(exc, "connect", path))
        finally:
            self._connect_task = None

    async def _connect_tcp(
        self,
        host: str,
        port: int,
        local_address: str | None,
        local_port: int | None,
        family: int,
    ) -> None:
        loop = self._loop
        af = {0: _socket.AF_UNSPEC, 4: _socket.AF_INET, 6: _socket.AF_INET6}[family]
        try:
            kind = is_ip(host)
            if kind:
                addresses = [(host, kind)]
            else:
                try:
                    infos = await lookup(loop, host, port, family=af, type=_socket.SOCK_STREAM)
                except OSError as err:
                    self._emit_guarded("lookup", err, None, None, host)
                    self._connect_failed(err)
                    return
                addresses = []
                for fam, _t, _p, _c, sa in infos:
                    entry = (str(sa[0]), 6 if fam == _socket.AF_INET6 else 4)
                    if entry not in addresses:
                        addresses.append(entry)
                self._emit_guarded("lookup", None, addresses[0][0], addresses[0][1], host)
            local = None
            if local_address is not None or local_port:
                local = (
                    local_address or ("::" if addresses[0][1] == 6 else "0.0.0.0"),
                    local_port or 0,
                )
            last: BaseException | None = None
            for i, (address, _fam) in enumerate(addresses):
                if self.destroyed:
                    return
                attempt = loop.create_connection(lambda: self, address, port, local_addr=local)
                try:
                    if i < len(addresses) - 1:
                        await asyncio.wait_for(attempt, ATTEMPT_TIMEOUT)
                    else:
                        await attempt
                    return
                except asyncio.TimeoutError:
                    last = translate_os_error(TimeoutError(), "connect", address, port)
                except OSError as exc:
                    last = translate_os_error(exc, "connect", address, port)
            assert last is not None
            self._connect_failed(last)
        except asyncio.CancelledError:
            return
        except Exception as exc:
            # Never leave the socket connecting forever: whatever failed is the
            # connect error ('error', then 'close').
            self._connect_failed(translate_os_error(exc, "connect", host, port))
        finally:
            self._connect_task = None

    def _connect_failed(self, err: BaseException) -> None:
        self._connecting = False
        pending = self._pending_writes
        self._pending_writes = None
        if pending:
            for _chunk, cb in pending:
                cb(err)
        if self._final_cb is not None:
            cb, self._final_cb = self._final_cb, None
            cb(err)
        try:
            self.destroy(err)
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    def _emit_guarded(self, event: str, *args: Any) -> None:
        try:
            self.emit(event, *args)
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    def __await__(self) -> Generator[Any, None, Socket]:
        return self._wait_connected().__await__()

    # The event an awaited socket waits for (TLSSocket waits for 'secureConnect').
    _ready_event = "connect"
    # The largest first write that leaves before Nagle is turned on (see connection_made).
    _nagle_first_write = NAGLE_FIRST_WRITE

    def _is_ready(self) -> bool:
        return self._transport is not None and not self._connecting

    async def _wait_connected(self) -> Socket:
        if self._is_ready():
            return self
        if self.destroyed:
            err = self.errored
            raise err if err is not None else ERR_SOCKET_CLOSED_BEFORE_CONNECTION()
        fut: asyncio.Future[Socket] = self._loop.create_future()

        def on_connect() -> None:
            if not fut.done():
                fut.set_result(self)

        def on_error(err: BaseException) -> None:
            if not fut.done():
                fut.set_exception(err)

        def on_close(_had_error: bool = False) -> None:
            if not fut.done():
                fut.set_exception(ERR_SOCKET_CLOSED_BEFORE_CONNECTION())

        self.once(self._ready_event, on_connect)
        self.once("error", on_error)
        self.once("close", on_close)
        try:
            return await fut
        finally:
            self.remove_listener(self._ready_event, on_connect)
            self.remove_listener("error", on_error)
            self.remove_listener("close", on_close)

    def destroy_soon(self) -> None:
        """End the writable side, then destroy once everything is written."""
        if self.writable:
            self.end()
        if self.writable_finished:
            self.destroy()
        else:
            self.once("finish", self.destroy)

    def reset_and_destroy(self) -> Socket:
        """Close the connection with a TCP RST (the peer sees ECONNRESET), then destroy."""
        t = self._transport
        if t is not None and not self._lost:
            sock = t.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            self._had_error = False
            self._final_destroy_cb = None
            t.abort()
        self.destroy()
        return self

    def pause(self) -> Socket:
        """Stop reading from the kernel (and stop ``'data'``) until ``resume()``."""
        if not runtime.on_loop(self._loop):
            runtime.check_thread(self._loop, "net.Socket.pause()")
        super().pause()
        if not self._read_paused:
            self._read_paused = True
            t = self._transport
            if t is not None and not self._lost:
                t.pause_reading()
        return self

    def resume(self) -> Socket:
        """Resume ``'data'`` and reading from the kernel."""
        if not runtime.on_loop(self._loop):
            runtime.check_thread(self._loop, "net.Socket.resume()")
        super().resume()
        # Restart reading here rather than waiting for _read(): a _read() issued before
        # pause() is still outstanding, so the stream would not ask again.
        if self._read_paused and self._r_length < self._r_hwm:
            self._read_paused = False
            t = self._transport
            if t is not None and not self._lost:
                t.resume_reading()
        return self

    def set_timeout(self, timeout: float, callback: Callable[[], Any] | None = None) -> Socket:
        """Emit ``'timeout'`` after ``timeout`` seconds without activity (0 disables).

        ``'timeout'`` comes once per idle period: after it, the next read or write
        starts a new period. The socket is not closed: the listener decides (usually
        ``end()`` or ``destroy()``), as in Node.

        Raises:
            ERR_INVALID_ARG_TYPE: ``timeout`` is not a number, or ``callback`` is not
                callable.
            ERR_OUT_OF_RANGE: ``timeout`` is negative, NaN or infinite.
        """
        runtime.check_thread(self._loop, "net.Socket.set_timeout()")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
            raise ERR_INVALID_ARG_TYPE("timeout", "of type int or float", type(timeout).__name__)
        if timeout < 0 or not math.isfinite(timeout):  # Node's getTimerDuration
            raise ERR_OUT_OF_RANGE("timeout", "a non-negative finite number", repr(timeout))
        validate_callback(callback)
        if callback is not None:
            if timeout == 0:
                self.remove_listener("timeout", callback)
            else:
                self.once("timeout", callback)
        self._stop_timer()
        self._timeout = float(timeout)
        if self._timeout and not self.destroyed:
            self._touch()
        return self

    def _touch(self) -> None:
        self._last_active = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._last_active + self._timeout, self._on_timer)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        # Activity only records a timestamp (and arms the timer when none is pending);
        # the timer re-arms for the remaining time. Once 'timeout' has been emitted no
        # timer is left: the next activity arms it again, so 'timeout' comes once per
        # idle period, as Node's (a timer refreshed by activity, not an interval).
        self._timer = None
        if not self._timeout or self.destroyed:
            return
        due = self._last_active + self._timeout
        now = self._loop.time()
        if now < due:
            self._timer = self._loop.call_at(due, self._on_timer)
            return
        try:
            self.emit("timeout")
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    @property
    def timeout(self) -> float | None:
        """The idle timeout in seconds set by ``set_timeout``, or None."""
        return self._timeout or None

    def set_no_delay(self, no_delay: bool = True) -> Socket:
        """Disable (True) or enable (False) Nagle's algorithm."""
        self._no_delay = bool(no_delay)
        self._nagle_due = False
        sock = self._raw_socket()
        if sock is not None and sock.family in (_socket.AF_INET, _socket.AF_INET6):
            try:
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, int(self._no_delay))
            except OSError:
                pass
        return self

    def set_keep_alive(self, enable: bool = False, initial_delay: float = 0) -> Socket:
        """Enable TCP keep-alive: the first probe after ``initial_delay`` seconds of idle
        (whole seconds; under one, the system's default), then one a second; ten
        unanswered end the connection with ETIMEDOUT (Node 20's libuv settings)."""
        self._keep_alive = bool(enable)
        self._keep_alive_delay = initial_delay
        sock = self._raw_socket()
        if sock is not None and sock.family in (_socket.AF_INET, _socket.AF_INET6):
            try:
                self._apply_keep_alive(sock, self._keep_alive, initial_delay)
            except OSError:
                pass
        return self

    @staticmethod
    def _apply_keep_alive(sock: Any, enable: bool, delay: float) -> None:
        # libuv's uv_tcp_keepalive as Node 20 calls it: whole seconds of idle (Node's
        # ~~(ms / 1000)), then probes every second and the peer given up after 10
        # unanswered (a vanished peer is an ETIMEDOUT error some 11 s past the idle
        # delay, not the system's 11 minutes); under a second, the system's idle time.
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, int(enable))
        seconds = int(delay) if isinstance(delay, (int, float)) and math.isfinite(delay) else 0
        if enable and seconds >= 1 and hasattr(_socket, "TCP_KEEPIDLE"):
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPIDLE, seconds)
            if hasattr(_socket, "TCP_KEEPINTVL") and hasattr(_socket, "TCP_KEEPCNT"):
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPINTVL, 1)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPCNT, 10)

    def _raw_socket(self) -> Any:
        t = self._transport
        if t is None or self._lost:
            return None
        return t.get_extra_info("socket")

    def _lost_syscall(self, exc: BaseException) -> str:
        # The call Node names for an error that ends the connection with no write
        # waiting on it: libuv, when the socket fails, reports it to the read in
        # progress first, and to a write only when nothing is reading. EPIPE only ever
        # comes from a write.
        if getattr(exc, "errno", None) == _EPIPE or not self._transport_reads():
            return "write"
        return "read"

    def _transport_reads(self) -> bool:
        # Not paused, and not past the peer's FIN. (Node's pause() reads on until its
        # buffer is full, ours stops the transport at once: a paused socket whose peer
        # resets with nothing sent says 'write' where Node says 'read'.)
        return not self._read_paused and not self._r_ended

    @staticmethod
    def _translate(exc: BaseException, syscall: str) -> BaseException:
        # Node's ErrnoException for a read, write or shutdown: "read ECONNRESET", with
        # no address (only connect's errors name one); nor a getpeername per reset.
        return translate_os_error(exc, syscall)

    def _peer_tuple(self) -> Any:
        if self._peer is None and self._transport is not None:
            self._peer = self._transport.get_extra_info("peername")
        p = self._peer
        return p if isinstance(p, tuple) else None

    def _sock_tuple(self) -> Any:
        if self._sockname is None and self._transport is not None:
            self._sockname = self._transport.get_extra_info("sockname")
        return self._sockname

    def address(self) -> AddressInfo | dict[str, Any]:
        """The local address: ``{port, family, address}`` (empty before connecting)."""
        s = self._sock_tuple()
        if isinstance(s, tuple):
            return AddressInfo(str(s[0]), family_name(str(s[0])), int(s[1]))
        return {}

    @property
    def remote_address(self) -> str | None:
        """The peer's IP address, or None (not connected, or a Unix socket)."""
        p = self._peer_tuple()
        return str(p[0]) if p else None

    @property
    def remote_family(self) -> str | None:
        """``'IPv4'`` or ``'IPv6'``, or None."""
        p = self._peer_tuple()
        return family_name(str(p[0])) if p else None

    @property
    def remote_port(self) -> int | None:
        """The peer's port, or None."""
        p = self._peer_tuple()
        return int(p[1]) if p else None

    @property
    def local_address(self) -> str | None:
        """The local IP address, or None."""
        s = self._sock_tuple()
        return str(s[0]) if isinstance(s, tuple) else None

    @property
    def local_port(self) -> int | None:
        """The local port, or None."""
        s = self._sock_tuple()
        return int(s[1]) if isinstance(s, tuple) else None

    @property
    def local_family(self) -> str | None:
        """``'IPv4'`` or ``'IPv6'`` of the local end, or None."""
        s = self._sock_tuple()
        return family_name(str(s[0])) if isinstance(s, tuple) else None

    @property
    def bytes_read(self) -> int:
        """Bytes received so far."""
        return self._bytes_read

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the connection so far, including those still buffered."""
        return self._bytes_written + Duplex.writable_length.fget(self)  # type: ignore[attr-defined, no-any-return]

    @property
    def connecting(self) -> bool:
        """True between ``connect()`` and ``'connect'``."""
        return self._connecting

    @property
    def pending(self) -> bool:
        """True until the socket is connected (Node: no handle yet, or connecting)."""
        return self._transport is None or self._connecting

    @property
    def ready_state(self) -> str:
        """``'opening'``, ``'open'``, ``'readOnly'``, ``'writeOnly'`` or ``'closed'``
        (``'closed'`` too once its loop has closed, after ``run()`` has returned)."""
        if self._loop.is_closed():
            return "closed"
        if self._connecting:
            return "opening"
        if self.destroyed or self._transport is None:
            return "closed"
        r, w = self.readable, self.writable
        if r and w:
            return "open"
        if r:
            return "readOnly"
        if w:
            return "writeOnly"
        return "closed"

    def ref(self) -> Socket:
        """Keep the process alive while this socket is open (the default)."""
        self._handle.ref()
        return self

    def unref(self) -> Socket:
        """Let the process exit even if this socket is still open."""
        self._handle.unref()
        return self

    def __repr__(self) -> str:
        return f"<nodish.net.Socket {self.ready_state} {self._peer_tuple() or ''}>"


# The slots a socket made by accepted_socket_maker gets per socket; it copies every other
# slot's value from a prototype the constructor built.
_PER_SOCKET = ("_capture_rejections", "_events", "_handle", "_loop", "_server", "_w_onwrite")


def accepted_socket_maker(
    server: Any,
    opts: dict[str, Any],
    proto: Socket | None = None,
    own: tuple[str, ...] = (),
) -> Callable[[Any], Any] | None:
    """A function ``make(server)`` that builds what ``Socket(_server=server, **opts)``
    builds, in one call: a server builds one socket per connection, and the ordinary
    constructor (Stream, Readable, Writable, Duplex and Socket initialisers, keyword
    processing) costs several microseconds of it.

    The constructor builds one prototype (or the caller gives it: a subclass's, such as
    tls.Server's TLSSocket); every slot it set to a plain value (None, a bool, a number,
    a string, the empty tuple) is assigned that value as a constant, and the slots in
    ``_PER_SOCKET`` are built afresh for each socket as the constructor builds them. The
    caller sets the slots named in ``own`` itself. None when the prototype holds
    anything else (an option of an unusual type): the server then calls the constructor.
    """
    if proto is None:
        proto = Socket(_server=server, **opts)
    cls = type(proto)
    lines = [
        "def make(server):",
        "    self = new(Socket)",
        "    self._loop = loop",
        "    self._events = {}",
        "    self._capture_rejections = EventEmitter.capture_rejections",
        "    self._server = server",
        "    self._handle = handle = new(HandleRef)",
        "    handle._st = state",
        "    handle.active = False",
        "    handle.refed = True",
        "    handle.closer = self.destroy",
        "    self._w_onwrite = self._onwrite",
    ]
    names: list[str] = []
    for klass in cls.__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            if name not in _PER_SOCKET and name not in own and name not in names:
                names.append(name)
    for name in names:
        try:
            value = getattr(proto, name)
        except AttributeError:
            continue  # the constructor leaves it unset
        if (
            not (
                value is None
                or type(value) in (bool, int, float, str)
                or (type(value) is tuple and not value)
            )
            or value != value
        ):  # NaN
            return None
        lines.append(f"    self.{name} = {value!r}")
    lines.append("    return self")
    env: dict[str, Any] = {
        "new": object.__new__,
        "Socket": cls,
        # the server's loop, which runs its accept callbacks, and that loop's books
        "loop": proto._loop,
        "state": proto._handle._st,
        "HandleRef": runtime.HandleRef,
        "EventEmitter": EventEmitter,
        "inf": math.inf,
    }
    exec("\n".join(lines), env)  # source built above: slot names and repr() of plain values
    make: Callable[[Any], Any] = env["make"]
    return make


def runtime_error_already_connected() -> BaseException:
    from ..errors import ERR_INVALID_STATE

    return ERR_INVALID_STATE("socket is already connected or connecting")


def runtime_error_closing() -> BaseException:
    from ..errors import ERR_INVALID_STATE

    return ERR_INVALID_STATE("socket is closing; connect() it again after its 'close' event")
