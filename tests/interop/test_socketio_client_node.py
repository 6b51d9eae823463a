"""nodish's Socket.IO client against Node's socket.io server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.helpers import next_event, until, wait_event, wait_for
from tests.interop.socketio_peers import (
    NODE_SIO_CLIENT,
    NODE_SIO_SERVER,
    NodeSio,
    no_websocket_proxy,
)
from tests.tls_fixtures import pki

from nodish import socketio
from nodish.ws import WebSocketServer

pytestmark = pytest.mark.interop


@asynccontextmanager
async def node_server(
    port: int = 0, transports: str = "polling,websocket"
) -> AsyncIterator[NodeSio]:
    node = await NodeSio.start(NODE_SIO_SERVER, str(port), transports)
    try:
        node.port = (await node.wait_kind("ready"))["port"]  # type: ignore[attr-defined]
        yield node
    finally:
        await node.close()


def url(node: NodeSio, nsp: str = "") -> str:
    return f"http://127.0.0.1:{node.port}{nsp}"  # type: ignore[attr-defined]


async def connected(sock: socketio.ClientSocket) -> None:
    if not sock.connected:
        await wait_event(sock, "connect")


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_events_acks_binary_rooms_namespaces(transports: list[str]) -> None:
    async with node_server() as node:
        sock = socketio.connect(
            url(node), auth={"token": "t1"}, transports=transports, force_new=True
        )
        chat = socketio.connect(url(node, "/chat"), transports=transports, force_new=True)
        # returned at once, connecting in the background (as io() does)
        assert not sock.connected and sock.id is None
        await connected(sock)
        await connected(chat)
        conn = await node.wait_kind("connection", nsp="/")
        assert conn["auth"] == {"token": "t1"}
        assert conn["id"] == sock.id
        assert conn["transport"] == transports[0]
        if len(transports) == 2:
            # polling first, then the upgrade: Node's server reports it
            up = await node.wait_kind("upgrade", id=sock.id)
            assert up["transport"] == "websocket"
            await until(lambda: sock.io.engine.transport.name == "websocket")  # type: ignore[union-attr]
        else:
            assert sock.io.engine is not None
            assert sock.io.engine.transport.name == transports[0]

        # emit with ack, text and binary both ways
        assert await sock.emit_with_ack("echo", "hé", 1, {"a": None}) == "hé"
        got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        sock.emit("echo", b"\x00\x01", [b"\xff"], callback=lambda *a: got.set_result(a))
        assert await wait_for(got) == (b"\x00\x01", [b"\xff"])
        # without ack
        sock.emit("note", "plain", b"bin")
        assert (await node.wait_kind("note", nsp="/"))["args"] == ["plain", b"bin"]

        # the server asks, we answer through the ack callable given last
        sock.on("question", lambda x, ack: ack({"answer": x * 2}))
        sock.emit("ask", 21)
        assert (await node.wait_kind("answer"))["value"] == {"answer": 42}

        # rooms and broadcasts
        await sock.emit_with_ack("join", "room1")
        room_msg = next_event(sock, "room-msg")
        chat.emit("note", "from chat")
        assert (await node.wait_kind("note", nsp="/chat"))["args"] == ["from chat"]
        sock.emit("to-room", "room1", "hello room")
        assert await wait_for(room_msg) == ("hello room",)

        # socket.broadcast on Node's side reaches our other socket, not the sender
        other = socketio.connect(url(node), transports=transports, force_new=True)
        await connected(other)
        heard = next_event(other, "broadcasted")
        sender_heard: list[Any] = []
        sock.on("broadcasted", lambda *args: sender_heard.append(args))
        sock.emit("broadcast", "to the others", b"\x03")
        assert await wait_for(heard) == ("to the others", b"\x03")
        other.disconnect()

        # a server-wide emit
        everyone = next_event(sock, "news")
        await node.send(cmd="emit", event="news", args=[1, b"\x02"])
        assert await wait_for(everyone) == (1, b"\x02")
        assert sender_heard == []  # what reached us after the broadcast: not our own

        # the server disconnects us from the namespace: no reconnection for it
        bye = next_event(sock, "disconnect")
        sock.emit("kick")
        assert (await wait_for(bye))[0] == "io server disconnect"
        assert not sock.connected

        # we leave /chat: the server sees Node's reason, we see socket.io-client's
        left = next_event(chat, "disconnect")
        chat.disconnect()
        assert (await wait_for(left))[0] == "io client disconnect"
        assert not chat.connected
        m = await node.wait_kind("disconnect", nsp="/chat")
        assert m["reason"] == "client namespace disconnect"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_middleware_refusal_gives_connect_error_with_data(transport: str) -> None:
    async with node_server() as node:
        admin = socketio.connect(url(node, "/admin"), transports=[transport], force_new=True)
        (err,) = await wait_event(admin, "connect_error")
        assert isinstance(err, socketio.ConnectError)
        assert str(err) == "not authorized"
        assert err.data == {"reason": "admins only"}
        assert not admin.connected
        admin.disconnect()


# what socket.io-client reports when the server process goes away (the official
# client beside ours gives the same): the WebSocket is closed by the peer's kernel; a
# long-poll request fails
RESTART_REASONS = {
    "websocket": "transport close",
    "polling": "transport error",
    "polling,websocket": "transport close",  # upgraded first
}


@pytest.mark.parametrize("transport", list(RESTART_REASONS))
async def test_reconnects_after_server_restart(transport: str) -> None:
    transports = transport.split(",")
    async with node_server(transports=transport) as node:
        port = node.port  # type: ignore[attr-defined]
        sock = socketio.connect(
            url(node),
            transports=transports,
            reconnection_delay=0.05,
            reconnection_delay_max=0.2,
            force_new=True,
        )
        await connected(sock)
        first_id = sock.id
        oracle = await NodeSio.start(NODE_SIO_CLIENT)
        await oracle.wait_kind("ready")
        await oracle.send(
            cmd="connect",
            name="official",
            url=url(node),
            opts={"transports": transports, "reconnection": False},
        )
        await oracle.wait_kind("connect", name="official")
        if len(transports) == 2:
            await oracle.wait_kind("upgrade", name="official")
            await until(lambda: sock.io.engine.transport.name == "websocket")  # type: ignore[union-attr]
        down = next_event(sock, "disconnect")
        await node.send(cmd="exit")
        reason = (await wait_for(down))[0]
        assert reason == RESTART_REASONS[transport]
        assert (await oracle.wait_kind("disconnect", name="official"))["reason"] == reason
        await oracle.close()
    async with node_server(port, transport) as node2:
        await wait_event(sock, "connect")
        assert sock.connected and sock.id != first_id
        assert (await node2.wait_kind("connection"))["id"] == sock.id
        sock.disconnect()


# what a hostile server sends once the namespace is connected
HOSTILE = [
    ["42["],  # broken JSON
    ["9x"],  # not an Engine.IO packet
    [b"\x01"],  # an attachment nobody announced
    ['451-["x",{"_placeholder":true,"num":0}]', '42["y"]'],  # text while waiting
    ["4"],  # an empty Socket.IO packet
    ["41"],  # DISCONNECT
]


async def test_a_hostile_server_gives_the_same_reasons_as_to_the_official_client() -> None:
    # a bare Engine.IO server over WebSocket: after the CONNECT answer it sends one bad
    # sequence; nodish's client and the official one must end with the same reason
    bad: list[Any] = []

    def on_connection(ws: Any, *_: Any) -> None:
        sequence = bad[0]
        ws.send('0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')

        def on_message(data: Any, _binary: bool) -> None:
            if str(data).startswith("40"):
                ws.send('40{"sid":"n"}')
                for message in sequence:
                    ws.send(message)

        ws.on("message", on_message)

    wss = await WebSocketServer(port=0, host="127.0.0.1")
    wss.on("connection", on_connection)
    url = f"http://127.0.0.1:{wss.address().port}"
    official = await NodeSio.start(NODE_SIO_CLIENT)
    try:
        await official.wait_kind("ready")
        for i, sequence in enumerate(HOSTILE):
            bad[:] = [sequence]
            opts = {"transports": ["websocket"], "reconnection": False}
            await official.send(cmd="connect", name=f"c{i}", url=url, opts=opts)
            theirs = (await official.wait_kind("disconnect", name=f"c{i}"))["reason"]
            ours = socketio.connect(url, force_new=True, **opts)
            (reason, *_) = await wait_event(ours, "disconnect")
            assert reason == theirs, sequence
            ours.disconnect()
    finally:
        await official.close()
    for ws in list(wss.clients):
        ws.terminate()
    closed = next_event(wss, "close")
    wss.close()
    await wait_for(closed)


async def test_falls_back_to_polling_when_websocket_is_blocked() -> None:
    # behind a proxy that drops WebSocket upgrades, our client's probe is refused and
    # it carries on over long-polling with Node's server, as socket.io-client does
    async with node_server() as node:
        dropped: list[bytes] = []
        proxy = await no_websocket_proxy(node.port, dropped)  # type: ignore[attr-defined]
        sock = socketio.connect(
            f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", force_new=True
        )
        await connected(sock)
        await until(lambda: dropped)  # the probe, refused on the way
        assert b"transport=websocket" in dropped[0]
        assert await sock.emit_with_ack("echo", "still", b"\x01") == "still"
        assert sock.io.engine is not None and sock.io.engine.transport.name == "polling"
        assert node.of_kind("upgrade") == [] and sock.connected
        sock.disconnect()
        assert (await node.wait_kind("disconnect"))["reason"] == "client namespace disconnect"
        proxy.close()


# Node's socket.io on an https server. argv: key PEM, cert PEM (base64: an argument
# starting with "-" would be read as an option of node's own).
NODE_SIO_HTTPS_SERVER = r"""
const { createServer } = require('https');
const { Server } = require('socket.io');
const pem = (i) => Buffer.from(process.argv[i], 'base64');
const server = createServer({ key: pem(1), cert: pem(2) });
const io = new Server(server);
io.on('connection', (s) => {
  out({ kind: 'connection', id: s.id, secure: s.handshake.secure, transport: s.conn.transport.name });
  s.conn.on('upgrade', (t) => out({ kind: 'upgrade', id: s.id, transport: t.name }));
  s.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
});
server.listen(0, '127.0.0.1', () => out({ kind: 'ready', port: server.address().port }));
commands(() => {});
"""


@asynccontextmanager
async def node_https_server() -> AsyncIterator[tuple[NodeSio, str]]:
    leaf = pki().server
    node = await NodeSio.start(
        NODE_SIO_HTTPS_SERVER,
        base64.b64encode(leaf.key_pem()).decode(),
        base64.b64encode(leaf.chain_pem).decode(),
    )
    try:
        port = (await node.wait_kind("ready"))["port"]
        yield node, f"https://127.0.0.1:{port}"
    finally:
        await node.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_over_https_with_the_servers_ca(transports: list[str]) -> None:
    async with node_https_server() as (node, url):
        sock = socketio.connect(url, transports=transports, force_new=True, ca=pki().ca.cert_pem)
        await connected(sock)
        seen = await node.wait_kind("connection")
        assert (seen["id"], seen["secure"], seen["transport"]) == (sock.id, True, transports[0])
        if len(transports) == 2:
            await node.wait_kind("upgrade", id=sock.id)
        assert await sock.emit_with_ack("echo", "over tls", b"\x00") == "over tls"
        sock.disconnect()


async def test_over_https_an_unknown_ca_is_refused_unless_told_otherwise() -> None:
    async with node_https_server() as (node, url):
        for transports in (["polling"], ["websocket"]):
            refused = socketio.connect(url, transports=transports, force_new=True)
            (err,) = await wait_event(refused, "connect_error")
            # as socket.io-client: the transport's error, the TLS failure as description
            assert (
                str(err)
                == {"polling": "xhr poll error", "websocket": "websocket error"}[transports[0]]
            )
            assert err.description.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
            assert not refused.connected
            refused.disconnect()
        trusting = socketio.connect(
            url, transports=["websocket"], force_new=True, reject_unauthorized=False
        )
        await connected(trusting)
        assert await trusting.emit_with_ack("echo", 1) == 1
        assert (await node.wait_kind("connection"))["id"] == trusting.id
        trusting.disconnect()
