"""nodish's Socket.IO server against the official ``socket.io-client`` (Node).

Each scenario runs over long-polling only, WebSocket only, and polling upgraded to
WebSocket (the client's default).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.helpers import DEFAULT_TIMEOUT, next_event, until, wait_for
from tests.interop.socketio_peers import NODE_SIO_CLIENT, NodeSio, no_websocket_proxy

from nodish import socketio

pytestmark = pytest.mark.interop

TRANSPORTS = {
    "polling": {"transports": ["polling"]},
    "websocket": {"transports": ["websocket"]},
    "upgrade": {},
}


@asynccontextmanager
async def clients() -> AsyncIterator[NodeSio]:
    node = await NodeSio.start(NODE_SIO_CLIENT)
    try:
        await node.wait_kind("ready")
        yield node
    finally:
        await node.close()


async def started(io: socketio.Server) -> int:
    await io.listen(0, "127.0.0.1")
    port: int = io.address().port
    return port


def setup(io: socketio.Server, log: list[Any]) -> None:
    def on_connection(socket: socketio.Socket) -> None:
        log.append(("connection", socket.nsp.name, socket.id, socket.handshake["auth"]))
        socket.on("disconnect", lambda reason, *_: log.append(("disconnect", socket.id, reason)))

        def echo(*args: Any) -> None:
            args[-1](*args[:-1])

        socket.on("echo", echo)
        socket.on("note", lambda *args: log.append(("note", socket.id, args)))
        socket.on("join", lambda room, ack: (socket.join(room), ack()))
        socket.on("to-room", lambda room, *args: io.to(room).emit("room-msg", *args))
        socket.on("but-room", lambda room, *args: io.except_(room).emit("not-room", *args))
        socket.on("broadcast", lambda *args: socket.broadcast.emit("broadcasted", *args))
        socket.on("kick", lambda: socket.disconnect())

        async def ask(*args: Any) -> None:
            log.append(("answer", await socket.emit_with_ack("question", *args, timeout=5)))

        socket.on("ask", ask)

    io.on("connection", on_connection)
    io.of("/chat").on("connection", on_connection)

    def refuse(socket: socketio.Socket, next_: Any) -> None:
        err = ValueError("not authorized")
        err.data = {"reason": "admins only"}  # type: ignore[attr-defined]
        raise err

    io.of("/admin").use(refuse)


async def until_logged(log: list[Any], pred: Any) -> Any:
    async def find() -> Any:
        while True:
            for item in log:
                if pred(item):
                    return item
            await asyncio.sleep(0)

    return await wait_for(find())


@pytest.mark.parametrize("mode", list(TRANSPORTS))
async def test_official_client_full_scenario(mode: str) -> None:
    io = socketio.Server()
    log: list[Any] = []
    setup(io, log)
    port = await started(io)
    url = f"http://127.0.0.1:{port}"
    opts = TRANSPORTS[mode]
    async with clients() as node:
        await node.send(cmd="connect", name="a", url=url, opts={**opts, "auth": {"token": "A"}})
        await node.send(cmd="connect", name="b", url=url, opts=opts)
        a = await node.wait_kind("connect", name="a")
        await node.wait_kind("connect", name="b")
        conn = await until_logged(log, lambda e: e[0] == "connection" and e[3] == {"token": "A"})
        assert conn[2] == a["id"]
        if mode == "upgrade":
            await node.wait_kind("upgrade", name="a")
            socket = io.sockets.sockets[a["id"]]
            assert socket.conn.transport.name == "websocket"
        elif mode == "websocket":
            assert a["transport"] == "websocket"
        else:
            assert a["transport"] == "polling"

        # acks, text and binary, both ways
        await node.send(cmd="emit", name="a", event="echo", args=["hé", 1, {"n": None}], ack=True)
        assert (await node.wait_kind("ack", name="a"))["value"] == "hé"
        await node.send(cmd="emit", name="a", event="echo", args=[b"\x00\xff", 2], ack=True)
        assert (await node.wait_kind("ack", name="a"))["value"] == b"\x00\xff"
        await node.send(cmd="emit", name="a", event="note", args=["plain", b"bin", [b"x"]])
        note = await until_logged(log, lambda e: e[0] == "note")
        assert note[2] == ("plain", b"bin", [b"x"])

        # the server asks the client
        await node.send(cmd="emit", name="a", event="ask", args=[b"\x01", "q"])
        answer = await until_logged(log, lambda e: e[0] == "answer")
        assert answer[1] == ["ack", "a", b"\x01", "q"]

        # rooms and broadcasts
        await node.send(cmd="emit", name="a", event="join", args=["r1"], ack=True)
        await node.wait_kind("ack", name="a")
        await node.send(cmd="emit", name="b", event="to-room", args=["r1", "to r1", b"\x02"])
        m = await node.wait_kind("event", name="a", event="room-msg")
        assert m["args"] == ["to r1", b"\x02"]
        await node.send(cmd="emit", name="a", event="broadcast", args=["hi all"])
        m = await node.wait_kind("event", name="b", event="broadcasted")
        assert m["args"] == ["hi all"]
        await node.send(cmd="emit", name="b", event="but-room", args=["r1", "not r1"])
        m = await node.wait_kind("event", name="b", event="not-room")
        assert m["args"] == ["not r1"]
        io.emit("news", {"k": [1, 2]})
        for name in ("a", "b"):
            assert (await node.wait_kind("event", name=name, event="news"))["args"] == [
                {"k": [1, 2]}
            ]
        assert node.of_kind("event", name="a", event="broadcasted") == []
        assert node.of_kind("event", name="b", event="room-msg") == []
        assert node.of_kind("event", name="a", event="not-room") == []

        # a namespace, and a refused one
        await node.send(cmd="connect", name="chat", url=url + "/chat", opts=opts)
        await node.wait_kind("connect", name="chat")
        await until_logged(log, lambda e: e[0] == "connection" and e[1] == "/chat")
        await node.send(cmd="connect", name="admin", url=url + "/admin", opts=opts)
        refused = await node.wait_kind("connect_error", name="admin")
        assert refused["message"] == "not authorized"
        assert refused["data"] == {"reason": "admins only"}

        # server-side disconnect, then a client-side one
        await node.send(cmd="emit", name="b", event="kick", args=[])
        assert (await node.wait_kind("disconnect", name="b"))["reason"] == "io server disconnect"
        kicked = await until_logged(log, lambda e: e[0] == "disconnect" and e[1] != a["id"])
        assert kicked[2] == "server namespace disconnect"
        await node.send(cmd="disconnect", name="a")
        gone = await until_logged(log, lambda e: e[0] == "disconnect" and e[1] == a["id"])
        assert gone[2] == "client namespace disconnect"
        for name in ("chat", "admin"):
            await node.send(cmd="disconnect", name=name)
    io.close()
    await wait_for(next_event(io.http_server, "close"))


@pytest.mark.parametrize("mode", list(TRANSPORTS))
async def test_official_client_reconnects_after_server_restart(mode: str) -> None:
    io = socketio.Server()
    port = await started(io)
    url = f"http://127.0.0.1:{port}"
    async with clients() as node:
        await node.send(
            cmd="connect",
            name="a",
            url=url,
            opts={
                "reconnectionDelay": 50,
                "reconnectionDelayMax": 200,
                **TRANSPORTS[mode],
            },
        )
        first = await node.wait_kind("connect", name="a")
        if mode == "upgrade":
            await node.wait_kind("upgrade", name="a")
        (server_side,) = io.sockets.sockets.values()
        # closed while the client's poll waits, so that it hears the CLOSE packet; one
        # between two polls is refused its next (Node's client then says 'transport
        # error'), and on plain asyncio a poll accepted in the very turn of the close
        # can be left unanswered (asyncio's accept race), which this test is not about
        await until(lambda: server_side.conn.transport.writable)
        reasons: list[str] = []
        server_side.on("disconnecting", lambda reason, *_: reasons.append(reason))
        server_side.on("disconnect", lambda reason, *_: reasons.append(reason))
        io.close()
        assert reasons == ["server shutting down"] * 2
        assert (await node.wait_kind("disconnect", name="a"))["reason"] == "transport close"
        io2 = socketio.Server()
        seen = next_event(io2, "connection")
        io2.on("connection", lambda s: s.on("echo", lambda *args: args[-1](*args[:-1])))
        await io2.listen(port, "127.0.0.1")
        again = await node.wait_kind("connect", name="a", timeout=15)
        assert again["id"] != first["id"]
        (socket,) = await wait_for(seen)
        assert socket.id == again["id"]
        # the new session carries events both ways
        await node.send(cmd="emit", name="a", event="echo", args=["back", b"\x01"], ack=True)
        assert (await node.wait_kind("ack", name="a"))["value"] == "back"
        await node.send(cmd="disconnect", name="a")
        io2.close()


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_official_client_answers_pings_and_a_frozen_one_times_out(mode: str) -> None:
    # short heartbeats: the official client answers each ping (the session lives on
    # past many ping intervals); frozen (SIGSTOP), it answers none and the server
    # drops it after ping_interval + ping_timeout with Node's 'ping timeout'
    io = socketio.Server(ping_interval=0.1, ping_timeout=DEFAULT_TIMEOUT / 10)
    port = await started(io)
    async with clients() as node:
        await node.send(
            cmd="connect",
            name="a",
            url=f"http://127.0.0.1:{port}",
            opts={**TRANSPORTS[mode], "reconnection": False},
        )
        await node.wait_kind("connect", name="a")
        (socket,) = io.sockets.sockets.values()
        reasons: list[str] = []
        socket.on("disconnect", lambda reason, *_: reasons.append(reason))
        pongs: list[Any] = []
        socket.conn.on("heartbeat", lambda: pongs.append(None))
        await until(lambda: len(pongs) >= 3)  # several ping intervals
        assert reasons == [] and socket.connected
        node.proc.send_signal(signal.SIGSTOP)
        try:
            await until(lambda: reasons)
        finally:
            node.proc.send_signal(signal.SIGCONT)
        assert reasons == ["ping timeout"]
    io.close()


async def test_server_wide_room_operations_with_official_clients() -> None:
    # io.sockets_join / sockets_leave / fetch_sockets / disconnect_sockets on the
    # in-memory adapter, each seen by the official client
    io = socketio.Server()
    reasons: dict[str, str] = {}
    io.on(
        "connection",
        lambda s: s.on("disconnect", lambda reason, *_: reasons.__setitem__(s.id, reason)),
    )
    port = await started(io)
    async with clients() as node:
        ids = {}
        for name in ("a", "b", "c"):
            await node.send(
                cmd="connect",
                name=name,
                url=f"http://127.0.0.1:{port}",
                opts={"transports": ["websocket"], "reconnection": False},
            )
            ids[name] = (await node.wait_kind("connect", name=name))["id"]
        server = {name: io.sockets.sockets[sid] for name, sid in ids.items()}
        io.socket_join("everyone")  # the name; Node's socketsJoin is sockets_join
        io.in_(ids["a"]).sockets_join(["vip", "extra"])  # a socket's own room names it
        assert server["a"].rooms == {ids["a"], "everyone", "vip", "extra"}
        assert server["b"].rooms == {ids["b"], "everyone"}
        io.in_("vip").sockets_leave("everyone")
        server["b"].leave("everyone")
        server["c"].data = {"n": 3}
        (fetched,) = await io.in_("everyone").fetch_sockets()
        assert fetched is server["c"] and fetched.data == {"n": 3}

        io.to("everyone").emit("msg", "everyone")
        io.to("vip").except_("extra").emit("msg", "nobody")
        io.to("extra").emit("msg", "extra")
        io.emit("msg", "fence")
        for name in ("a", "b", "c"):
            await node.wait_kind("event", name=name, event="msg", args=["fence"])
        got = {
            name: [m["args"][0] for m in node.of_kind("event", name=name, event="msg")]
            for name in ("a", "b", "c")
        }
        assert got == {"a": ["extra"], "b": [], "c": ["everyone"]}
        io.socket_leave("extra")
        assert server["a"].rooms == {ids["a"], "vip"}

        # a room's sockets leave the namespace; then everyone's connection is closed
        io.in_("vip").disconnect_sockets()
        assert (await node.wait_kind("disconnect", name="a"))["reason"] == "io server disconnect"
        assert reasons == {ids["a"]: "server namespace disconnect"}
        assert not server["a"].connected and server["b"].connected
        io.disconnect_sockets(close=True)
        for name in ("b", "c"):
            assert (await node.wait_kind("disconnect", name=name))["reason"] == (
                "io server disconnect"
            )
        assert reasons[ids["b"]] == reasons[ids["c"]] == "server namespace disconnect"
        await until(lambda: not io.engine.clients)  # their connections closed too
    io.close()


async def test_official_client_falls_back_to_polling_when_websocket_is_blocked() -> None:
    # Socket.IO's promise over plain WebSocket: behind a proxy that drops upgrades the
    # official client's probe fails, and it carries on over long-polling
    io = socketio.Server()
    log: list[Any] = []
    setup(io, log)
    port = await started(io)
    dropped: list[bytes] = []
    proxy = await no_websocket_proxy(port, dropped)
    proxy_port = proxy.sockets[0].getsockname()[1]
    async with clients() as node:
        await node.send(cmd="connect", name="a", url=f"http://127.0.0.1:{proxy_port}", opts={})
        a = await node.wait_kind("connect", name="a")
        assert a["transport"] == "polling"
        await until(lambda: dropped)  # the upgrade's probe, refused on the way
        assert b"transport=websocket" in dropped[0]
        # an acked round trip, and the session is still polling on both sides: the
        # upgrade was tried and given up
        await node.send(cmd="emit", name="a", event="echo", args=["still", b"\x01"], ack=True)
        assert (await node.wait_kind("ack", name="a"))["value"] == "still"
        await node.send(cmd="transport", name="a")
        assert (await node.wait_kind("transport", name="a"))["transport"] == "polling"
        assert io.sockets.sockets[a["id"]].conn.transport.name == "polling"
        assert node.of_kind("upgrade", name="a") == [] and node.of_kind("disconnect") == []
        await node.send(cmd="disconnect", name="a")
        await until_logged(log, lambda e: e[0] == "disconnect")
    proxy.close()
    io.close()
    await wait_for(next_event(io.http_server, "close"))
