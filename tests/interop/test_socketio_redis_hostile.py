"""The Redis adapter used by hostile and careless programs, operators and users.

A real ``redis-server`` on a free port; garbage published on the adapter's channels by
another program, a Redis that refuses commands or kills our connections or stops for
good, servers closed with requests in flight, wrong arguments. Each time: only the bad
message is dropped, local clients are served, and cross-node delivery comes back.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import time
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import pytest
import redis
import redis.asyncio as aioredis
from tests.helpers import next_event, until, wait_event, wait_for
from tests.interop.socketio_peers import RedisServer
from tests.interop.test_socketio_redis_node import node_peer

from nodish import socketio, timers
from nodish.socketio.redis_adapter import RedisAdapterFactory, create_redis_adapter

pytestmark = pytest.mark.interop

LOGGER = "nodish.socketio.redis"


def mp(obj: Any) -> bytes:
    out: bytes = msgpack.packb(obj, use_bin_type=True)
    return out


def js(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def logged(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.getMessage().startswith(start)
    ]


class Cluster:
    """A Redis, server A (listening, with a local client) and server B, both on Redis."""

    def __init__(self, redis_server: RedisServer) -> None:
        self.redis = redis_server
        self.clients: list[Any] = []
        self.closers: list[Any] = []

    def client(self) -> Any:
        c = aioredis.Redis(host="127.0.0.1", port=self.redis.port)
        self.clients.append(c)
        return c

    async def server(self, **options: Any) -> tuple[socketio.Server, RedisAdapterFactory]:
        factory = create_redis_adapter(self.client(), self.client(), **options)
        io = socketio.Server(adapter=factory)
        self.closers.append((io, factory))
        await until(lambda: factory.connected)
        return io, factory

    async def local_client(self, io: socketio.Server) -> Any:
        def on_connection(socket: socketio.Socket) -> None:
            socket.join("r")
            socket.on("ping", lambda *args: args[-1]("pong", *args[:-1]))

        io.on("connection", on_connection)
        await io.listen(0, "127.0.0.1")
        sock = socketio.connect(
            f"http://127.0.0.1:{io.address().port}", transports=["websocket"], force_new=True
        )
        self.closers.append(sock)
        await wait_event(sock, "connect")
        return sock

    async def pair(self) -> tuple[socketio.Server, RedisAdapterFactory, Any, Any, Any]:
        """Servers A and B, and A's local client: ``(a, fa, b, fb, sock)``."""
        a, fa = await self.server()
        b, fb = await self.server()
        return a, fa, b, fb, await self.local_client(a)

    async def close(self) -> None:
        for item in reversed(self.closers):
            if isinstance(item, tuple):
                io, factory = item
                await close_server(io)
                await factory.aclose()
            else:
                item.disconnect()
        for c in self.clients:
            await c.aclose()


async def close_server(io: socketio.Server) -> None:
    """``io.close()``, waiting until its HTTP server has closed (when it listens)."""
    closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    io.close(callback=lambda *_: closed.done() or closed.set_result(None))
    await wait_for(closed)


@asynccontextmanager
async def cluster() -> AsyncIterator[Cluster]:
    server = await RedisServer().start()
    c = Cluster(server)
    try:
        yield c
    finally:
        await c.close()
        await server.stop()


async def served(sock: Any, n: int) -> None:
    """The local client still gets answers from its own server."""
    answer = await wait_for(sock.emit_with_ack("ping", n))
    assert answer == "pong"


class Ticker:
    """``io.emit(event, n)`` for n = 0, 1, 2... every ``every`` seconds, until closed."""

    def __init__(self, io: socketio.Server, event: str, every: float) -> None:
        self.sent = 0

        def tick() -> None:
            io.emit(event, self.sent)
            self.sent += 1

        self.interval = timers.set_interval(tick, every)


BC = "socket.io#/#"
REQ = "socket.io-request#/#"
RESP = "socket.io-response#/#"
EV = {"type": 2, "data": ["bad"], "nsp": "/"}


def garbage(sid: str) -> list[tuple[str, bytes]]:
    """What another program may publish on the adapter's channels, each to be dropped."""
    return [
        # broadcasts: not msgpack, then msgpack of every wrong shape
        (BC, b"\xc1"),
        (BC, b"hello, not msgpack"),
        (BC, b"\x91" * 100_000 + b"\xc0"),  # nested too deep
        (BC, b"\xc1" * (2 << 20)),  # huge
        (BC, mp("x" * (2 << 20))),  # huge and of the wrong shape
        (BC, mp(5)),
        (BC, mp(["uid", EV])),
        (BC, mp(["uid", EV, {}, "extra"])),
        (BC, mp(["uid", "packet", {}])),
        (BC, mp(["uid", {**EV, "nsp": 7}, {}])),
        (BC, mp(["uid", {**EV, "data": "bad"}, {}])),
        (BC, mp(["uid", {**EV, "data": []}, {}])),
        (BC, mp(["uid", {**EV, "data": [5]}, {}])),
        (BC, mp(["uid", {**EV, "type": "2"}, {}])),
        # a DISCONNECT or ACK packet "broadcast" would reach every local client
        (BC, mp(["uid", {"type": 1, "nsp": "/"}, {"rooms": [], "except": []}])),
        (BC, mp(["uid", {"type": 3, "data": ["x"], "nsp": "/", "id": 1}, {}])),
        (BC, mp(["uid", EV, "opts"])),
        (BC, mp(["uid", EV, None])),
        (BC, mp(["uid", EV, {"rooms": "r"}])),
        (BC, mp(["uid", EV, {"rooms": [["r"]]}])),
        (BC, mp(["uid", EV, {"except": 5}])),
        (BC, mp(["uid", EV, {"flags": "volatile"}])),
        (BC, mp(["uid", EV, {"flags": {"timeout": "soon"}}])),
        (BC + "r#", b"\x93 not msgpack either"),
        # requests: not JSON, unknown types, missing fields, fields of the wrong type
        (REQ, b"{not json"),
        (REQ, b'{"a":' + b"[" * 100_000),
        (REQ, js([1, 2])),
        (REQ, mp([1, 2])),
        (REQ, js({"type": 99, "requestId": "x"})),
        (REQ, js({"requestId": "x"})),
        (REQ, js({"type": 2, "opts": "x", "rooms": ["vip"]})),
        (REQ, js({"type": 2, "opts": {"rooms": ["r"]}, "rooms": "vip"})),
        (REQ, js({"type": 2, "opts": {"rooms": 5}, "rooms": ["vip"]})),
        (REQ, js({"type": 2, "sid": [1], "room": "vip"})),
        (REQ, js({"type": 2, "sid": sid, "room": None})),
        (REQ, js({"type": 3, "sid": sid, "room": ["r"]})),
        (REQ, js({"type": 4, "opts": {"except": {}}})),
        (REQ, js({"type": 6, "data": "abc"})),
        (REQ, js({"type": 6, "data": [5, "x"]})),
        (REQ, js({"type": 6})),
        (REQ, js({"type": 0, "requestId": [1]})),
        (REQ, js({"type": 0, "requestId": "s", "rooms": "r"})),
        (REQ, js({"type": 5, "requestId": "f", "opts": 7})),
        (REQ, mp({"type": 7, "requestId": "b", "packet": None, "opts": {}})),
        (REQ, mp({"type": 7, "requestId": "b", "packet": EV, "opts": {"rooms": {}}})),
        (REQ, mp({"type": 7, "requestId": 5, "packet": EV, "opts": {}})),
        # responses: not decodable, or without a usable request id
        (RESP, b"\xc1"),
        (RESP, js({"requestId": [1]})),
        (RESP, js({"sockets": []})),
    ]


async def test_garbage_on_every_channel_is_dropped_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    async with cluster() as c:
        a, fa, b, _, sock = await c.pair()
        heard: list[Any] = []
        sock.on_any(lambda event, *args: heard.append((event, *args)))
        server_side: list[Any] = []
        for event in ("a", "bad", "x"):
            a.on(event, lambda *args: server_side.append(args))
        (server_socket,) = a.sockets.sockets.values()
        other = c.client()

        items = garbage(server_socket.id)
        for i, (channel, message) in enumerate(items):
            assert await other.publish(channel, message) >= 1
            # the next good message from the other server gets through
            got = next_event(sock, "good")
            b.emit("good", i)
            assert await wait_for(got) == (i,), (channel, message[:40])
            assert fa.dropped == i + 1, (channel, message[:60])
        # a response to a request nobody here made is none of our business: not counted
        await other.publish(RESP, js({"requestId": "not-ours", "sockets": []}))
        await other.publish(RESP, js({"requestId": "not-ours", "rooms": ["x"]}))
        got = next_event(sock, "good")
        b.emit("good", "last")
        await wait_for(got)

        assert fa.dropped == len(items)
        assert a.sockets.adapter.dropped == fa.dropped  # the figure, from the adapter too
        assert fa.lost == 0
        # nothing reached the local client but the good broadcasts, no event was raised
        # on the server, no room was joined or left, and the client is still served
        assert heard == [("good", i) for i in range(len(items))] + [("good", "last")]
        assert server_side == []
        assert server_socket.rooms == {server_socket.id, "r"}
        assert sock.connected
        await served(sock, 1)
        # cross-node delivery works both ways still
        b_heard: list[Any] = []
        b.on("from-a", lambda *args: b_heard.append(args))
        a.server_side_emit("from-a", 1)
        await until(lambda: b_heard == [(1,)])
        # logged once by each server (at most one line per 10 s), short
        lines = logged(caplog, "dropped a malformed message")
        assert len(lines) == 2, lines
        assert all(len(line) < 300 for line in lines), lines


async def test_malformed_responses_to_a_request_in_flight() -> None:
    async with cluster() as c:
        a, fa = await c.server(requests_timeout=10)
        sock = await c.local_client(a)
        # another "server": a plain subscriber on the request channel, answering by hand
        peer = c.client().pubsub()
        await peer.subscribe(REQ)
        await peer.get_message(timeout=5)  # the subscription's confirmation

        async def next_request() -> dict[str, Any]:
            while True:
                m = await peer.get_message(ignore_subscribe_messages=True, timeout=5)
                if m is not None:
                    request: dict[str, Any] = json.loads(m["data"])
                    return request

        publisher = c.client()
        fetch = asyncio.ensure_future(a.fetch_sockets())
        request = await next_request()
        assert request["type"] == 5
        rid = request["requestId"]
        for bad in (
            {"requestId": rid, "sockets": "abc"},
            {"requestId": rid, "sockets": [5]},
            {"requestId": rid, "sockets": [{"id": 5}]},
            {"requestId": rid, "sockets": [{"id": "x", "rooms": "r"}]},
            {"requestId": rid},
        ):
            await publisher.publish(RESP, js(bad))
        good = {"id": "far", "handshake": {}, "rooms": ["far", "x"], "data": {"n": 1}}
        await publisher.publish(RESP, js({"requestId": rid, "sockets": [good]}))
        sockets = await wait_for(fetch)
        assert sorted(s.id for s in sockets) == sorted([*a.sockets.sockets, "far"])
        far = next(s for s in sockets if s.id == "far")
        assert far.rooms == {"far", "x"} and far.data == {"n": 1}
        assert fa.dropped == 5

        rooms = asyncio.ensure_future(a.sockets.adapter.all_rooms())
        rid = (await next_request())["requestId"]
        await publisher.publish(RESP, js({"requestId": rid, "rooms": "xyz"}))
        await publisher.publish(RESP, js({"requestId": rid, "rooms": [{}]}))
        await publisher.publish(RESP, js({"requestId": rid, "rooms": ["far-room"]}))
        assert "far-room" in await wait_for(rooms)
        assert fa.dropped == 7
        await served(sock, 2)
        await peer.aclose()


async def test_close_with_requests_in_flight_ends_them() -> None:
    async with cluster() as c:
        # a long timeout: what ends the requests is the close, not the timer
        a, fa = await c.server(requests_timeout=60)
        peer = c.client().pubsub()
        await peer.subscribe(REQ)  # counted as a server that never answers
        await peer.get_message(timeout=5)
        fetch = asyncio.ensure_future(a.fetch_sockets())
        rooms = asyncio.ensure_future(a.sockets.adapter.all_rooms())
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        a.server_side_emit("hello", callback=lambda err, res: acked.set_result((err, res)))
        seen = 0
        while seen < 3:
            if await peer.get_message(ignore_subscribe_messages=True, timeout=5):
                seen += 1
        started = time.monotonic()
        a.close()
        for fut in (fetch, rooms):
            with pytest.raises(TimeoutError, match="closed"):
                await wait_for(fut, 2)
        err, responses = await wait_for(acked, 2)
        assert isinstance(err, TimeoutError) and responses == []
        await wait_for(fa.aclose(), 2)
        assert time.monotonic() - started < 2
        await peer.aclose()
        await assert_nothing_left(fa)


async def assert_nothing_left(factory: RedisAdapterFactory) -> None:
    bridge = factory.bridge
    assert bridge._tasks == set()
    assert bridge._reader is None and bridge._pub_conn is None
    assert bridge._flusher is None or bridge._flusher.done()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []


async def test_redis_stopped_for_good(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    async with cluster() as c:
        a, fa = await c.server()
        sock = await c.local_client(a)
        a.emit("warm")  # the publisher's connection is up, its publish confirmed
        await until(lambda: fa.bridge._flusher is not None and fa.bridge._flusher.done())
        assert fa.lost == 0
        await c.redis.kill()
        await until(lambda: not fa.connected)

        # broadcasts at 200/s for 1.5 s while Redis is gone: counted, not raised, not
        # logged one by one; the process stays nearly idle (no reconnect per broadcast)
        local: list[Any] = []
        sock.on("during", local.append)
        cpu, wall = time.process_time(), time.monotonic()
        ticker = Ticker(a, "during", 0.005)
        await asyncio.sleep(1.5)  # waits-ok: the outage being measured lasts this long
        ticker.interval.close()
        sent = ticker.sent
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        assert cpu < 0.5 * wall, (cpu, wall)
        await until(lambda: fa.lost == sent and len(local) == sent)
        assert local == list(range(sent))
        # requests answer with this server's data alone, at once
        started = time.monotonic()
        assert [s.id for s in await a.fetch_sockets()] == list(a.sockets.sockets)
        assert time.monotonic() - started < 1
        await served(sock, 3)
        assert len(logged(caplog, "Redis unreachable")) == 1
        assert len(logged(caplog, "")) == 1, logged(caplog, "")

        # closing with Redis still gone ends at once, leaving nothing behind
        started = time.monotonic()
        await close_server(a)
        await wait_for(fa.aclose(), 2)
        assert time.monotonic() - started < 2
        await assert_nothing_left(fa)


async def test_redis_refusing_and_killing_our_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    async with cluster() as c:
        a, fa, b, fb, sock = await c.pair()
        admin = c.client()
        got = next_event(sock, "good")
        b.emit("good", 0)
        await wait_for(got)

        # an operator takes pub/sub away from the default user and kills the clients
        await admin.execute_command("ACL", "SETUSER", "default", "resetchannels")
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        await until(lambda: not fa.connected and not fb.connected)
        during: list[Any] = []
        sock.on("during", during.append)
        for i in range(5):
            a.emit("during", i)
        # refused publishes are lost and counted; the local client is served
        await until(lambda: fa.lost >= 5)
        assert during == [0, 1, 2, 3, 4]
        await served(sock, 4)
        # subscriptions refused (NOPERM) keep the reader retrying with backoff
        await until(lambda: len(logged(caplog, "Redis unreachable")) >= 1)
        assert not fa.connected

        await admin.execute_command("ACL", "SETUSER", "default", "allchannels")
        await until(lambda: fa.connected and fb.connected, timeout=15)
        for i in range(1, 4):
            got = next_event(sock, "good")
            b.emit("good", i)
            assert await wait_for(got) == (i,)
        assert len(logged(caplog, "Redis refuses our publishes")) == 1
        lost = fa.lost

        # the subscriber connection killed while broadcasts flow: resubscribed at once
        heard: list[int] = []
        sock.on("flow", heard.append)
        ticker = Ticker(b, "flow", 0.01)
        await until(lambda: len(heard) >= 5)
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        killed_at = ticker.sent
        await until(lambda: heard and heard[-1] > killed_at + 5)
        ticker.interval.close()
        assert heard == sorted(heard)
        assert fa.lost == lost  # A published nothing meanwhile
        assert len(logged(caplog, "Redis is back")) >= 2
        await served(sock, 5)


async def test_wrong_arguments_fail_at_once() -> None:
    sync = redis.Redis()
    good = aioredis.Redis()
    cluster_client = aioredis.RedisCluster(host="127.0.0.1", port=1)
    try:
        cases: list[tuple[Callable[[], Any], str]] = [
            (lambda: create_redis_adapter(sync, good), "synchronous redis.Redis"),
            (lambda: create_redis_adapter(good, sync), "sub_client is a synchronous"),
            (lambda: create_redis_adapter(None, good), "pub_client must be a redis.asyncio"),
            (lambda: create_redis_adapter(good, "redis://"), "not str"),
            (lambda: create_redis_adapter(good, cluster_client), "RedisCluster"),
            (lambda: create_redis_adapter(good, good, key=""), "key"),
            (lambda: create_redis_adapter(good, good, key=5), "key"),
            (lambda: create_redis_adapter(good, good, requests_timeout=0), "requests_timeout"),
            (lambda: create_redis_adapter(good, good, requests_timeout="5"), "requests_timeout"),
            (
                lambda: create_redis_adapter(
                    good, good, publish_on_specific_response_channel="yes"
                ),
                "publish_on_specific_response_channel",
            ),
        ]
        for make, message in cases:
            with pytest.raises(TypeError, match=message):
                make()
    finally:
        sync.close()
        await good.aclose()
        await cluster_client.aclose()


async def test_one_client_for_pub_and_sub_works() -> None:
    # the adapter takes connections of its own from each client's pool: unlike Node's
    # adapter, which needs pubClient.duplicate(), one client may serve as both
    async with cluster() as c:
        shared = c.client()
        fa = create_redis_adapter(shared, shared)
        a = socketio.Server(adapter=fa)
        c.closers.append((a, fa))
        await until(lambda: fa.connected)
        b, _ = await c.server()
        sock = await c.local_client(a)
        got = next_event(sock, "hi")
        b.emit("hi", 1)
        assert await wait_for(got) == (1,)
        heard: list[Any] = []
        b.on("back", lambda *args: heard.append(args))
        a.server_side_emit("back", 2)
        await until(lambda: heard == [(2,)])
        assert await shared.ping()


async def test_a_burst_before_the_publisher_connects_is_not_lost() -> None:
    # publishes made while the publisher's first connection is being made wait for it
    # (node-redis's offline queue does the same); only a known outage loses them
    async with cluster() as c:
        b, _ = await c.server()
        sock = await c.local_client(b)
        a, fa = await c.server()
        assert fa.bridge._pub_conn is None
        got: list[Any] = []
        sock.on("n", got.append)
        for i in range(15_000):
            a.emit("n", i)
        end = next_event(sock, "end")
        a.emit("end")
        await wait_for(end)
        assert got == list(range(15_000))
        assert fa.lost == 0


async def test_one_factory_for_several_servers() -> None:
    # as with Node's createAdapter, the factory may be given to several servers: each
    # hears the others, closing one leaves the rest on Redis, and it serves again after
    async with cluster() as c:
        b, _ = await c.server()
        shared = create_redis_adapter(c.client(), c.client())
        servers = [socketio.Server(adapter=shared) for _ in range(2)]
        c.closers.append((servers[0], shared))
        await until(lambda: shared.connected)
        socks = [await c.local_client(io) for io in servers]

        async def everyone_hears(sender: socketio.Server, listeners: list[Any], n: int) -> None:
            futs = [next_event(s, "hi") for s in listeners]
            sender.emit("hi", n)
            for fut in futs:
                assert await wait_for(fut) == (n,)

        await everyone_hears(b, socks, 1)
        await everyone_hears(servers[0], socks, 2)  # the other server, through Redis
        await close_server(servers[0])
        await everyone_hears(b, socks[1:], 3)
        await everyone_hears(servers[1], socks[1:], 4)
        assert shared.lost == 0
        await close_server(servers[1])
        again = socketio.Server(adapter=shared)
        c.closers.append((again, shared))
        await until(lambda: shared.connected)
        heard: list[Any] = []
        again.on("back", lambda *args: heard.append(args))
        b.server_side_emit("back", 5)
        await until(lambda: heard == [(5,)])


async def test_a_stalled_redis_never_hangs_requests() -> None:
    # redis-server stopped with SIGSTOP: connections stay open, nothing answers
    async with cluster() as c:
        a, fa = await c.server(requests_timeout=0.5)
        b, _ = await c.server()
        sock = await c.local_client(b)
        assert c.redis.proc is not None
        c.redis.proc.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            # answered with this server's part once requests_timeout has passed
            assert await wait_for(a.fetch_sockets(), 5) == []
            assert await wait_for(a.sockets.adapter.all_rooms(), 5) == set()
            assert time.monotonic() - started < 3
            # broadcasts meanwhile wait in the connection, as they would in Node's
            for i in range(3):
                a.emit("stalled", i)
            await served(sock, 6)
        finally:
            c.redis.proc.send_signal(signal.SIGCONT)
        got: list[Any] = []
        sock.on("stalled", got.append)
        await until(lambda: got == [0, 1, 2])
        assert fa.lost == 0
        # and requests cross again
        assert [s.id for s in await wait_for(a.fetch_sockets())] == [
            s.id for s in b.sockets.sockets.values()
        ]
        # closed while Redis is stalled: what it never confirmed is lost, nothing hangs
        c.redis.proc.send_signal(signal.SIGSTOP)
        try:
            a.emit("never", 1)
            await close_server(a)
            await wait_for(fa.aclose(timeout=0.5), 3)
        finally:
            c.redis.proc.send_signal(signal.SIGCONT)
        assert fa.lost == 1
        await assert_nothing_left(fa)


async def test_what_json_cannot_carry_raises_before_anything_is_sent() -> None:
    # a set reaching the other servers as a list while the local emit raised would be
    # half a broadcast: it raises before anything is published, as with one server
    async with cluster() as c:
        a, fa, b, _, sock = await c.pair()
        far = await c.local_client(b)
        heard: list[Any] = []
        far.on_any(lambda event, *args: heard.append((event, *args)))
        for emit in (
            lambda: a.emit("bad", {1, 2}),
            lambda: a.to("r").emit("bad", frozenset([1])),
            lambda: a.timeout(1).emit("bad", {1}, callback=lambda *_: None),
            lambda: a.server_side_emit("bad", {1}),
            lambda: a.server_side_emit("bad", {1}, callback=lambda *_: None),
        ):
            with pytest.raises(TypeError, match="set is not JSON serializable"):
                emit()
        got = next_event(far, "ok")
        a.emit("ok", (1, 2))  # a tuple is a list, here and there
        assert await wait_for(got) == ([1, 2],)
        assert heard == [("ok", [1, 2])]
        assert fa.lost == 0
        await served(sock, 7)


async def test_closed_at_once_and_twice() -> None:
    async with cluster() as c:
        # closed in the turn it was made, before its connections were up
        factory = create_redis_adapter(c.client(), c.client())
        io = socketio.Server(adapter=factory)
        io.emit("early", 1)
        io.close()
        await wait_for(factory.aclose(), 2)
        await wait_for(factory.aclose(), 2)  # again: nothing to do
        assert not factory.connected
        # a broadcast after the close is counted, not raised
        lost = factory.lost
        io.emit("late", 2)
        assert factory.lost == lost + 1
        await assert_nothing_left(factory)


async def test_a_channel_refused_by_an_acl_keeps_the_reader_backing_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the broadcast pattern allowed, the request channels not: the subscriptions are
    # not all confirmed, so the reader is not connected and retries with backoff, not
    # in a loop of connections and log lines
    caplog.set_level(logging.WARNING, LOGGER)
    async with cluster() as c:
        admin = c.client()
        await admin.execute_command("ACL", "SETUSER", "default", "resetchannels", "&socket.io#/#*")
        factory = create_redis_adapter(c.client(), c.client())
        io = socketio.Server(adapter=factory)
        c.closers.append((io, factory))
        before = (await admin.info("stats"))["total_connections_received"]
        await until(lambda: logged(caplog, "Redis unreachable"))
        await asyncio.sleep(1.5)  # waits-ok: counting the retries made in this time
        after = (await admin.info("stats"))["total_connections_received"]
        assert not factory.connected
        assert after - before <= 8, after - before
        assert len(logged(caplog, "")) == 1, logged(caplog, "")
        await admin.execute_command("ACL", "SETUSER", "default", "allchannels")
        await until(lambda: factory.connected, timeout=15)


async def test_a_namespace_made_while_the_reader_subscribes_is_subscribed() -> None:
    async with cluster() as c:
        b, _ = await c.server()
        factory = create_redis_adapter(c.client(), c.client())
        io = socketio.Server(adapter=factory)
        c.closers.append((io, factory))
        make = factory.bridge._connection
        made: list[Any] = []

        def connection(client: Any) -> Any:
            conn = make(client)
            send = conn.send_command

            async def send_command(*args: Any, **kwargs: Any) -> Any:
                # a namespace made while the reader's subscriptions are on their way
                if args[0] == "PSUBSCRIBE" and not made:
                    made.append(io.of("/late"))
                return await send(*args, **kwargs)

            conn.send_command = send_command
            return conn

        factory.bridge._connection = connection  # type: ignore[method-assign]
        await until(lambda: made and factory.connected)
        await io.listen(0, "127.0.0.1")
        sock = socketio.connect(
            f"http://127.0.0.1:{io.address().port}/late", transports=["websocket"]
        )
        c.closers.append(sock)
        await wait_event(sock, "connect")
        # its broadcasts (pattern) and its requests (channels) both arrive
        got = next_event(sock, "hello")
        b.of("/late").emit("hello", 1)
        assert await wait_for(got) == (1,)
        heard: list[Any] = []
        io.of("/late").on("ask", lambda *args: heard.append(args))
        b.of("/late").server_side_emit("ask", 2)
        await until(lambda: heard == [(2,)])


async def test_garbage_requests_beside_node_servers() -> None:
    # Node's adapter ignores requests it cannot parse (a broadcast that is not msgpack
    # would throw in it, uncaught); with a Node server on the same Redis, ours drops
    # the same garbage and delivery resumes both ways
    async with cluster() as c, node_peer(c.redis.port) as node:
        a, fa = await c.server()
        sock = await c.local_client(a)
        await node.send(cmd="client", name="n")
        await node.wait_kind("connected", client="n")
        other = c.client()
        items = [
            (REQ, b"{not json"),
            (REQ, js({"type": 99, "requestId": "x"})),
            (REQ, mp([1, 2])),
            (RESP, b"\xc1"),
            (RESP, js({"requestId": [1]})),
        ]
        for i, (channel, message) in enumerate(items):
            await other.publish(channel, message)
            got = next_event(sock, "from-node")
            await node.send(cmd="emit", event="from-node", args=[i])
            assert await wait_for(got) == (i,)
            a.emit("from-nodish", i)
            await node.wait_kind("event", client="n", event="from-nodish", args=[i])
        assert fa.dropped == len(items)
        assert node.of_kind("node-rejection") == []
        await served(sock, 8)


async def test_requirepass_set_while_running(caplog: pytest.LogCaptureFixture) -> None:
    # CONFIG SET requirepass, then our connections killed: every new one fails NOAUTH
    caplog.set_level(logging.WARNING, LOGGER)
    async with cluster() as c:
        a, fa, b, fb, sock = await c.pair()
        admin = c.client()
        await admin.ping()  # its connection stays authenticated through what follows
        await admin.config_set("requirepass", "s3cret")
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        await until(lambda: not fa.connected and not fb.connected)
        for i in range(20):
            a.emit("during", i)
        await until(lambda: fa.lost == 20)
        assert await wait_for(a.fetch_sockets(), 2) != []  # local data, at once
        await served(sock, 9)
        assert len(logged(caplog, "Redis unreachable")) == 2  # once per server
        await admin.config_set("requirepass", "")
        await until(lambda: fa.connected and fb.connected, timeout=15)
        got = next_event(sock, "good")
        b.emit("good", 1)
        assert await wait_for(got) == (1,)
        assert len(logged(caplog, "Redis is back")) == 2
