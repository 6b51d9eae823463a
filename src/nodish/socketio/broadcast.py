"""Broadcast targets (``io.to(room).except_(other).emit(...)``) and remote sockets.

A :class:`BroadcastOperator` is immutable: each of ``to``, ``except_``, ``volatile``,
``local``, ``timeout`` returns a new one, so a stored operator can be reused, as in
socket.io. A broadcast with a ``callback`` collects one answer per reached client,
across servers when the adapter spans several, and calls ``callback(err, responses)``
once all have answered, or with a :class:`TimeoutError` (carrying the answers so far as
``.responses``) when ``timeout`` passes first.
"""

from __future__ import annotations

import asyncio
from asyncio import _get_running_loop
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import runtime, timers
from . import parser as sio
from .adapter import BroadcastOptions

if TYPE_CHECKING:
    from .adapter import Adapter

__all__ = ["AnyListeners", "BroadcastOperator", "RemoteSocket"]


def check_event(event: Any) -> None:
    if not isinstance(event, str):
        from ..errors import ERR_INVALID_ARG_TYPE

        raise ERR_INVALID_ARG_TYPE("event", "of type string", type(event).__name__)
    if event in sio.RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')


def check_loop(loop: asyncio.AbstractEventLoop, what: str) -> None:
    """``ERR_INVALID_THREAD`` when called from a thread other than ``loop``'s (one
    comparison on the loop)."""
    if _get_running_loop() is not loop:
        runtime.check_thread(loop, what)


def check_callback(callback: Any) -> None:
    if callback is not None and not callable(callback):
        from ..errors import ERR_INVALID_ARG_TYPE

        raise ERR_INVALID_ARG_TYPE("callback", "of type function", type(callback).__name__)


class AnyListeners:
    """``on_any`` and its kin, for the sockets of both ends: ``listener(event, *args)``
    for every incoming event, before the event's own listeners."""

    _any: list[Callable[..., Any]]

    def on_any(self, listener: Callable[..., Any]) -> Any:
        """``listener(event, *args)`` for every incoming event."""
        check_callback(listener)
        self._any.append(listener)
        return self

    def prepend_any(self, listener: Callable[..., Any]) -> Any:
        check_callback(listener)
        self._any.insert(0, listener)
        return self

    def off_any(self, listener: Callable[..., Any] | None = None) -> Any:
        if listener is None:
            self._any.clear()
        elif listener in self._any:
            self._any.remove(listener)
        return self

    def listeners_any(self) -> list[Callable[..., Any]]:
        return list(self._any)


def _rooms(room: Any) -> list[Any]:
    if isinstance(room, (list, tuple, set, frozenset)):
        return list(room)
    return [room]


class BroadcastOperator:
    """A set of target rooms, excluded rooms and flags, then ``emit`` or a query."""

    __slots__ = ("adapter", "except_rooms", "flags", "rooms")

    def __init__(
        self,
        adapter: Adapter,
        rooms: Iterable[Any] = (),
        except_rooms: Iterable[Any] = (),
        flags: dict[str, Any] | None = None,
    ) -> None:
        self.adapter = adapter
        self.rooms = frozenset(rooms)
        self.except_rooms = frozenset(except_rooms)
        self.flags = dict(flags or {})

    def _with(self, **flags: Any) -> BroadcastOperator:
        return BroadcastOperator(
            self.adapter, self.rooms, self.except_rooms, {**self.flags, **flags}
        )

    def to(self, room: Any) -> BroadcastOperator:
        """Target the sockets in ``room`` (a name or a list of names), added to the rest."""
        return BroadcastOperator(
            self.adapter, self.rooms | set(_rooms(room)), self.except_rooms, self.flags
        )

    in_ = to

    def except_(self, room: Any) -> BroadcastOperator:
        """Leave out the sockets in ``room`` (a name or a list of names)."""
        return BroadcastOperator(
            self.adapter, self.rooms, self.except_rooms | set(_rooms(room)), self.flags
        )

    def compress(self, compress: bool) -> BroadcastOperator:
        return self._with(compress=compress)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the message for clients whose transport cannot take it now."""
        return self._with(volatile=True)

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets of this server, not those of other servers on the adapter."""
        return self._with(local=True)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """How long a broadcast with a callback waits for every answer."""
        return self._with(timeout=timers._delay(seconds) if seconds is not None else None)

    def _opts(self) -> BroadcastOptions:
        return BroadcastOptions(self.rooms, self.except_rooms, dict(self.flags))

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:
        """Send ``event`` to every targeted client; ``callback(err, responses)`` for acks."""
        check_loop(self.adapter.nsp.server._loop, "socketio.Server.emit()")
        check_event(event)
        check_callback(callback)
        packet = sio.Packet(sio.EVENT, [event, *args])
        if callback is None:
            self.adapter.broadcast(packet, self._opts())
            return True
        _BroadcastAck(self, packet, callback)
        return True

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        """Broadcast and wait for every answer: the list of answers.

        Raises :class:`TimeoutError` (``.responses`` holds the answers received) when
        the operator's ``timeout`` passes first.
        """
        fut: asyncio.Future[Any] = runtime.get_loop().create_future()

        def done(err: BaseException | None, responses: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(responses)

        self.emit(event, *args, callback=done)
        return await fut

    async def all_sockets(self) -> set[str]:
        return await self.adapter.sockets(self.rooms)

    async def fetch_sockets(self) -> list[Any]:
        """The targeted sockets: local :class:`Socket` objects and :class:`RemoteSocket`."""
        found = await self.adapter.fetch_sockets(self._opts())
        return [RemoteSocket(self.adapter, s) if isinstance(s, dict) else s for s in found]

    def sockets_join(self, room: Any) -> None:
        check_loop(self.adapter.nsp.server._loop, "socketio.Server.sockets_join()")
        self.adapter.add_sockets(self._opts(), _rooms(room))

    def sockets_leave(self, room: Any) -> None:
        check_loop(self.adapter.nsp.server._loop, "socketio.Server.sockets_leave()")
        self.adapter.del_sockets(self._opts(), _rooms(room))

    def disconnect_sockets(self, close: bool = False) -> None:
        check_loop(self.adapter.nsp.server._loop, "socketio.Server.disconnect_sockets()")
        self.adapter.disconnect_sockets(self._opts(), close)


class _BroadcastAck:
    """The answers of one broadcast with a callback, counted across servers."""

    __slots__ = (
        "actual_servers",
        "callback",
        "done",
        "expected_clients",
        "expected_servers",
        "responses",
        "single",
        "timer",
    )

    def __init__(
        self, op: BroadcastOperator, packet: sio.Packet, callback: Callable[..., Any]
    ) -> None:
        self.callback = callback
        self.single = bool(op.flags.get("expect_single_response"))
        self.responses: list[Any] = []
        self.expected_servers = -1
        self.actual_servers = 0
        self.expected_clients = 0
        self.done = False
        timeout = op.flags.get("timeout")
        self.timer = timers.set_timeout(self.on_timeout, timeout) if timeout is not None else None
        try:
            op.adapter.broadcast_with_ack(packet, op._opts(), self.on_count, self.on_answer)
        except BaseException:
            # nothing was sent (a value JSON cannot carry): no timeout to wait for
            if self.timer is not None:
                self.timer.close()
            raise
        runtime.spawn(self.count_servers(op.adapter))

    async def count_servers(self, adapter: Adapter) -> None:
        try:
            self.expected_servers = await adapter.server_count()
        except Exception:
            self.expected_servers = 1
        self.check()

    def on_count(self, count: int) -> None:
        self.expected_clients += count
        self.actual_servers += 1
        self.check()

    def on_answer(self, *args: Any) -> None:
        self.responses.append(args[0] if args else None)
        self.check()

    def check(self) -> None:
        if (
            not self.done
            and self.expected_servers == self.actual_servers
            and len(self.responses) == self.expected_clients
        ):
            self.finish(None)

    def on_timeout(self) -> None:
        err = TimeoutError("operation has timed out")
        err.responses = None if self.single else list(self.responses)  # type: ignore[attr-defined]
        self.finish(err)

    def finish(self, err: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        if self.timer is not None:
            self.timer.close()
        if err is not None:
            self.callback(err, getattr(err, "responses", None))
        elif self.single:
            self.callback(None, self.responses[0] if self.responses else None)
        else:
            self.callback(None, self.responses)


class RemoteSocket:
    """A socket of another server, as ``fetch_sockets`` returns it."""

    __slots__ = ("data", "handshake", "id", "operator", "rooms")

    def __init__(self, adapter: Adapter, details: dict[str, Any]) -> None:
        self.id: str = details["id"]
        self.handshake: dict[str, Any] = details.get("handshake") or {}
        self.rooms: set[Any] = set(details.get("rooms") or ())
        self.data: Any = details.get("data")
        self.operator = BroadcastOperator(adapter, [self.id], (), {"expect_single_response": True})

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.operator.timeout(seconds)

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> bool:
        return self.operator.emit(event, *args, callback=callback)

    def join(self, room: Any) -> None:
        self.operator.sockets_join(room)

    def leave(self, room: Any) -> None:
        self.operator.sockets_leave(room)

    def disconnect(self, close: bool = False) -> RemoteSocket:
        self.operator.disconnect_sockets(close)
        return self

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id}>"
