"""``socket.handshake`` as Node's socket.io fills it, for the official client.

One Node process runs a socket.io server and the official ``socket.io-client``; the
client connects with the same options to Node's server and to nodish's, and both
servers' handshakes are compared field by field (``headers``, ``time``, ``address``,
``xdomain``, ``secure``, ``issued``, ``url``, ``query``, ``auth``). Over TLS, on a nodish
``https`` server given to ``attach()`` under a ``path`` of its own, the handshake is
``secure``, the server's own ``'request'`` listener still serves the other URLs, and
``io.close()`` closes the server.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from tests.helpers import next_event, wait_for
from tests.interop.socketio_peers import NodeSio
from tests.tls_fixtures import pki

from nodish import http, https, socketio
from nodish.stream import consumers

pytestmark = pytest.mark.interop

# Node's socket.io server printing each handshake, and the official client driven by
# {cmd:'connect', url, opts}: it reports 'connect' and leaves at once.
NODE_HANDSHAKES = r"""
const { createServer } = require('http');
const { Server } = require('socket.io');
const ioc = require('socket.io-client');
const http = createServer();
const io = new Server(http);
io.on('connection', (s) => out({ kind: 'handshake', handshake: s.handshake }));
http.listen(0, '127.0.0.1', () => out({ kind: 'ready', port: http.address().port }));
commands((cmd) => {
  const c = ioc(cmd.url, Object.assign({ forceNew: true, reconnection: false }, cmd.opts));
  c.on('connect', () => { out({ kind: 'connect', url: cmd.url, id: c.id }); c.disconnect(); });
  c.on('connect_error', (e) => out({ error: 'connect_error ' + e.message }));
});
"""

JS_DATE = re.compile(r"^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4} \(.+\)$")
# values that differ between any two connections
PER_CONNECTION_HEADERS = {"host", "sec-websocket-key"}


def comparable(handshake: dict[str, Any]) -> dict[str, Any]:
    """The handshake without what differs by nature (port, key, clock, cache buster)."""
    query = {k: v for k, v in handshake["query"].items() if k != "t"}
    url = re.sub(r"&t=[^&]*", "", handshake["url"])
    headers = {k: v for k, v in handshake["headers"].items() if k not in PER_CONNECTION_HEADERS}
    rest = {k: v for k, v in handshake.items() if k not in ("time", "issued")}
    return {**rest, "headers": headers, "query": query, "url": url}


def check_clock_fields(handshake: dict[str, Any], before: float) -> None:
    assert JS_DATE.match(handshake["time"]), handshake["time"]
    assert isinstance(handshake["issued"], int)
    assert before * 1000 - 1 <= handshake["issued"] <= time.time() * 1000 + 1


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_handshake_fields_match_nodes(transport: str) -> None:
    plain = http.create_server()
    io = socketio.Server(plain)  # attached at construction
    ours: asyncio.Future[socketio.Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", lambda s: ours.done() or ours.set_result(s))
    await plain.listen(0, "127.0.0.1")
    node = await NodeSio.start(NODE_HANDSHAKES)
    try:
        node_port = (await node.wait_kind("ready"))["port"]
        opts = {
            "transports": [transport],
            "auth": {"token": "abc", "n": [1, None]},
            "extraHeaders": {"origin": "http://app.test", "x-custom": "yes"},
        }
        before = time.time()
        await node.send(cmd="connect", url=f"http://127.0.0.1:{node_port}/?room=r1", opts=opts)
        theirs = (await node.wait_kind("handshake"))["handshake"]
        await node.send(
            cmd="connect", url=f"http://127.0.0.1:{plain.address().port}/?room=r1", opts=opts
        )
        mine = (await wait_for(ours)).handshake
        await node.wait_kind("connect", url=f"http://127.0.0.1:{plain.address().port}/?room=r1")
    finally:
        await node.close()
    fields = ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"]
    assert sorted(mine) == sorted(theirs) == sorted(fields)
    assert comparable(mine) == comparable(theirs)
    # what the comparison leaves out, checked on its own
    check_clock_fields(mine, before)
    check_clock_fields(theirs, before)
    assert mine["headers"]["host"] == f"127.0.0.1:{plain.address().port}"
    assert mine["query"]["EIO"] == "4" and mine["query"]["transport"] == transport
    # and the values themselves, so that a change on both sides is noticed
    assert mine["xdomain"] is True and mine["secure"] is False
    assert mine["address"] == "127.0.0.1"
    assert mine["auth"] == {"token": "abc", "n": [1, None]}
    assert mine["query"]["room"] == "r1"
    assert mine["headers"]["x-custom"] == "yes"
    io.close()
    await wait_for(next_event(plain, "close"))


async def test_over_https_the_handshake_is_secure_and_the_servers_own_listener_serves() -> None:
    server = https.create_server(
        lambda req, res: res.end(f"app {req.url}"), **pki().server_options()
    )
    io = socketio.Server(transports=["websocket"], path="/rt")
    assert io.attach(server) is io
    ours: asyncio.Future[socketio.Socket] = asyncio.get_running_loop().create_future()
    io.on("connection", lambda s: ours.done() or ours.set_result(s))
    await server.listen(0, "127.0.0.1")
    url = f"https://127.0.0.1:{server.address().port}"
    node = await NodeSio.start(NODE_HANDSHAKES)
    try:
        await node.wait_kind("ready")
        await node.send(
            cmd="connect",
            url=url,
            opts={"transports": ["websocket"], "path": "/rt", "ca": pki().ca.cert_pem.decode()},
        )
        socket = await wait_for(ours)
        await node.wait_kind("connect", url=url)
    finally:
        await node.close()
    assert socket.handshake["secure"] is True
    assert socket.handshake["xdomain"] is False
    assert socket.handshake["url"] == "/rt/?EIO=4&transport=websocket"
    # requests outside the Engine.IO path (the default one included) still reach the
    # server's own listener
    for page in ("/page?x=1", "/socket.io/?EIO=4&transport=polling"):
        res = await https.get(f"{url}{page}", agent=False, ca=pki().ca.cert_pem)
        assert (res.status_code, await consumers.text(res)) == (200, f"app {page}")
    # closing socket.io closes the server it was attached to, as Node's does
    closed = next_event(server, "close")
    io.close()
    await wait_for(closed)
    assert not server.listening
