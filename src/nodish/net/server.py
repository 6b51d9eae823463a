"""``net.Server``: a listening TCP or Unix-domain socket that accepts ``net.Socket``\\ s.

Theory of operation
-------------------
``listen()`` validates at once and returns; binding happens on the loop (a name is
resolved first), then ``'listening'`` or ``'error'`` (``EADDRINUSE``, ``EACCES``, with
Node's ``listen EADDRINUSE: address already in use 127.0.0.1:8124`` message) is
emitted. nodish creates and binds the listening socket itself, so it sets what libuv
sets: ``SO_REUSEADDR``, ``IPV6_V6ONLY`` only when asked (no host means dual-stack
``::`` where the machine has IPv6, as Node), ``SO_REUSEPORT`` when asked; then hands it
to ``loop.create_server(sock=...)``. Every accepted connection is a :class:`Socket`
built by the server with its options; the socket reports back when it is accepted
(``_accepted``: ``max_connections`` check, then ``'connection'``) and when its
``'close'`` has been emitted (``_released``).

``close()`` stops accepting at once; ``'close'`` follows when the last connection has
closed (Node's ``_emitCloseIfDrained``). The server's handle keeps the process alive
from ``listen()`` until ``'close'`` (or ``unref()``). A Unix socket path is unlinked on
close, as libuv does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket as _socket
import stat
import sys
from collections.abc import Callable, Generator
from typing import Any

from .. import runtime
from .._address import AddressInfo, family_name, is_ip, lookup, validate_host, validate_port
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_SERVER_ALREADY_LISTEN,
    ERR_SERVER_NOT_RUNNING,
    translate_os_error,
    validate_callback,
)
from ..events import EventEmitter
from .socket import Socket, accepted_socket_maker

__all__ = ["DropInfo", "Server"]

# Set by nodish.cluster in a worker process (Node's listenInCluster): called with
# (server, address, port, family, backlog, shared) for every TCP listen; it returns
# (listener, sockname) when the primary provides the port, None when the server binds
# itself (exclusive or reuse_port), and raises the primary's bind error.
cluster_listen: Callable[..., Any] | None = None


def _has_ipv6() -> bool:
    if not _socket.has_ipv6:
        return False
    try:
        with _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class DropInfo:
    """What Node passes to ``'drop'``: both ends of the refused connection."""

    __slots__ = (
        "local_address",
        "local_family",
        "local_port",
        "remote_address",
        "remote_family",
        "remote_port",
    )

    def __init__(self, sock: Socket) -> None:
        self.local_address = sock.local_address
        self.local_port = sock.local_port
        self.local_family = sock.local_family
        self.remote_address = sock.remote_address
        self.remote_port = sock.remote_port
        self.remote_family = sock.remote_family

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __repr__(self) -> str:
        return (
            f"DropInfo(local={self.local_address}:{self.local_port}, "
            f"remote={self.remote_address}:{self.remote_port})"
        )


class Server(EventEmitter):
    """A TCP or IPC server; Node's ``net.Server``.

    Mirrors https://nodejs.org/docs/latest-v20.x/api/net.html#class-netserver.
    Events: ``'listening'``, ``'connection'`` (a :class:`Socket`), ``'close'``,
    ``'error'``, ``'drop'`` (past ``max_connections``).

    A Server is awaitable after ``listen()``: ``await server.listen(0)`` waits for
    ``'listening'`` and raises the listen error. ``async with server:`` closes it and
    waits for ``'close'`` on exit.
    """

    __slots__ = (
        "_aserver",
        "_closing",
        "_connections",
        "_family",
        "_handle",
        "_listen_task",
        "_loop",
        "_loop_no_delay",
        "_make",
        "_make_tried",
        "_opts",
        "_pause_on_connect",
        "_refusing",
        "_sockname",
        "_unix_path",
        "max_connections",
    )

    def __init__(
        self,
        connection_listener: Callable[[Socket], Any] | None = None,
        *,
        allow_half_open: bool = False,
        pause_on_connect: bool = False,
        no_delay: bool = False,
        keep_alive: bool = False,
        keep_alive_initial_delay: float = 0,
        high_water_mark: int | None = None,
    ) -> None:
        super().__init__()
        self._loop = runtime.get_loop()
        # uvloop turns Nagle off on every accepted socket; asyncio leaves it on
        self._loop_no_delay = type(self._loop).__module__.startswith("uvloop")
        self._opts: dict[str, Any] = {
            "allow_half_open": allow_half_open,
            "no_delay": no_delay,
            "keep_alive": keep_alive,
            "keep_alive_initial_delay": keep_alive_initial_delay,
            "high_water_mark": high_water_mark,
        }
        self._pause_on_connect = pause_on_connect
        # builds the accepted sockets (accepted_socket_maker), made on the first one
        self._make: Callable[[Server], Socket] | None = None
        self._make_tried = False
        self._handle = runtime.HandleRef(self._loop, self.close)
        self._aserver: asyncio.AbstractServer | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._connections = 0
        self._closing = False
        # set by close() on a plain-asyncio listener: see _refuse_late_accept()
        self._refusing = False
        self._sockname: Any = None
        self._unix_path: str | None = None
        # the listening socket's address family (its accepted sockets have it too)
        self._family: int | None = None
        self.max_connections: int | None = None
        if connection_listener is not None:
            self.on("connection", connection_listener)

    # ------------------------------------------------------------------ listening

    def listen(
        self,
        port: int | None = 0,
        host: str | None = None,
        backlog: int = 511,
        *,
        path: str | None = None,
        ipv6_only: bool = False,
        exclusive: bool = False,
        reuse_port: bool = False,
        callback: Callable[[], Any] | None = None,
    ) -> Server:
        """Start accepting connections (Node's ``server.listen``). Returns the server.

        Args:
            port: TCP port; 0 (the default) picks a free one.
            host: address or name to bind; None binds ``::`` (dual-stack) where IPv6
                exists, else ``0.0.0.0``, as Node.
            backlog: the pending-connection queue length.
            path: a Unix-domain socket path instead of host and port.
            ipv6_only: with an IPv6 host, do not accept IPv4 too.
            exclusive: in a cluster worker, bind here instead of sharing the
                primary's socket (elsewhere it changes nothing).
            reuse_port: set ``SO_REUSEPORT`` so several processes can listen on one
                port (in a cluster worker: each worker binds its own socket).
            callback: added as a ``'listening'`` listener.

        Raises:
            ERR_SERVER_ALREADY_LISTEN: already listening.
            ERR_SOCKET_BAD_PORT: the port is out of range (at once). Bind failures
            arrive as ``'error'``.
        """
        runtime.check_thread(self._loop, "net.Server.listen()")
        if self._aserver is not None or self._listen_task is not None:
            raise ERR_SERVER_ALREADY_LISTEN()
        self._refusing = False
        if path is None:
            port = validate_port(0 if port is None else port, "options.port")
            validate_host(host)
        elif not isinstance(path, str):
            raise ERR_INVALID_ARG_TYPE("path", "of type str", type(path).__name__)
        if not isinstance(backlog, int) or backlog < 0:
            raise ERR_INVALID_ARG_TYPE("backlog", "a non-negative int", repr(backlog))
        validate_callback(callback)
        if callback is not None:
            self.once("listening", callback)
        self._closing = False
        self._handle.open()
        self._listen_task = self._loop.create_task(
            self._listen(port, host, backlog, path, ipv6_only, reuse_port, exclusive)
        )
        return self

    async def _listen(
        self,
        port: int | None,
        host: str | None,
        backlog: int,
        path: str | None,
        ipv6_only: bool,
        reuse_port: bool,
        exclusive: bool = False,
        adopted: _socket.socket | None = None,
    ) -> None:
        sock: _socket.socket | None = adopted
        where: str | None = path
        got: Any = None
        fam: int = _socket.AF_UNIX
        try:
            if adopted is not None:
                pass  # bound already (a listening socket received from another process)
            elif path is not None:
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.bind(path)
            else:
                assert port is not None
                if not host:  # None or "": every interface, as Node
                    address, fam = (
                        ("::", _socket.AF_INET6) if _has_ipv6() else ("0.0.0.0", _socket.AF_INET)
                    )
                elif is_ip(host):
                    address = host
                    fam = _socket.AF_INET6 if is_ip(host) == 6 else _socket.AF_INET
                else:
                    try:
                        infos = await lookup(
                            self._loop,
                            host,
                            port,
                            type=_socket.SOCK_STREAM,
                            flags=_socket.AI_PASSIVE,
                        )
                    except OSError as err:
                        self._listen_failed(err)
                        return
                    fam, _t, _p, _c, sa = infos[0]
                    address = str(sa[0])
                where = address
                if cluster_listen is not None:
                    shared = not (exclusive or reuse_port)
                    got = await cluster_listen(self, address, port, fam, backlog, shared)
                if got is None:
                    sock = _socket.socket(fam, _socket.SOCK_STREAM)
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
                    if reuse_port:
                        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
                    if fam == _socket.AF_INET6:
                        sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, int(ipv6_only))
                    sock.bind((address, port))
            if got is None:
                assert sock is not None
                sock.setblocking(False)
                self._aserver = await self._loop.create_server(
                    self._factory, sock=sock, backlog=backlog
                )
            else:
                self._aserver = got[0]
        except asyncio.CancelledError:
            if sock is not None:
                sock.close()
            return
        except Exception as exc:  # OSError, and anything else: never listening forever
            if sock is not None:
                sock.close()
            self._listen_failed(translate_os_error(exc, "listen", where, port, detail=True))
            return
        finally:
            self._listen_task = None
        self._unix_path = path
        if got is not None:
            self._sockname = got[1]
            self._family = fam
        else:
            assert sock is not None
            self._sockname = path if path is not None else sock.getsockname()
            self._family = sock.family
        try:
            self.emit("listening")
        except BaseException as exc:
            runtime.report_uncaught(exc, self)

    def _listen_adopted(self, sock: _socket.socket) -> Server:
        """Listen on ``sock``, an already bound socket the server now owns (a
        ``net.Server`` handle received from a cluster peer); ``'listening'`` follows."""
        if self._aserver is not None or self._listen_task is not None:
            raise ERR_SERVER_ALREADY_LISTEN()
        self._closing = False
        self._handle.open()
        self._listen_task = self._loop.create_task(
            self._listen(0, None, 511, None, False, False, adopted=sock)
        )
        return self

    def _listen_failed(self, err: BaseException) -> None:
        self._handle.close()
        try:
            self.emit("error", err)
        except BaseException as exc:
            runtime.report_uncaught(exc, None)

    def _factory(self) -> Socket:
        if self._refusing:
            self._refuse_late_accept()
        make = self._make
        if make is None and not self._make_tried:
            self._make_tried = True
            make = self._make = accepted_socket_maker(self, self._opts)
        if make is not None:
            return make(self)
        return Socket(_server=self, **self._opts)

    @staticmethod
    def _refuse_late_accept() -> None:
        """Refuse a connection plain asyncio accepted in the turn the server closed.

        asyncio accepts in one turn and builds the transport in the next; by then
        close() has closed its ``asyncio.Server``, whose ``_attach()`` asserts, and the
        half-built transport (a reference cycle) would keep the connection open and
        unread until a garbage collection. Raising here stops the build before it
        starts, and the accepted socket (asyncio's ``_accept_connection2`` holds it as
        ``conn``) is closed now, so the client sees the connection end at once, as
        it would have had the connection still been in the listen queue. uvloop builds
        the transport at accept() and never comes here.
        """
        frame = sys._getframe(1)
        for _ in range(4):
            frame = frame.f_back  # type: ignore[assignment]
            if frame is None:
                break
            if frame.f_code.co_name == "_accept_connection2":
                conn = frame.f_locals.get("conn")
                if isinstance(conn, _socket.socket):
                    conn.close()
                break
        raise ConnectionAbortedError("the server closed before this connection was set up")

    # ------------------------------------------------------------------ connections

    def _accepted(self, sock: Socket) -> bool:
        """Called by an accepted socket's ``connection_made``. False means refused."""
        limit = self.max_connections
        if limit is not None and self._connections >= limit:
            info = DropInfo(sock)
            sock._server = None
            sock.destroy()
            try:
                self.emit("drop", info)
            except BaseException as exc:
                runtime.report_uncaught(exc, self)
            return False
        self._connections += 1
        if self._pause_on_connect:
            sock.pause()
        try:
            self.emit("connection", sock)
        except BaseException as exc:
            runtime.report_uncaught(exc, sock)
        return True

    def _released(self, sock: Socket) -> None:
        """Called once an accepted socket has emitted ``'close'``."""
        self._connections -= 1
        self._emit_close_if_drained()

    def get_connections(self, callback: Callable[[Any, int], Any] | None = None) -> int:
        """The number of open connections (also passed to ``callback(err, count)``)."""
        validate_callback(callback)
        n = self._connections
        if callback is not None:
            runtime.call_soon(callback, None, n, owner=self)
        return n

    # ------------------------------------------------------------------ closing

    def close(self, callback: Callable[..., Any] | None = None) -> Server:
        """Stop accepting new connections; ``'close'`` follows once all have ended.

        ``callback`` is added as a ``'close'`` listener; when the server was not
        listening it is called with ``ERR_SERVER_NOT_RUNNING`` (and ``'close'`` is
        still emitted, as in Node).
        """
        runtime.check_thread(self._loop, "net.Server.close()")
        validate_callback(callback)
        if self._loop.is_closed():
            # run() has returned: the loop closed the listening socket with itself.
            # Nothing can be emitted any more; forget it quietly.
            self._aserver = self._listen_task = None
            if self._unix_path is not None:
                self._unlink(self._unix_path)
            self._handle.close()
            return self
        running = self._aserver is not None or self._listen_task is not None
        if callback is not None:
            if running:
                self.once("close", callback)
            else:
                self.once("close", lambda *_: callback(ERR_SERVER_NOT_RUNNING()))
        if self._listen_task is not None:
            self._listen_task.cancel()
            self._listen_task = None
        if self._aserver is not None:
            # uvloop's server, or cluster's, builds its transports at accept()
            self._refusing = type(self._aserver) is asyncio.base_events.Server
            self._aserver.close()
            self._aserver = None
            if self._unix_path is not None:
                self._unlink(self._unix_path)
        self._closing = True
        self._emit_close_if_drained()
        return self

    def _on_uncaught(self, exc: BaseException) -> None:
        """A listener of this server raised (``'listening'``, ``'drop'``...): the
        uncaught-exception rule destroys the object whose callback raised, and for a
        server that is ``close()`` (its open connections are left to finish)."""
        if self._aserver is not None or self._listen_task is not None:
            self.close()

    @staticmethod
    def _unlink(path: str) -> None:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)

    def _emit_close_if_drained(self) -> None:
        if not self._closing or self._aserver is not None or self._connections:
            return
        self._closing = False
        self._loop.call_soon(self._emit_close)

    def _emit_close(self) -> None:
        self._sockname = None
        self._handle.close()
        try:
            self.emit("close")
        except BaseException as exc:
            runtime.report_uncaught(exc, None)

    # ------------------------------------------------------------------ introspection

    @property
    def listening(self) -> bool:
        """Whether the server is accepting connections (never once its loop has closed,
        after ``run()`` has returned)."""
        return self._aserver is not None and not self._loop.is_closed()

    def address(self) -> AddressInfo | str | None:
        """``{port, family, address}`` once listening, the path for a Unix socket,
        None otherwise."""
        s = self._sockname
        if s is None or not self.listening:
            return None
        if isinstance(s, str):
            return s
        return AddressInfo(str(s[0]), family_name(str(s[0])), int(s[1]))

    def ref(self) -> Server:
        """Keep the process alive while the server is listening (the default)."""
        self._handle.ref()
        return self

    def unref(self) -> Server:
        """Let the process exit even though this server is listening."""
        self._handle.unref()
        return self

    # ------------------------------------------------------------------ await / async with

    def __await__(self) -> Generator[Any, None, Server]:
        return self._wait_listening().__await__()

    async def _wait_listening(self) -> Server:
        if self._aserver is not None:
            return self
        if self._listen_task is None:
            raise ERR_SERVER_NOT_RUNNING()
        fut: asyncio.Future[Server] = self._loop.create_future()

        def on_listening() -> None:
            if not fut.done():
                fut.set_result(self)

        def on_error(err: BaseException) -> None:
            if not fut.done():
                fut.set_exception(err)

        self.once("listening", on_listening)
        self.once("error", on_error)
        try:
            return await fut
        finally:
            self.remove_listener("listening", on_listening)
            self.remove_listener("error", on_error)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._aserver is None and self._listen_task is None and not self._closing:
            return
        fut: asyncio.Future[None] = self._loop.create_future()

        def on_close(*_: Any) -> None:
            if not fut.done():
                fut.set_result(None)

        self.once("close", on_close)
        self.close()
        await fut

    def __repr__(self) -> str:
        return f"<nodish.net.Server listening={self.listening} address={self.address()!r}>"
