"""nodish's WebSocket client against Node's ``ws`` server (npm ``ws``).

One echo server per test, with and without permessage-deflate; text and binary from
0 bytes to 16 MiB, fragmented messages from the server, pings, the closing handshake
in both directions and refusals.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import NodeProcess, next_event, wait_event, wait_for

from nodish import certs
from nodish.ws import WebSocket, WebSocketError

pytestmark = pytest.mark.interop

WS = json.dumps(str(Path(__file__).parent / "node_modules" / "ws"))

SERVER = (
    f"const {{ WebSocketServer }} = require({WS});"
    + r"""
const deflate = process.argv[1] === 'deflate';
const server = require('http').createServer();
server.on('upgrade', (req, socket) => {
  if (req.url.startsWith('/redirect')) {
    socket.end('HTTP/1.1 302 Found\r\nLocation: /echo-redirected\r\nContent-Length: 0\r\n\r\n');
  }
});
const wss = new WebSocketServer({ server, perMessageDeflate: deflate,
  maxPayload: 64 * 1024 * 1024,
  shouldHandle: (req) => !req.url.startsWith('/redirect'),
  verifyClient: (info) => !info.req.url.startsWith('/forbidden'),
  handleProtocols: (protocols) => protocols.has('chat') ? 'chat' : false });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
server.listen(0, '127.0.0.1', () => out({ port: server.address().port }));
wss.on('connection', (ws, req) => {
  out({ event: 'connection', url: req.url, protocol: ws.protocol,
        extensions: req.headers['sec-websocket-extensions'] || '' });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === 'fragments') {
      ws.send('frag', { fin: false }); ws.send('ment', { fin: false }); ws.send('ed', { fin: true });
    } else if (text === 'binary fragments') {
      for (const [part, fin] of [['frag', false], ['ment', false], ['ed', true]])
        ws.send(Buffer.from(part), { binary: true, fin });
    } else if (text && text.startsWith('close:')) {
      ws.close(Number(text.slice(6)), 'server says bye');
    } else if (text === 'ping') {
      ws.ping(Buffer.from('from node'));
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
  ws.on('pong', (d) => out({ event: 'pong', data: d.toString() }));
  ws.on('close', (code, reason) => out({ event: 'close', code, reason: reason.toString() }));
});
"""
)


async def start(mode: str = "plain") -> tuple[NodeProcess, int]:
    node = await NodeProcess.start(SERVER, mode)
    port = (await node.message())["port"]
    return node, port


async def stop(node: NodeProcess) -> None:
    node.proc.kill()
    await node.proc.wait()


SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]


@pytest.mark.parametrize("mode", ["plain", "deflate"])
async def test_echo_text_and_binary_all_sizes(mode: str) -> None:
    node, port = await start(mode)
    try:
        ws = await WebSocket(f"ws://127.0.0.1:{port}/echo")
        assert ws.ready_state == WebSocket.OPEN
        hello = await node.message()
        assert hello["url"] == "/echo"
        assert ("permessage-deflate" in ws.extensions) == (mode == "deflate")
        sent: list[Any] = []
        for n in SIZES:
            sent.append(os.urandom(n) if mode == "plain" else bytes(n))
            sent.append(("é" * (n // 2)) if n < (1 << 20) else "x" * n)
        got: list[Any] = []
        done = ws._loop.create_future()

        def on_message(data: Any, is_binary: bool) -> None:
            got.append(data)
            assert is_binary == isinstance(data, bytes)
            if len(got) == len(sent) and not done.done():
                done.set_result(None)

        ws.on("message", on_message)
        for item in sent:
            ws.send(item)
        await wait_for(done, 30)
        assert got == sent
        closed = next_event(ws, "close")
        ws.close(1000, "done")
        assert await wait_for(closed) == (1000, "done")
        assert ws.ready_state == WebSocket.CLOSED
        assert (await node.message()) == {"event": "close", "code": 1000, "reason": "done"}
    finally:
        await stop(node)


async def test_fragmented_message_ping_and_server_close() -> None:
    node, port = await start()
    try:
        ws = await WebSocket(f"ws://127.0.0.1:{port}/", ["chat", "other"])
        assert ws.protocol == "chat"
        ws.send("fragments")
        assert await wait_event(ws, "message") == ("fragmented", False)
        ws.binary_type = "fragments"
        ws.send("binary fragments")
        assert await wait_event(ws, "message") == ([b"frag", b"ment", b"ed"], True)
        ws.send(b"whole")
        assert await wait_event(ws, "message") == ([b"whole"], True)
        ws.binary_type = "nodebuffer"
        pinged = next_event(ws, "ping")
        ws.send("ping")
        assert await wait_for(pinged) == (b"from node",)
        await node.message()  # connection
        assert (await node.message()) == {"event": "pong", "data": "from node"}
        ws.ping(b"hi")
        assert await wait_event(ws, "pong") == (b"hi",)
        closed = next_event(ws, "close")
        ws.send("close:4001")
        assert await wait_for(closed) == (4001, "server says bye")
    finally:
        await stop(node)


async def test_browser_api_handlers() -> None:
    node, port = await start()
    try:
        log: list[Any] = []
        ws = WebSocket(f"ws://127.0.0.1:{port}/")
        assert ws.ready_state == WebSocket.CONNECTING
        ws.onopen = lambda ev: (log.append(("open", ev.type)), ws.send("hi"))
        ws.onmessage = lambda ev: (log.append(("message", ev.data)), ws.close())
        closed = ws._loop.create_future()
        ws.onclose = lambda ev: closed.set_result((ev.code, ev.reason, ev.was_clean))
        assert await wait_for(closed) == (1005, "", True)
        assert log == [("open", "open"), ("message", "hi")]
        assert ws.ready_state == WebSocket.CLOSED
    finally:
        await stop(node)


async def test_refused_handshake_is_an_error_then_close_1006() -> None:
    node, port = await start()
    try:
        ws = WebSocket(f"ws://127.0.0.1:{port}/forbidden")
        err = next_event(ws, "error")
        closed = next_event(ws, "close")
        (e,) = await wait_for(err)
        assert isinstance(e, WebSocketError) and e.code == "WS_ERR_UNEXPECTED_RESPONSE"
        assert e.status_code == 401
        assert await wait_for(closed) == (1006, "")
        ws2 = WebSocket(f"ws://127.0.0.1:{port}/forbidden")
        unexpected = next_event(ws2, "unexpected-response")
        _req, res = await wait_for(unexpected)
        assert res.status_code == 401
        with pytest.raises(WebSocketError):
            await WebSocket(f"ws://127.0.0.1:{port}/", ["nonexistent"])
    finally:
        await stop(node)


async def test_follow_redirects() -> None:
    node, port = await start()
    try:
        with pytest.raises(WebSocketError) as info:
            await WebSocket(f"ws://127.0.0.1:{port}/redirect")
        assert info.value.status_code == 302
        ws = await WebSocket(f"ws://127.0.0.1:{port}/redirect", follow_redirects=True)
        assert (await node.message())["url"] == "/echo-redirected"
        assert ws.url == f"ws://127.0.0.1:{port}/echo-redirected"
        ws.close()
        assert await wait_event(ws, "close") == (1005, "")
    finally:
        await stop(node)


async def test_connection_refused_rejects_await() -> None:
    node, port = await start()
    await stop(node)
    with pytest.raises(ConnectionRefusedError):
        await WebSocket(f"ws://127.0.0.1:{port}/")


async def test_async_iteration_and_await_send() -> None:
    node, port = await start()
    try:
        ws = await WebSocket(f"ws://127.0.0.1:{port}/")
        with pytest.raises(TypeError) as info:
            ws.send(42)  # type: ignore[arg-type]
        assert info.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]
        for bad in (999, 1005, 5000):
            with pytest.raises(WebSocketError):
                ws.close(bad)
        with pytest.raises(WebSocketError):
            ws.close(1000, "x" * 124)
        with pytest.raises(WebSocketError):
            ws.ping(b"x" * 126)
        for i in range(50):
            await ws.send(f"m{i}")
        ws.send("close:1000")
        got = [m async for m in ws]
        assert got == [f"m{i}" for i in range(50)]
        with pytest.raises(WebSocketError):
            await ws.send("after close")
    finally:
        await stop(node)


TLS_SERVER = (
    f"const {{ WebSocketServer }} = require({WS});"
    + r"""
const fs = require('fs');
const https = require('https');
const server = https.createServer({ key: fs.readFileSync(process.argv[1]),
                                    cert: fs.readFileSync(process.argv[2]) });
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
"""
)


async def test_wss_through_nodish_tls(tmp_path: Path) -> None:
    ca = certs.create_ca("ws test CA")
    leaf = ca.issue_server("localhost")
    (tmp_path / "key.pem").write_bytes(leaf.key_pem())
    (tmp_path / "cert.pem").write_bytes(leaf.cert_pem)
    node = await NodeProcess.start(
        TLS_SERVER, str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    )
    try:
        port = (await node.message())["port"]
        ws = await WebSocket(f"wss://localhost:{port}/", ca=ca.cert_pem)
        ws.send("over tls")
        assert await wait_event(ws, "message") == ("over tls", False)
        ws.close()
        assert await wait_event(ws, "close") == (1005, "")
        bad = WebSocket(f"wss://localhost:{port}/")  # no CA: the certificate is refused
        err = next_event(bad, "error")
        closed = next_event(bad, "close")
        (e,) = await wait_for(err)
        assert getattr(e, "code", None) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        assert await wait_for(closed) == (1006, "")
    finally:
        await stop(node)


def test_bad_arguments_raise_at_once() -> None:
    with pytest.raises(ValueError):
        WebSocket("ftp://127.0.0.1/")
    with pytest.raises(ValueError):
        WebSocket("ws://127.0.0.1/#frag")
    with pytest.raises(WebSocketError):
        WebSocket("ws://127.0.0.1:1/", ["a", "a"])
