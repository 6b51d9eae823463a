"""Other people's clients against nodish's WebSocketServer: Node's ``ws`` and ``websockets``.

Node's ``ws`` sends text and binary from 0 bytes to 16 MiB (fragmented too), with and
without permessage-deflate, and checks every echo byte for byte; then the closing
handshake in both directions. The ``websockets`` client does the same from Python.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import NodeProcess, next_event, wait_for
from tests.integration.test_ws_server import close_server, echo, serve
from websockets.asyncio.client import connect

from nodish.ws import WebSocket

pytestmark = pytest.mark.interop

WS = json.dumps(str(Path(__file__).parent / "node_modules" / "ws"))

CLIENT = (
    f"const WebSocket = require({WS});"
    + r"""
const [url, mode] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const ws = new WebSocket(url, ['chat'], { perMessageDeflate: mode !== 'plain',
                                          maxPayload: 64 * 1024 * 1024 });
const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
const expected = [];
ws.on('open', () => {
  out({ event: 'open', protocol: ws.protocol, extensions: ws.extensions });
  for (const n of sizes) {
    const bin = Buffer.alloc(n); for (let i = 0; i < n; i++) bin[i] = (i * 7) & 255;
    ws.send(bin); expected.push([bin, true]);
    const text = 'é'.repeat(Math.floor(n / 2));
    ws.send(text); expected.push([Buffer.from(text), false]);
  }
  ws.send('frag', { fin: false }); ws.send('ment', { fin: false }); ws.send('ed', { fin: true });
  expected.push([Buffer.from('fragmented'), false]);
});
let ok = 0;
ws.on('message', (data, isBinary) => {
  const [want, wantBinary] = expected.shift();
  if (isBinary === wantBinary && Buffer.compare(data, want) === 0) ok++;
  else out({ event: 'mismatch', got: data.length, want: want.length });
  if (expected.length === 0) { out({ event: 'echoed', ok }); ws.close(4000, 'node done'); }
});
ws.on('close', (code, reason) => { out({ event: 'close', code, reason: reason.toString() }); });
ws.on('error', (err) => out({ event: 'error', message: err.message }));
"""
)


TUNED = {
    "server_no_context_takeover": True,
    "client_no_context_takeover": True,
    "server_max_window_bits": 10,
    "client_max_window_bits": 11,
    "threshold": 0,
}


@pytest.mark.parametrize("mode", ["plain", "deflate", "deflate-tuned"])
async def test_node_ws_client(mode: str) -> None:
    deflate: Any = {"plain": False, "deflate": True, "deflate-tuned": TUNED}[mode]
    wss, port = await serve(
        per_message_deflate=deflate,
        handle_protocols=lambda protocols, req: "chat",
    )
    wss.on("connection", echo)
    answered: list[list[str]] = []
    wss.on("headers", lambda lines, req: answered.append(lines))
    closes: list[Any] = []
    wss.on("connection", lambda ws, req: ws.on("close", lambda *a: closes.append(a)))
    try:
        node = await NodeProcess.start(CLIENT, f"ws://127.0.0.1:{port}/", mode)
        opened = await node.message()
        assert opened["protocol"] == "chat"
        assert ("permessage-deflate" in opened["extensions"]) == (mode != "plain")
        if mode == "deflate-tuned":
            (ext,) = [line for line in answered[0] if line.startswith("Sec-WebSocket-Ext")]
            assert ext.endswith(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                "server_max_window_bits=10; client_max_window_bits=11"
            )
        assert await node.message(timeout=60) == {"event": "echoed", "ok": 17}
        assert await node.message() == {"event": "close", "code": 4000, "reason": "node done"}
        assert await node.finish() == 0
        assert closes == [(4000, "node done")]
    finally:
        await close_server(wss)


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_websockets_client(compression: str | None) -> None:
    wss, port = await serve(per_message_deflate=compression is not None)
    wss.on("connection", echo)
    try:
        async with connect(
            f"ws://127.0.0.1:{port}/", compression=compression, max_size=None
        ) as client:
            items: list[Any] = ["", "héllo", b"", os.urandom(70000), "z" * (1 << 20)]
            for item in items:
                await client.send(item)
                assert await client.recv() == item
            await client.send(["frag", "ment", "ed"])  # one fragmented message
            assert await client.recv() == "fragmented"
            (server_ws,) = wss.clients or ()
            closed = next_event(server_ws, "close")
        assert await wait_for(closed) == (1000, "")
    finally:
        await close_server(wss)


async def test_server_initiated_close_seen_by_websockets() -> None:
    wss, port = await serve()
    wss.on("connection", lambda ws, req: ws.on("message", lambda *_: ws.close(4005, "enough")))
    try:
        async with connect(f"ws://127.0.0.1:{port}/") as client:
            await client.send("bye?")
            await client.wait_closed()
            assert client.close_code == 4005 and client.close_reason == "enough"
    finally:
        await close_server(wss)


async def test_nodish_client_and_server_together() -> None:
    wss, port = await serve(per_message_deflate=True)
    wss.on("connection", echo)
    try:
        ws = await WebSocket(f"ws://127.0.0.1:{port}/")
        payloads: list[Any] = [os.urandom(n) for n in (0, 10, 70000, 1 << 20)] + ["x" * 5000]
        for p in payloads:
            await ws.send(p)
        got = []
        async for message in ws:
            got.append(message)
            if len(got) == len(payloads):
                ws.close()
        assert got == payloads
    finally:
        await close_server(wss)
