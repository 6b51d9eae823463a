"""The client bundle served by default at ``/socket.io/socket.io.js``, compared with Node.

Node's socket.io (``serveClient: true``, its default) answers the same URLs in the same
test: status, ``Content-Type``, ``Cache-Control``, ``ETag``, body, 304s, and what a
server that does not serve the client answers. The shipped files must be the pinned
socket.io-client's own, byte for byte, so that a version bump cannot drift.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.helpers import wait_event
from tests.interop.socketio_peers import NodeSio

from nodish import http, socketio
from nodish.socketio.client_bundle import CLIENT_DIR, CLIENT_VERSION

pytestmark = pytest.mark.interop

INTEROP = Path(__file__).parent
CLIENT_PKG = INTEROP / "node_modules" / "socket.io-client"
SHIPPED = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
]

NODE_SERVER = """
const { Server } = require('socket.io');
const srv = require('http').createServer((req, res) => { res.writeHead(404); res.end(); });
new Server(srv, { serveClient: process.argv[1] === 'on' });
srv.listen(0, '127.0.0.1', () => out({ port: srv.address().port }));
commands(() => {});
"""


def test_shipped_files_are_the_pinned_client_byte_for_byte() -> None:
    pinned = json.loads((INTEROP / "package.json").read_text())["dependencies"]
    installed = json.loads((CLIENT_PKG / "package.json").read_text())["version"]
    assert CLIENT_VERSION == pinned["socket.io-client"] == installed
    assert sorted(p.name for p in CLIENT_DIR.iterdir()) == sorted([*SHIPPED, "LICENSE"])
    for name in SHIPPED:
        assert (CLIENT_DIR / name).read_bytes() == (CLIENT_PKG / "dist" / name).read_bytes()
    assert (CLIENT_DIR / "LICENSE").read_bytes() == (CLIENT_PKG / "LICENSE").read_bytes()


@asynccontextmanager
async def nodish_server(**options: Any) -> AsyncIterator[int]:
    io = socketio.Server(**options)
    await io.listen(0, "127.0.0.1")
    try:
        yield io.address().port
    finally:
        io.close()
        await wait_event(io.http_server, "close")


@asynccontextmanager
async def node_server(serve: bool) -> AsyncIterator[int]:
    node = await NodeSio.start(NODE_SERVER, "on" if serve else "off")
    try:
        yield (await node.wait_for(lambda m: "port" in m))["port"]
    finally:
        await node.close()


async def fetch(port: int, url: str, method: str = "GET", **headers: str) -> Any:
    """(status, headers, raw body): no decompression, so codings can be compared."""
    async with (
        aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=["Accept-Encoding"]) as s,
        s.request(method, f"http://127.0.0.1:{port}{url}", headers=headers) as r,
    ):
        return r.status, r.headers, await r.read()


def _same(a: Any, b: Any) -> None:
    status, headers, body = a
    assert (status, body) == (b[0], b[2])
    for name in ("Content-Type", "Cache-Control", "ETag", "Content-Encoding"):
        assert headers.get(name) == b[1].get(name), name


async def test_the_client_is_served_by_default_as_node_serves_it() -> None:
    async with nodish_server() as ours, node_server(True) as node:
        for url in [
            "/socket.io/socket.io.js",
            "/socket.io/socket.io.min.js",
            "/socket.io/socket.io.esm.min.js",
            "/socket.io/socket.io.js.map",
            "/socket.io/socket.io.min.js.map",
            "/socket.io/socket.io.esm.min.js.map",
            "/socket.io/socket.io.min.js?v=2",
        ]:
            mine = await fetch(ours, url)
            _same(mine, await fetch(node, url))
            assert mine[0] == 200
            assert mine[1]["ETag"] == '"4.8.1"'
            name = url.rsplit("/", 1)[1].partition("?")[0]
            assert mine[2] == (CLIENT_DIR / name).read_bytes()
        # conditional requests: the version's tag, strong or weak, gets a bare 304
        for tag, status in [('"4.8.1"', 304), ('W/"4.8.1"', 304), ('"4.8.0"', 200)]:
            mine = await fetch(ours, "/socket.io/socket.io.js", **{"If-None-Match": tag})
            _same(mine, await fetch(node, "/socket.io/socket.io.js", **{"If-None-Match": tag}))
            assert mine[0] == status
        # a stray URL under the path is Engine.IO's, on both
        for url in ["/socket.io/foo.js", "/socket.io/socket.io.jsx"]:
            mine = await fetch(ours, url)
            _same(mine, await fetch(node, url))
            assert mine[0] == 400 and json.loads(mine[2]) == {
                "code": 0,
                "message": "Transport unknown",
            }


async def test_compression_head_and_missing_names() -> None:
    js = (CLIENT_DIR / "socket.io.min.js").read_bytes()
    async with nodish_server() as ours, node_server(True) as node:
        status, headers, body = await fetch(
            ours, "/socket.io/socket.io.min.js", **{"Accept-Encoding": "gzip, deflate"}
        )
        assert (status, headers["Content-Encoding"]) == (200, "gzip")
        assert gzip.decompress(body) == js
        theirs = await fetch(node, "/socket.io/socket.io.min.js", **{"Accept-Encoding": "gzip"})
        assert theirs[1]["Content-Encoding"] == "gzip" and gzip.decompress(theirs[2]) == js
        status, headers, body = await fetch(
            ours, "/socket.io/socket.io.min.js", **{"Accept-Encoding": "gzip;q=0, deflate"}
        )
        assert headers["Content-Encoding"] == "deflate" and zlib.decompress(body) == js
        status, headers, body = await fetch(ours, "/socket.io/socket.io.min.js", method="HEAD")
        assert (status, body, headers["ETag"]) == (200, b"", '"4.8.1"')
        # names the client regex takes that are not shipped (Node serves the msgpack
        # build, whose parser this server does not speak, and breaks on the others)
        for url in ["/socket.io/socket.io.msgpack.min.js", "/socket.io/socket.io.esm.js"]:
            assert (await fetch(ours, url))[0] == 404
        # the server goes on serving
        assert (await fetch(ours, "/socket.io/socket.io.js"))[0] == 200


async def test_serve_client_false_answers_as_node_does() -> None:
    async with nodish_server(serve_client=False) as ours, node_server(False) as node:
        for url in ["/socket.io/socket.io.js", "/socket.io/socket.io.min.js.map"]:
            mine = await fetch(ours, url)
            _same(mine, await fetch(node, url))
            assert mine[0] == 400


async def test_a_bundle_or_a_directory_of_ones_own(tmp_path: Path) -> None:
    bundle = tmp_path / "custom.js"
    bundle.write_bytes(b"window.io = 'custom';\n")
    async with nodish_server(serve_client=bundle) as port:
        for url in ["/socket.io/socket.io.js", "/socket.io/socket.io.min.js"]:
            status, headers, body = await fetch(port, url)
            assert (status, body) == (200, b"window.io = 'custom';\n")
            assert headers["ETag"] not in ('"4.8.1"', None)
        tag = headers["ETag"]
        assert (await fetch(port, url, **{"If-None-Match": tag}))[0] == 304
        assert (await fetch(port, "/socket.io/socket.io.esm.min.js"))[0] == 404
    (tmp_path / "socket.io.esm.min.js").write_bytes(b"export {};\n")
    async with nodish_server(serve_client=str(tmp_path), path="/rt") as port:
        assert (await fetch(port, "/rt/socket.io.esm.min.js"))[2] == b"export {};\n"
        assert (await fetch(port, "/rt/socket.io.js"))[0] == 404


async def test_cors_headers_and_other_listeners() -> None:
    server = http.create_server(lambda req, res: res.end(b"app"))
    io = socketio.Server(server, cors={"origin": "*"})
    await server.listen(0, "127.0.0.1")
    port = io.address().port
    try:
        status, headers, _ = await fetch(port, "/socket.io/socket.io.js", Origin="http://a.test")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
        assert (await fetch(port, "/index.html"))[2] == b"app"
    finally:
        io.close()
        await wait_event(server, "close")


def test_a_wrong_serve_client_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        socketio.Server(serve_client=tmp_path / "missing.js")
    with pytest.raises(TypeError) as err:
        socketio.Server(serve_client=42)  # type: ignore[arg-type]
    assert err.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]
