"""A namespace (``io.of('/chat')``): its sockets, middleware, adapter and broadcasts.

A client joins a namespace with a CONNECT packet; the namespace runs its middleware
(``use``) in order, each ``fn(socket, next)`` calling ``next()`` to go on or
``next(err)`` to refuse, and a middleware that raises (or a coroutine middleware that
fails) refuses too. A refused client gets CONNECT_ERROR with ``{"message": str(err)}``
(plus ``err.data`` when the error has one) and its other namespaces are untouched.
An accepted socket is announced with ``'connect'`` and ``'connection'``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import runtime
from ..events import EventEmitter
from . import parser as sio
from .adapter import BroadcastOptions
from .broadcast import BroadcastOperator, check_callback, check_event, check_loop
from .socket import Socket

if TYPE_CHECKING:
    from ._client import Client
    from .adapter import Adapter
    from .server import Server

__all__ = ["Namespace"]


class Namespace(EventEmitter):
    """The sockets of one namespace; ``emit`` broadcasts to all of them.

    Events: ``'connection'``/``'connect'``(socket), and the events other servers send
    with ``server_side_emit``.
    """

    def __init__(self, server: Server, name: str) -> None:
        super().__init__()
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        self._pre_connect: dict[str, Socket] = {}
        self._fns: list[Callable[..., Any]] = []
        self._ids = 0
        # a child of a dynamic namespace, with cleanup_empty_child_namespaces: called
        # when its last socket leaves
        self._on_empty: Callable[[], Any] | None = None
        self.adapter: Adapter = self._init_adapter()
        self.adapter.init()

    def _init_adapter(self) -> Adapter:
        return self.server._adapter_factory(self)

    def next_ack_id(self) -> int:
        id = self._ids
        self._ids += 1
        return id

    def use(self, fn: Callable[..., Any]) -> Namespace:
        """Add a middleware ``fn(socket, next)`` run for each connecting socket."""
        if not callable(fn):
            from ..errors import ERR_INVALID_ARG_TYPE

            raise ERR_INVALID_ARG_TYPE("fn", "of type function", type(fn).__name__)
        self._fns.append(fn)
        return self

    # connecting ----------------------------------------------------------------------
    def _add_client(self, client: Client, auth: Any, on_connected: Callable[[Socket], Any]) -> None:
        socket = Socket(self, client, auth)
        self._pre_connect[socket.id] = socket
        fns = list(self._fns)

        def finish(err: Any) -> None:
            if client.conn.ready_state != "open":
                socket._cleanup()
                return
            if err is not None:
                socket._cleanup()
                data: dict[str, Any] = {"message": str(err) if str(err) else type(err).__name__}
                if getattr(err, "data", None) is not None:
                    data["data"] = err.data
                socket._error(data)
                return
            self._do_connect(socket, on_connected)

        def answer(i: int, args: tuple[Any, ...]) -> bool:
            err = args[0] if args else None
            if err is not None:
                finish(err)
                return False
            return True

        run_steps(len(fns), lambda i, next_: fns[i](socket, next_), answer, lambda: finish(None))

    def _do_connect(self, socket: Socket, on_connected: Callable[[Socket], Any]) -> None:
        self._pre_connect.pop(socket.id, None)
        self.sockets[socket.id] = socket
        socket._on_connect()
        on_connected(socket)
        self.emit_local("connect", socket)
        self.emit_local("connection", socket)

    def emit_local(self, event: str, *args: Any) -> bool:
        """Emit ``event`` to this namespace's own listeners (not to clients)."""
        return EventEmitter.emit(self, event, *args)

    def _remove(self, socket: Socket) -> None:
        if self.sockets.pop(socket.id, None) is None:
            self._pre_connect.pop(socket.id, None)
        if self._on_empty is not None and not self.sockets and not self._pre_connect:
            on_empty, self._on_empty = self._on_empty, None
            on_empty()

    # broadcasting ----------------------------------------------------------------------
    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.adapter)

    def to(self, room: Any) -> BroadcastOperator:
        return self._operator().to(room)

    in_ = to

    def except_(self, room: Any) -> BroadcastOperator:
        return self._operator().except_(room)

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:  # type: ignore[override]
        """Send ``event`` to every socket of the namespace (on every server)."""
        if callback is not None:
            return self._operator().emit(event, *args, callback=callback)
        # the common broadcast, without an operator: no rooms, no flags (what
        # BroadcastOperator.emit does for it)
        check_loop(self.server._loop, "socketio.Server.emit()")
        check_event(event)
        self.adapter.broadcast(sio.Packet(sio.EVENT, [event, *args]), BroadcastOptions())
        return True

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        return await self._operator().emit_with_ack(event, *args)

    def send(self, *args: Any) -> Namespace:
        self.emit("message", *args)
        return self

    write = send

    def compress(self, compress: bool) -> BroadcastOperator:
        return self._operator().compress(compress)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)

    async def fetch_sockets(self) -> list[Any]:
        return await self._operator().fetch_sockets()

    async def all_sockets(self) -> set[str]:
        return await self._operator().all_sockets()

    def sockets_join(self, room: Any) -> None:
        self._operator().sockets_join(room)

    def sockets_leave(self, room: Any) -> None:
        self._operator().sockets_leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        self._operator().disconnect_sockets(close)

    # between servers ---------------------------------------------------------------------
    def server_side_emit(
        self, event: str, *args: Any, callback: Callable[..., Any] | None = None
    ) -> bool:
        """Send ``event`` to the other servers' namespace of this name.

        ``callback(err, responses)`` gets one answer per other server.
        """
        check_loop(self.server._loop, "socketio.Server.server_side_emit()")
        check_event(event)
        check_callback(callback)
        packet: list[Any] = [event, *args]
        if callback is not None:
            packet.append(callback)
        self.adapter.server_side_emit(packet)
        return True

    async def server_side_emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        fut = runtime.get_loop().create_future()

        def done(err: BaseException | None, responses: Any) -> None:
            if fut.done():
                return
            if err is not None:
                err.responses = responses  # type: ignore[attr-defined]
                fut.set_exception(err)
            else:
                fut.set_result(responses)

        self.server_side_emit(event, *args, callback=done)
        return await fut  # type: ignore[no-any-return]

    def _on_server_side_emit(self, args: list[Any]) -> None:
        EventEmitter.emit(self, *args)

    def __repr__(self) -> str:
        return f"<Namespace {self.name!r} sockets={len(self.sockets)}>"


def run_steps(
    count: int,
    step: Callable[[int, Callable[..., None]], Any],
    answer: Callable[[int, tuple[Any, ...]], bool],
    end: Callable[[], Any],
) -> None:
    """Node's middleware chain: ``step(i, next)`` for each ``i`` in turn, then ``end()``.

    A step answers by calling ``next(*args)`` (once; later calls are ignored), now or
    later; ``answer(i, args)`` says whether to go on to the next step. A step that
    raises, or returns an awaitable that fails, answers ``next(exc)``.
    """

    def run(i: int) -> None:
        if i == count:
            end()
            return
        called = False

        def next_(*args: Any) -> None:
            nonlocal called
            if called:
                return
            called = True
            if answer(i, args):
                run(i + 1)

        try:
            result = step(i, next_)
        except Exception as exc:
            next_(exc)
            return
        if inspect.isawaitable(result):
            runtime.spawn(_await_middleware(result, next_))

    run(0)


async def _await_middleware(result: Any, next_: Callable[..., None]) -> None:
    try:
        await result
    except Exception as exc:
        next_(exc)
