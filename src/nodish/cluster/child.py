"""The worker side of ``nodish.cluster``: the channel to the primary, and servers that
listen through it.

Theory of operation
-------------------
Node's ``lib/internal/cluster/child.js`` in Python. Importing ``nodish`` in a process
started by ``cluster.fork()`` (``NODISH_UNIQUE_ID`` in the environment) opens the
channel named by ``NODISH_CHANNEL_FD`` on nodish's default loop, tells the primary
``online`` and installs :func:`cluster_listen` and :func:`cluster_bind` as the listen
and bind hooks of ``net`` and ``dgram``. A script that runs a loop of its own
(``asyncio.run``) gets the channel, and the heartbeat, moved to that loop the first
time it listens, binds, sends or adds a ``'message'`` listener there.

``listen()`` of a TCP server asks the primary (``queryServer``) unless it was given
``exclusive=True`` or ``reuse_port=True``, which bind here. The reply carries either a
bound socket (``SCHED_NONE``: the worker listens on its copy of it; on uvloop the
loop's own server accepts, in C, until the queue is empty, as libuv does for Node; on
plain asyncio this module accepts one connection per wake-up) or a ``sockname``
(``SCHED_RR``: the server then receives each connection as a ``newconn`` message with
its descriptor, checks that the descriptor's peer is the one the primary accepted,
acknowledges it and adopts it; a descriptor from another peer is logged and closed,
never served). Every server's ``'listening'`` is reported to the primary, so its
``'listening'`` event and rolling reloads work in every mode.

Disconnecting (the primary's ``worker.disconnect()``, or this worker's) closes the
worker's servers, waits for their ``'close'`` (their connections end first: a graceful
drain), then closes the channel; the process then exits as soon as nothing else keeps
it alive. A channel that closes without being asked to (the primary died) ends the
worker at once, as Node does.

The channel keeps the process alive only while ``process`` has a ``'message'``
listener (Node's rule), so a worker whose script is done exits.
"""

from __future__ import annotations

import _socket as _csocket
import asyncio
import errno as _errno
import os
import socket as _socket
from collections.abc import Callable
from typing import Any

from .. import runtime
from .._address import is_ip
from ..errors import system_error
from ..process import process
from ._ipc import Endpoint
from .framing import encode
from .worker import Worker

__all__ = ["ChildWorker", "cluster_listen", "setup_worker"]

_endpoint: Endpoint | None = None
_worker: ChildWorker | None = None
# servers obtained through the primary (or reported to it), closed on disconnect
_servers: set[Any] = set()
# key -> net.Server for round-robin servers, which receive 'newconn'
_rr: dict[str, Any] = {}
_indexes: dict[str, int] = {}

# Seconds between the last server's 'close' and the channel's close on disconnect.
DRAIN_GRACE = 0.05
# Seconds a disconnecting worker's shared servers stop accepting before they close.
FIRST_REQUEST_GRACE = 0.25
# Seconds a shared server (plain asyncio) stops accepting after running out of
# descriptors or memory (asyncio's own servers wait as long).
ACCEPT_RETRY_DELAY = 1.0
_OUT_OF_RESOURCES = (_errno.EMFILE, _errno.ENFILE, _errno.ENOBUFS, _errno.ENOMEM)


class ChildWorker(Worker):
    """``cluster.worker`` inside a worker process."""

    __slots__ = ()

    def disconnect(self) -> ChildWorker:
        """Close this worker's servers, then the channel; the process then exits when
        nothing else keeps it alive."""
        if self.state not in ("disconnecting", "destroying"):
            self.state = "disconnecting"
            _disconnect(False)
        return self

    def kill(self, signal: str = "SIGTERM") -> None:
        """Disconnect and exit with code 0 (Node's ``worker.destroy()`` in a worker)."""
        ep = _endpoint
        if ep is None or not ep.connected:
            process.exit(0)
        self.exited_after_disconnect = True
        self.state = "destroying"
        ep.request({"act": "exitedAfterDisconnect"}, None, lambda *_: ep.channel.disconnect())
        process.once("disconnect", lambda: runtime.call_soon(process.exit, 0))


def setup_worker() -> ChildWorker:
    """Connect to the primary (called once, when ``nodish.cluster`` is imported in a
    worker)."""
    global _endpoint, _worker
    if _worker is not None:
        return _worker
    wid = int(os.environ.get("NODISH_UNIQUE_ID", "0") or 0)
    fd = int(os.environ.pop("NODISH_CHANNEL_FD"))
    os.set_inheritable(fd, False)
    sock = _socket.socket(fileno=fd)
    worker = _worker = ChildWorker(wid, process, "online")
    ep = _endpoint = Endpoint(sock, _on_internal, _on_user, _on_closed)
    ep.before_send = _follow_loop
    process._ipc = ep
    process.on("newListener", _on_new_listener)
    process.on("removeListener", _on_removed_listener)
    process.on("message", lambda msg, handle: worker.emit("message", msg, handle))
    process.once("disconnect", _on_process_disconnect)
    ep.request({"act": "online"})
    from ..dgram import socket as _dgram_mod
    from ..net import server as _server_mod

    _server_mod.cluster_listen = cluster_listen
    _dgram_mod.cluster_bind = cluster_bind
    beat = os.environ.get("NODISH_CLUSTER_HEARTBEAT")
    if beat:
        _start_heartbeat(float(beat))
    return worker


def _follow_loop() -> None:
    """Move the channel to the running loop, if the script runs one of its own."""
    ep = _endpoint
    if ep is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if ep.channel.loop is not loop:
        ep.channel.bind_loop(loop)
        _arm_heartbeat()


def _message_listeners() -> int:
    # the worker object's own forwarding listener does not count (Node's rule: the
    # user's 'message' listeners keep the channel referenced)
    return process.listener_count("message") - 1


def _on_new_listener(event: Any, _listener: Any) -> None:
    if event == "message" and _endpoint is not None and _message_listeners() >= 0:
        _follow_loop()
        _endpoint.channel.ref()


def _on_removed_listener(event: Any, _listener: Any) -> None:
    if event == "message" and _endpoint is not None and _message_listeners() <= 0:
        _endpoint.channel.unref()


def _on_user(msg: Any, handle: Any) -> None:
    process.emit("message", msg, handle)


_channel_failed = False  # the channel closed on an error, not on the primary's EOF


def _on_closed(err: BaseException | None) -> None:
    global _channel_failed
    if err is not None:
        _channel_failed = True
        runtime.logger.error("cluster: IPC channel to the primary failed: %s", err)
    ep = _endpoint
    if ep is not None:
        for cb in ep.fail_pending():
            runtime.guarded(None, cb, {"cmd": "NODE_CLUSTER", "closed": True}, None)
    process.emit("disconnect")


def _on_process_disconnect() -> None:
    w = _worker
    if w is None:
        return
    w.state = "disconnected"
    w.emit("disconnect")
    if not w.exited_after_disconnect:
        # the primary went away (or closed the channel unasked): stop now, as Node
        # does (code 1 when the channel failed: Node's worker dies of the error then);
        # from the loop, not from inside whatever call noticed the channel close
        runtime.call_soon(process.exit, 1 if _channel_failed else 0)


def _on_internal(msg: dict[str, Any], handle: Any) -> None:
    act = msg.get("act")
    if act == "newconn":
        _on_newconn(msg, handle)
    elif act == "disconnect":
        assert _worker is not None
        _worker.state = "disconnecting"
        _disconnect(True)
    elif handle is not None:
        os.close(handle[1])


_ALREADY_CLOSED = ("ERR_SOCKET_DGRAM_NOT_RUNNING", "ERR_SERVER_NOT_RUNNING")


def _disconnect(primary_initiated: bool) -> None:
    assert _worker is not None and _endpoint is not None
    ep = _endpoint
    _worker.exited_after_disconnect = True
    waiting = 1

    def finish() -> None:
        hold.close()
        if primary_initiated:
            ep.channel.disconnect()
        else:
            ep.request({"act": "exitedAfterDisconnect"}, None, lambda *_: ep.channel.disconnect())

    def check(*_: Any) -> None:
        nonlocal waiting
        waiting -= 1
        if waiting:
            return
        # A connection the loop accepted just before the close may still be on its
        # way to connection_made (plain asyncio takes a task for it): give it a moment
        # to be counted, so the worker does not exit under it.
        hold.open()
        runtime.get_loop().call_later(DRAIN_GRACE, finish)

    hold = runtime.HandleRef(runtime.get_loop())
    servers = list(_servers)
    _servers.clear()

    def close_all() -> None:
        nonlocal waiting
        hold.close()
        for server in servers:
            waiting += 1
            try:
                server.close(check)
            except Exception as exc:  # the disconnect must go on
                # One the script closed itself this turn (its 'close' is still to come:
                # Node forgets a handle as soon as it is closed) is not closed again;
                # any other failure is reported, and the others still close, so the
                # worker never stays half disconnected.
                waiting -= 1
                if getattr(exc, "code", None) not in _ALREADY_CLOSED:
                    runtime.report_uncaught(exc, None)
        check()

    # Ports shared through the primary stop taking connections at once; the servers
    # close FIRST_REQUEST_GRACE later, so that a connection accepted just before gets
    # its first request answered instead of being closed as idle (an HTTP server's
    # close() ends idle connections, and a fresh one is idle until its request).
    paused = False
    for server in servers:
        stop = getattr(getattr(server, "_aserver", None), "stop_accepting", None)
        if stop is not None:
            stop()
            paused = True
    if paused:
        hold.open()
        runtime.get_loop().call_later(FIRST_REQUEST_GRACE, close_all)
    else:
        close_all()


# ---------------------------------------------------------------------- listening


class _RoundRobinSlot:
    """Stands in for a round-robin server's listening socket, which lives in the
    primary: closing it tells the primary."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def close(self) -> None:
        ep = _endpoint
        if _rr.pop(self.key, None) is not None and ep is not None and ep.connected:
            ep.request({"act": "close", "key": self.key})

    # the primary hands nothing more once told: closing is all stopping takes
    stop_accepting = close


class _Conn(_socket.socket):
    """A handed or accepted connection. ``family`` and ``type`` read as the plain
    ints they are (``socket.socket`` converts them to enums on every read, and the
    loop reads them three times while it adopts a connection)."""

    __slots__ = ()
    family = _csocket.socket.family  # type: ignore[assignment]
    type = _csocket.socket.type  # type: ignore[assignment]


class _SharedListener:
    """This worker's listener on a ``SCHED_NONE`` socket: stopping it closes our copy
    of the shared socket (the primary's, and the kernel's queue of connections, stay
    for the other workers) and tells the primary."""

    __slots__ = ("key", "stopped")

    def __init__(self, key: str) -> None:
        self.key = key
        self.stopped = False

    def close(self) -> None:
        self.stop_accepting()

    def stop_accepting(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self._stop()
        if _endpoint is not None and _endpoint.connected:
            _endpoint.request({"act": "close", "key": self.key})

    def _stop(self) -> None:
        raise NotImplementedError


class _NativeShared(_SharedListener):
    """A ``SCHED_NONE`` server on uvloop: the loop's own server (``create_server``, the
    accepts of ``net.Server``) on this worker's copy of the primary's socket.

    libuv accepts until the queue is empty, in C, and builds each connection without a
    coroutine (Node's workers accept the same way): the cheapest path per connection.
    The cost is balance: the first worker awake may take a whole burst.
    """

    __slots__ = ("aserver",)

    def __init__(self, aserver: asyncio.AbstractServer, key: str) -> None:
        super().__init__(key)
        self.aserver = aserver

    def _stop(self) -> None:
        self.aserver.close()


class _SharedServer(_SharedListener):
    """A ``SCHED_NONE`` server on plain asyncio: this worker accepting from the
    primary's socket.

    One connection per readiness: every worker is woken for a new connection, and a
    busy one takes fewer. (asyncio's own server would accept a batch and attach each
    connection a turn later, from a task: one closed meanwhile is dropped unanswered.)
    """

    __slots__ = ("family", "loop", "retry", "server", "sock")

    def __init__(self, sock: _socket.socket, key: str, server: Any, backlog: int) -> None:
        super().__init__(key)
        self.sock = sock
        self.family = int(sock.family)
        self.server = server
        self.retry: asyncio.TimerHandle | None = None
        self.loop = runtime.get_loop()
        sock.setblocking(False)
        sock.listen(backlog)
        self.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        try:
            fd, _addr = self.sock._accept()  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError):
            return  # another worker took it
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                # The connection stays queued (for another worker, or for this one
                # later), and the socket stays readable: stop watching it for a while
                # rather than spin (asyncio's own servers wait as long).
                runtime.logger.error(
                    "cluster: accept failed: %s; not accepting for %s s", exc, ACCEPT_RETRY_DELAY
                )
                self.loop.remove_reader(self.sock.fileno())
                self.retry = self.loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
            elif exc.errno not in (_errno.ECONNABORTED, _errno.EPROTO):
                runtime.logger.error("cluster: accept failed: %s", exc)
            return
        conn = _Conn(self.family, _socket.SOCK_STREAM, 0, fd)
        _adopt(self.server, conn)

    def _resume(self) -> None:
        self.retry = None
        if not self.stopped:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def _stop(self) -> None:
        if self.retry is not None:
            self.retry.cancel()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


async def _listen_shared(
    sock: _socket.socket, key: str, server: Any, backlog: int
) -> _NativeShared | _SharedServer:
    """Listen on this worker's copy of a ``SCHED_NONE`` socket."""
    loop = runtime.get_loop()
    if not type(loop).__module__.startswith("uvloop"):
        return _SharedServer(sock, key, server, backlog)
    sock.setblocking(False)
    aserver = await loop.create_server(server._factory, sock=sock, backlog=backlog)
    return _NativeShared(aserver, key)


def _address_type(address: str | None, family: int) -> int:
    if address and is_ip(address) == 6:
        return 6
    if address and is_ip(address) == 4:
        return 4
    return 6 if family == _socket.AF_INET6 else 4


async def cluster_listen(
    server: Any, address: str | None, port: int, family: int, backlog: int, shared: bool
) -> tuple[Any, Any] | None:
    """``net.Server``'s listen hook in a worker (Node's ``cluster._getServer``).

    Returns ``(listener, sockname)`` for a port shared through the primary, or None
    when the server binds by itself (``exclusive``/``reuse_port``).

    Raises:
        OSError: the primary could not bind (``EADDRINUSE`` ...), as a Node
            system error with syscall ``'bind'``.
    """
    ep = _endpoint
    _follow_loop()
    kind = _address_type(address, family)
    message: dict[str, Any] = {
        "act": "queryServer",
        "address": address,
        "port": port,
        "addressType": kind,
        "fd": -1,
        "backlog": backlog,
        "data": None,
    }

    _track(server, message)
    if not shared or ep is None:
        return None

    def take_connections(key: str) -> None:
        # Node's rr(): the server takes connections from the reply on, so a
        # connection handed right behind the reply is accepted, not refused
        _rr[key] = server

    try:
        reply, handle = await _query(message, take_connections)
    except BaseException:
        # the server was closed (or failed) while asking: hand the port back
        for key, srv in list(_rr.items()):
            if srv is server:
                _RoundRobinSlot(key).close()
        raise
    key = str(reply.get("key"))
    if handle is not None:
        sock = _socket.socket(fileno=handle[1])
        try:
            listener = await _listen_shared(sock, key, server, backlog)
        except BaseException:
            sock.close()
            if ep.connected:
                ep.request({"act": "close", "key": key})
            raise
        return listener, sock.getsockname()
    _rr[key] = server
    name = reply.get("sockname") or [address, port]
    return _RoundRobinSlot(key), (name[0], name[1])


async def _query(
    message: dict[str, Any], on_round_robin: Callable[[str], Any] | None = None
) -> tuple[dict[str, Any], Any]:
    """Ask the primary for a shared port (``queryServer``); its reply and handle.
    ``on_round_robin(key)`` runs as the reply arrives when the port is round-robin
    (before the connections the primary sends right behind it are read).

    Raises:
        OSError: the primary's bind failed (syscall ``'bind'``, as Node).
    """
    ep = _endpoint
    assert ep is not None
    address, port = message["address"], message["port"]
    index_key = f"{address}:{port}:{message['addressType']}"
    index = _indexes.get(index_key, -1) + 1
    _indexes[index_key] = index
    message["index"] = index
    fut: asyncio.Future[tuple[dict[str, Any], Any]] = runtime.get_loop().create_future()

    def on_reply(reply: dict[str, Any], handle: Any) -> None:
        if fut.done():  # the server was closed while asking
            if handle is not None:
                os.close(handle[1])
            return
        if (
            on_round_robin is not None
            and handle is None
            and not reply.get("errno")
            and not reply.get("closed")
        ):
            on_round_robin(str(reply.get("key")))
        fut.set_result((reply, handle))

    ep.request(message, None, on_reply)
    reply, handle = await fut
    if reply.get("closed"):
        raise system_error(_errno.EPIPE, "bind", address, port, detail=True)
    errno = reply.get("errno")
    if errno:
        if handle is not None:
            os.close(handle[1])
        raise system_error(int(errno), "bind", address, port, detail=True)
    return reply, handle


def _track(obj: Any, message: dict[str, Any]) -> None:
    """Report ``obj``'s ``'listening'`` to the primary; close it on disconnect."""

    def report_listening() -> None:
        ep = _endpoint
        if ep is not None and ep.connected:
            # one the script closed in an earlier 'listening' listener is not reported
            # (Node: "short-lived sockets might have been closed")
            try:
                addr = obj.address()
            except Exception as exc:
                if getattr(exc, "code", None) in _ALREADY_CLOSED:
                    return
                raise
            if addr is None:
                return
            msg = {**message, "act": "listening"}
            msg["port"] = getattr(addr, "port", None) or message["port"]
            msg.pop("backlog", None)
            msg.pop("seq", None)
            ep.request(msg)

    obj.once("listening", report_listening)
    _servers.add(obj)
    obj.once("close", lambda *_: _servers.discard(obj))


async def cluster_bind(sock: Any, ip: str, port: int) -> _socket.socket:
    """``dgram`` bind's hook in a worker: the primary's bound UDP socket, shared by
    every worker that binds the same address (Node: UDP is never round-robin).

    Raises:
        OSError: the primary's bind failed.
    """
    _follow_loop()
    message: dict[str, Any] = {
        "act": "queryServer",
        "address": ip,
        "port": port,
        "addressType": sock.type,
        "fd": -1,
        "data": None,
    }
    _track(sock, message)
    reply, handle = await _query(message)
    if handle is None:
        raise system_error(_errno.EBADF, "bind", ip, port, detail=True)
    key = str(reply.get("key"))

    def closed() -> None:
        ep = _endpoint
        if ep is not None and ep.connected:
            ep.request({"act": "close", "key": key})

    sock.once("close", closed)
    return _socket.socket(fileno=handle[1])


# the acknowledgement of a handed connection, up to its own seq
_ACCEPTED = b'{"cmd":"NODE_CLUSTER","ack":%s,"accepted":true,"seq":'
_REFUSED = b'{"cmd":"NODE_CLUSTER","ack":%s,"accepted":false,"seq":'
_MISMATCH = b'{"cmd":"NODE_CLUSTER","ack":%s,"accepted":false,"mismatch":true,"seq":'


def _peer_mismatch(sock: _socket.socket, peer: Any) -> str | None:
    """What is wrong with a handed connection whose ``accept()`` in the primary gave
    ``peer`` (``[host, port]``), or None when it is that connection (or cannot tell:
    no peer sent, or the client already reset it)."""
    if type(peer) is not list or len(peer) != 2:
        return None
    try:
        name = sock.getpeername()
    except OSError:
        return None
    if name[0] == peer[0] and name[1] == peer[1]:
        return None
    return f"handed as the connection from {peer[0]}:{peer[1]}, is from {name[0]}:{name[1]}"


def _on_newconn(msg: dict[str, Any], handle: Any) -> None:
    assert _endpoint is not None
    server = _rr.get(str(msg.get("key")))
    accepted = server is not None and handle is not None
    ack = msg.get("seq")
    ack_bytes = b"%d" % ack if type(ack) is int else encode(ack)[:-1]
    if not accepted:
        _endpoint.request_frame(_REFUSED % ack_bytes, b"}\n")
        if handle is not None:
            os.close(handle[1])
        return
    sock = _Conn(fileno=handle[1])
    wrong = _peer_mismatch(sock, msg.get("peer"))
    if wrong is not None:
        # the descriptor is not the connection the primary meant: serving it could
        # answer a client that another worker serves too
        runtime.logger.error(
            "cluster: worker %s: connection %s; closed", getattr(_worker, "id", "?"), wrong
        )
        sock.close()
        _endpoint.request_frame(_MISMATCH % ack_bytes, b"}\n")
        return

    def sent(err: BaseException | None) -> None:
        # The connection is touched only once "accepted" is in the kernel: the primary
        # then reads it even if this process dies at once. Had it died with the answer
        # still queued here, the primary would hand the connection to another worker
        # while this one had begun to serve it.
        if err is None:
            _adopt(server, sock)
        else:
            sock.close()

    _endpoint.request_frame(_ACCEPTED % ack_bytes, b"}\n", None, None, sent)


def _adopt(server: Any, sock: _socket.socket) -> None:
    """Make ``sock`` (acknowledged, or taken from the shared queue) a connection of
    ``server`` through the loop's ``connect_accepted_socket``.

    Its coroutine is stepped from callbacks (:class:`_Adoption`), not run as a task: a
    task per connection cost a task object and two more turns of the loop. Until it is
    done, a handle keeps the process alive: it must not exit before the connection is
    the server's (a draining worker exits when idle).
    """
    loop = runtime.get_loop()
    hold = runtime.HandleRef(loop)
    hold.open()
    _Adoption(loop, hold, sock, loop.connect_accepted_socket(server._factory, sock=sock)).step()


class _Adoption:
    """Steps one ``connect_accepted_socket`` coroutine: resumed when the future it
    awaits is done (on the next turn after a bare yield), as a task would resume it."""

    __slots__ = ("coro", "hold", "loop", "sock")

    def __init__(self, loop: Any, hold: runtime.HandleRef, sock: _socket.socket, coro: Any):
        self.loop = loop
        self.hold = hold
        self.sock = sock
        self.coro = coro

    def step(self, _done: Any = None) -> None:
        try:
            awaited = self.coro.send(None)
        except StopIteration:
            self.hold.close()
            return
        except (KeyboardInterrupt, SystemExit):
            self.hold.close()
            raise
        except BaseException as exc:
            if not isinstance(exc, OSError):
                runtime.logger.error("cluster: adopting a connection failed", exc_info=exc)
            self.sock.close()
            self.hold.close()
            return
        if awaited is None:
            self.loop.call_soon(self.step)
        else:
            awaited._asyncio_future_blocking = False  # taken, as a task takes it
            awaited.add_done_callback(self.step)


# ---------------------------------------------------------------------- heartbeat


_beat_interval = 0.0
_beat_timer: asyncio.TimerHandle | None = None


_beat_sent = False


def _start_heartbeat(interval: float) -> None:
    """Beat as soon as the loop the channel is on runs, then every ``interval``
    seconds (a plain loop timer: it never keeps the worker alive). A loop that is
    blocked sends nothing."""
    global _beat_interval
    _beat_interval = interval
    _arm_heartbeat()


def _arm_heartbeat() -> None:
    global _beat_timer
    ep = _endpoint
    if not _beat_interval or ep is None or not ep.connected:
        return
    if _beat_timer is not None:
        _beat_timer.cancel()
    # the first beat tells the primary this loop runs (it allows start-up time until then)
    delay = _beat_interval if _beat_sent else 0.0
    _beat_timer = ep.channel.loop.call_later(delay, _beat)


def _beat() -> None:
    global _beat_sent
    ep = _endpoint
    if ep is not None and ep.connected:
        ep.channel.send({"cmd": "NODISH_HEARTBEAT"})
        _beat_sent = True
    _arm_heartbeat()
