"""The Socket.IO server (socket.io v4's ``Server``, in snake_case).

``Server(http_server=None, *, path='/socket.io', ...)`` attaches to an
:mod:`nodish.http` server (or makes one with :meth:`listen`) and serves Engine.IO
under ``path``; other requests go to the HTTP server's own ``'request'`` listeners
(404 when there are none, as when socket.io makes the server itself). The methods
that Node's ``Server`` forwards to the main namespace (``on``, ``emit``, ``to``,
``use``, ``fetch_sockets``...) are forwarded here too, so ``io.on('connection', fn)``
listens on ``io.of('/')``.

``close()`` disconnects every socket (``'server shutting down'``), closes the
adapters, and closes the HTTP server, as Node's does.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

from .. import runtime
from . import _options as opt
from ._client import Client
from .adapter import Adapter
from .broadcast import BroadcastOperator, check_loop
from .client_bundle import ClientFiles
from .engine import EngineServer
from .namespace import Namespace, run_steps
from .parent_namespace import ParentNamespace

__all__ = ["Server"]


class Server:
    """A Socket.IO server.

    Args:
        http_server: an ``http.Server`` to attach to now (else :meth:`attach` or
            :meth:`listen` later).
        path: where Engine.IO is served.
        cors: CORS options (``origin``, ``credentials``, ``methods``,
            ``allowed_headers``) as for the ``cors`` npm package.
        ping_interval, ping_timeout: heartbeat, in seconds.
        transports: the transports allowed, among ``'polling'`` and ``'websocket'``.
        adapter: a factory ``adapter(namespace) -> Adapter`` (default: in memory);
            :func:`nodish.socketio.create_redis_adapter` makes one for Redis.
        max_http_buffer_size: the largest message or POST body, in bytes.
        connect_timeout: how long a connection may stay without a namespace.
        allow_request: ``fn(req, callback)``; ``callback(err, ok)`` admits a handshake.
        serve_client: serve the official client at ``{path}/socket.io.js`` (also
            ``.min.js``, ``.esm.min.js`` and their ``.map``), as Node does by default:
            True for the socket.io-client release shipped with nodish, a directory or
            a bundle file of your own, or False (None) for none.
    """

    def __init__(
        self,
        http_server: Any = None,
        *,
        path: str = "/socket.io",
        cors: dict[str, Any] | None = None,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        transports: tuple[str, ...] | list[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        adapter: Callable[[Namespace], Adapter] | None = None,
        max_http_buffer_size: int = 1_000_000,
        connect_timeout: float = 45.0,
        allow_request: Callable[..., Any] | None = None,
        serve_client: bool | str | os.PathLike[str] | None = True,
        cleanup_empty_child_namespaces: bool = False,
    ) -> None:
        # every option checked here, at once (see _options)
        path = opt.string("path", path)
        cors = opt.mapping("cors", cors)
        ping_interval = opt.seconds("ping_interval", ping_interval)
        ping_timeout = opt.seconds("ping_timeout", ping_timeout)
        upgrade_timeout = opt.seconds("upgrade_timeout", upgrade_timeout)
        connect_timeout = opt.seconds("connect_timeout", connect_timeout)
        transports = opt.transports("transports", transports)
        adapter = opt.function("adapter", adapter)
        allow_request = opt.function("allow_request", allow_request)
        max_http_buffer_size = opt.size("max_http_buffer_size", max_http_buffer_size)
        if http_server is not None:
            opt.http_server(http_server)
        self.path = "/" + path.strip("/")
        self._loop = runtime.get_loop()
        self.connect_timeout = connect_timeout
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        # dynamic namespaces: a check (name, auth, next) -> its parent, in order made
        self._parent_nsps: dict[Callable[..., Any], ParentNamespace] = {}
        self._parent_patterns: dict[re.Pattern[str], ParentNamespace] = {}
        self.serve_client = serve_client not in (False, None)
        self._client_files = (
            ClientFiles(self.path, serve_client)  # type: ignore[arg-type]
            if self.serve_client
            else None
        )
        self._adapter_factory: Callable[[Namespace], Adapter] = adapter or Adapter
        self.engine = EngineServer(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            upgrade_timeout=upgrade_timeout,
            max_http_buffer_size=max_http_buffer_size,
            transports=transports,
            allow_upgrades=allow_upgrades,
            allow_request=allow_request,
            cors=cors,
        )
        self.engine.on("connection", self._on_connection)
        self._nsps: dict[str, Namespace] = {}
        self.sockets = self.of("/")
        self.http_server: Any = None
        self._other_listeners: list[Callable[..., Any]] = []
        if http_server is not None:
            self.attach(http_server)

    # namespaces ----------------------------------------------------------------------
    def of(
        self,
        name: str | re.Pattern[str] | Callable[..., Any],
        fn: Callable[..., Any] | None = None,
    ) -> Namespace:
        """The namespace ``name`` (made on first use); ``fn`` listens to its ``'connect'``.

        A compiled pattern or a check ``check(name, auth, next)`` makes a parent of
        namespaces created when a client asks for a matching name (see
        :mod:`.parent_namespace`).
        """
        if isinstance(name, re.Pattern) or (callable(name) and not isinstance(name, str)):
            return self._parent(name, fn)
        if not isinstance(name, str):
            from ..errors import ERR_INVALID_ARG_TYPE

            raise ERR_INVALID_ARG_TYPE(
                "name", "of type string, RegExp (re.Pattern) or function", type(name).__name__
            )
        if not name.startswith("/"):
            name = "/" + name
        nsp = self._nsps.get(name)
        if nsp is None:
            for pattern, parent in self._parent_patterns.items():
                if pattern.search(name):
                    nsp = parent.create_child(name)
                    break
            else:
                nsp = self._nsps[name] = Namespace(self, name)
                if name != "/":
                    self.sockets.emit_local("new_namespace", nsp)
        if fn is not None:
            nsp.on("connect", fn)
        return nsp

    def _parent(
        self, name: re.Pattern[str] | Callable[..., Any], fn: Callable[..., Any] | None
    ) -> ParentNamespace:
        parent = ParentNamespace(self)
        if isinstance(name, re.Pattern):
            if not isinstance(name.pattern, str):
                from ..errors import ERR_INVALID_ARG_TYPE

                raise ERR_INVALID_ARG_TYPE("name", "a str pattern", "bytes pattern")
            pattern = name

            def check(nsp: str, auth: Any, next_: Callable[..., Any]) -> None:
                next_(None, pattern.search(nsp) is not None)

            self._parent_nsps[check] = parent
            self._parent_patterns[pattern] = parent
        else:
            self._parent_nsps[name] = parent
        if fn is not None:
            parent.on("connect", fn)
        return parent

    def _check_namespace(
        self, name: str, auth: Any, done: Callable[[Namespace | None], Any]
    ) -> None:
        """Ask the parents, in order, for a namespace ``name``: ``done(nsp or None)``."""
        parents = list(self._parent_nsps.items())

        def answer(i: int, args: tuple[Any, ...]) -> bool:
            err = args[0] if args else None
            if err is not None or len(args) < 2 or not args[1]:
                return True  # this parent declines: ask the next one
            nsp = self._nsps.get(name)  # made in the meantime?
            done(nsp if nsp is not None else parents[i][1].create_child(name))
            return False

        run_steps(
            len(parents),
            lambda i, next_: parents[i][0](name, auth, next_),
            answer,
            lambda: done(None),
        )

    def _on_connection(self, conn: Any) -> None:
        Client(self, conn)

    # HTTP ------------------------------------------------------------------------------
    def attach(self, http_server: Any) -> Server:
        """Serve Engine.IO on ``http_server`` under ``path``."""
        opt.http_server(http_server)
        self.http_server = http_server
        self._other_listeners = list(http_server.listeners("request"))
        http_server.remove_all_listeners("request")
        http_server.on("request", self._on_request)
        http_server.on("upgrade", self._on_upgrade)
        return self

    def listen(
        self, port: int = 0, host: str | None = None, *, callback: Callable[..., Any] | None = None
    ) -> Server:
        """Make an HTTP server, attach to it, and listen on ``port`` (await for bound)."""
        http: Any = importlib.import_module("nodish.http")
        server = http.create_server()
        self.attach(server)
        server.listen(port, host, callback=callback)
        return self

    def __await__(self) -> Generator[Any, None, Server]:
        return self._listening().__await__()

    async def _listening(self) -> Server:
        if self.http_server is not None:
            await self.http_server
        return self

    def address(self) -> Any:
        return self.http_server.address() if self.http_server is not None else None

    def _matches(self, url: str) -> bool:
        # Engine.IO takes the path and everything under it (engine.io's check()), so
        # that a stray URL there gets its "Transport unknown" as from Node
        path = urlsplit(url).path
        return path == self.path or path.startswith(self.path + "/")

    def _on_request(self, req: Any, res: Any) -> None:
        url = req.url
        files = self._client_files
        if files is not None and files.matches(url):
            # before Engine.IO, as socket.io's attachServe() does
            files.serve(req, res, self.engine.cors_headers(req))
            return
        if self._matches(url):
            self.engine.handle_request(req, res)
            return
        if self._other_listeners:
            for listener in self._other_listeners:
                listener(req, res)
            return
        res.write_head(404, {"Content-Length": "0"})
        res.end()

    def _on_upgrade(self, req: Any, socket: Any, head: bytes) -> None:
        if self._matches(req.url):
            self.engine.handle_upgrade(req, socket, head)
        elif self.http_server.listener_count("upgrade") == 1:
            # nobody else will answer this upgrade
            socket.destroy()

    # forwarded to the main namespace (Node's Server does the same) ----------------------
    def on(self, event: str, listener: Callable[..., Any]) -> Server:
        self.sockets.on(event, listener)
        return self

    add_listener = on

    def once(self, event: str, listener: Callable[..., Any]) -> Server:
        self.sockets.once(event, listener)
        return self

    def off(self, event: str, listener: Callable[..., Any]) -> Server:
        self.sockets.remove_listener(event, listener)
        return self

    remove_listener = off

    def remove_all_listeners(self, event: str | None = None) -> Server:
        self.sockets.remove_all_listeners(event)
        return self

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        return self.sockets.listeners(event)

    def listener_count(self, event: str) -> int:
        return self.sockets.listener_count(event)

    def use(self, fn: Callable[..., Any]) -> Server:
        self.sockets.use(fn)
        return self

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:
        return self.sockets.emit(event, *args, callback=callback)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        return await self.sockets.emit_with_ack(event, *args)

    def send(self, *args: Any) -> Server:
        self.sockets.send(*args)
        return self

    write = send

    def to(self, room: Any) -> BroadcastOperator:
        return self.sockets.to(room)

    in_ = to

    def except_(self, room: Any) -> BroadcastOperator:
        return self.sockets.except_(room)

    def compress(self, compress: bool) -> BroadcastOperator:
        return self.sockets.compress(compress)

    @property
    def volatile(self) -> BroadcastOperator:
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        return self.sockets.local

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.sockets.timeout(seconds)

    async def fetch_sockets(self) -> list[Any]:
        return await self.sockets.fetch_sockets()

    async def all_sockets(self) -> set[str]:
        return await self.sockets.all_sockets()

    def socket_join(self, room: Any) -> None:
        self.sockets.sockets_join(room)

    sockets_join = socket_join

    def socket_leave(self, room: Any) -> None:
        self.sockets.sockets_leave(room)

    sockets_leave = socket_leave

    def disconnect_sockets(self, close: bool = False) -> None:
        self.sockets.disconnect_sockets(close)

    def server_side_emit(
        self, event: str, *args: Any, callback: Callable[..., Any] | None = None
    ) -> bool:
        return self.sockets.server_side_emit(event, *args, callback=callback)

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.sockets.server_side_emit_with_ack(event, *args)

    # closing ------------------------------------------------------------------------------
    def close(self, callback: Callable[..., Any] | None = None) -> None:
        """Disconnect everyone, close the adapters and the HTTP server."""
        check_loop(self._loop, "socketio.Server.close()")
        # a child namespace may close itself (and leave _nsps) as its last socket goes
        for nsp in list(self._nsps.values()):
            for socket in list(nsp.sockets.values()):
                socket._on_close("server shutting down")
            if self._nsps.get(nsp.name) is nsp:
                self._close_adapter(nsp)
        self.engine.close()
        server = self.http_server
        if server is not None:
            if getattr(server, "listening", False):
                server.close(callback)
            elif callback is not None:
                runtime.call_soon(callback)
        elif callback is not None:
            runtime.call_soon(callback)

    def _close_adapter(self, nsp: Namespace) -> None:
        result = nsp.adapter.close()
        if result is not None and hasattr(result, "__await__"):
            runtime.spawn(_await(result))

    def __repr__(self) -> str:
        return f"<socketio.Server path={self.path!r} namespaces={sorted(self._nsps)}>"


async def _await(result: Any) -> None:
    await result
