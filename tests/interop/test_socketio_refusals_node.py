"""Engine.IO's refusals, byte for byte beside Node's socket.io on the same raw requests.

Each request goes on a plain socket to a Node socket.io server and to a nodish one; the
status line and body must be the same (Node's polling bodies come chunked: compared
once unchunked). Refused upgrades are answered as engine.io's ``abortUpgrade()`` does:
400 and the bare message. After them all, a good client is still served.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from tests.helpers import next_event, unchunk, wait_for
from tests.interop.socketio_peers import NODE_SIO_SERVER, NodeSio

from nodish import socketio

pytestmark = pytest.mark.interop

UPGRADE = (
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)
POLLING = "/socket.io/?EIO=4&transport=polling"
CASES = [
    ("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", ""),
    ("GET", "/socket.io/?EIO=4", ""),
    ("GET", f"{POLLING}&sid=unknown", ""),
    ("POST", POLLING, ""),
    ("PUT", POLLING, ""),
    ("OPTIONS", POLLING, ""),
    ("GET", "/socket.io/?EIO=3&transport=polling", ""),
    ("GET", "/socket.io/?transport=polling", ""),
    ("GET", "/socket.io/?EIO=4&transport=websocket", ""),  # not an upgrade
    ("GET", "/socket.io/socket.io.js.nope", ""),
    # upgrades
    ("GET", "/socket.io/?EIO=4&transport=websocket&sid=unknown", UPGRADE),
    ("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", UPGRADE),
]


async def answer(port: int, method: str, path: str, extra: str) -> tuple[str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = extra or "Connection: close\r\nContent-Length: 0\r\n"
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    # one response, read to its end (a server may keep the connection open after it)
    head = await wait_for(reader.readuntil(b"\r\n\r\n"))
    if b"transfer-encoding: chunked" in head.lower():
        body = unchunk(await wait_for(reader.readuntil(b"\r\n0\r\n\r\n")))
    else:
        length = re.search(rb"content-length: *(\d+)", head.lower())
        body = await wait_for(reader.readexactly(int(length[1]))) if length else b""
    writer.close()
    return head.split(b"\r\n", 1)[0].decode(), body


# a server for one transport only refuses the other as unknown
ONLY = {
    "websocket": [("GET", POLLING, ""), ("GET", f"{POLLING}&sid=x", "")],
    "polling": [("GET", "/socket.io/?EIO=4&transport=websocket", UPGRADE)],
}


@pytest.mark.parametrize("transports", ["polling,websocket", "websocket", "polling"])
async def test_refusals_are_nodes_byte_for_byte(transports: str) -> None:
    io = socketio.Server(transports=transports.split(","))
    io.on("connection", lambda s: s.on("echo", lambda *args: args[-1](*args[:-1])))
    await io.listen(0, "127.0.0.1")
    node = await NodeSio.start(NODE_SIO_SERVER, "0", transports)
    cases = ONLY.get(transports, CASES)
    try:
        node_port = (await node.wait_kind("ready"))["port"]
        for method, path, extra in cases:
            theirs = await answer(node_port, method, path, extra)
            ours = await answer(io.address().port, method, path, extra)
            assert ours == theirs, (method, path, bool(extra))
            assert ours[0] == "HTTP/1.1 400 Bad Request"
    finally:
        await node.close()
    good = socketio.connect(
        f"http://127.0.0.1:{io.address().port}",
        force_new=True,
        reconnection=False,
        transports=transports.split(","),
    )
    try:
        assert await good.timeout(10).emit_with_ack("echo", "still here") == "still here"
    finally:
        good.disconnect()
    closed = next_event(io.http_server, "close")
    io.close()
    await wait_for(closed)


async def test_open_packet_is_nodes() -> None:
    # the handshake's OPEN packet: the same fields and values as Node's for the same
    # settings (the defaults: 25 s / 20 s heartbeat, 1 MB), but for the sid
    io = socketio.Server()
    await io.listen(0, "127.0.0.1")
    node = await NodeSio.start(NODE_SIO_SERVER, "0", "polling,websocket")
    try:
        node_port = (await node.wait_kind("ready"))["port"]
        opened = []
        for port in (node_port, io.address().port):
            status, body = await answer(port, "GET", POLLING, "")
            assert status == "HTTP/1.1 200 OK" and body[:1] == b"0"
            opened.append(json.loads(body[1:]))
    finally:
        await node.close()
    theirs, ours = opened
    assert len(ours.pop("sid")) == 20 and theirs.pop("sid")
    assert (
        ours
        == theirs
        == {
            "upgrades": ["websocket"],
            "pingInterval": 25000,
            "pingTimeout": 20000,
            "maxPayload": 1000000,
        }
    )
    closed = next_event(io.http_server, "close")
    io.close()
    await wait_for(closed)
