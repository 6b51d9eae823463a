"""Inbound backpressure: a request body bigger than the high-water mark, read slowly.

Node's http (and https) client uploads 4 MiB bodies one after another on one keep-alive socket,
writing 64 KiB at a time and waiting for ``'drain'``, into handlers that read with
``async for``, ``'data'`` + ``pause()``/``resume()``, ``pipe()`` into a slow Writable,
and ``consumers.buffer``. The socket must pause while the request's buffer is over the
mark, resume as it is read, and read on after the body ends (the next request on the
connection), as Node's ``parserOnMessageComplete`` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import NodeProcess
from tests.integration.http_util import serve, shut
from tests.tls_fixtures import pki

from nodish import https
from nodish.stream import Writable, consumers

SIZE = 4 * 1024 * 1024

NODE_UPLOADER = r"""
const [proto, port, size, ...paths] = process.argv.slice(1);
const http = require(proto);
const agent = new http.Agent({keepAlive: true, maxSockets: 1});  // one socket for all
function upload(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({port: Number(port), host: '127.0.0.1', path, method: 'POST',
      agent, rejectUnauthorized: false, headers: {'Content-Length': size}}, (res) => {
      let body = '';
      res.on('data', (d) => body += d);
      res.on('end', () => resolve({path, body, port: req.socket.localPort, drains}));
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(65536, 'u');
    let sent = 0, drains = 0;
    (function pump() {
      while (sent < Number(size)) {
        sent += chunk.length;
        // the last chunk goes with end(), not after a last 'drain'
        if (sent >= Number(size)) { req.end(chunk); return; }
        if (!req.write(chunk)) { req.once('drain', () => { drains++; pump(); }); return; }
      }
      req.end();
    })();
  });
}
(async () => {
  const out = [];
  for (const p of paths) out.push(await upload(p));
  agent.destroy();
  console.log(JSON.stringify(out));
})().catch((e) => console.log(JSON.stringify({error: String(e)})));
"""


@pytest.mark.parametrize("proto", ["http", "https"])
async def test_slow_readers_of_big_bodies_on_one_keep_alive_socket(proto: str) -> None:
    loop = asyncio.get_running_loop()
    # bytes read off the socket minus bytes the handler consumed, per request: how far
    # it rises above where it started is what the server buffered for a slow reader
    ahead: dict[str, list[int]] = {}

    def note(req: Any, consumed: int) -> None:
        ahead.setdefault(req.url, []).append(req.socket.bytes_read - consumed)

    async def handler(req: Any, res: Any) -> None:
        if req.url.startswith("/async"):
            n = 0
            note(req, 0)
            async for chunk in req:
                n += len(chunk)
                note(req, n)
                await asyncio.sleep(0)
            res.end(str(n))
        elif req.url == "/pause":
            count = [0]
            note(req, 0)

            def on_data(chunk: bytes) -> None:
                count[0] += len(chunk)
                note(req, count[0])
                req.pause()
                loop.call_soon(req.resume)

            req.on("data", on_data)
            req.on("end", lambda: res.end(str(count[0])))
        elif req.url == "/pipe":
            count = [0]
            note(req, 0)

            def write(_stream: Any, chunk: bytes, _enc: str, callback: Any) -> None:
                count[0] += len(chunk)
                note(req, count[0])
                loop.call_later(0.001, callback)

            sink = Writable(write=write)
            sink.on("finish", lambda: res.end(str(count[0])))
            req.pipe(sink)
        else:
            res.end(str(len(await consumers.buffer(req))))

    if proto == "https":
        server = https.create_server(handler, **pki().server_options())
        await server.listen(0, "127.0.0.1")
    else:
        server = await serve(handler)
    connections: list[Any] = []
    server.on("connection", connections.append)
    paths = ["/async", "/pause", "/pipe", "/consumer", "/async?again"]
    node = await NodeProcess.start(
        NODE_UPLOADER, proto, str(server.address().port), str(SIZE), *paths
    )
    out = await node.message(timeout=60)
    assert await node.finish() == 0
    await shut(server)
    assert isinstance(out, list), out  # before the fix: the second upload hung up
    peak = {url: max(seen) - min(seen) for url, seen in ahead.items()}
    assert [(r["path"], r["body"]) for r in out] == [(p, str(SIZE)) for p in paths]
    # one connection throughout: each body's end let the socket read the next request.
    # Counted here and by the client's port, not by Node's req.reusedSocket: when the
    # response's end is read before the upload's last write completes (both ready in one
    # poll: libuv reads first), the next request queues in the Agent and gets the same
    # socket from its 'free' handler, which leaves reusedSocket false
    assert len(connections) == 1
    assert len({r["port"] for r in out}) == 1, out
    # the uploads waited for 'drain' (the server stopped reading), and the slow readers'
    # buffers stayed near the mark instead of taking in the whole body
    assert all(r["drains"] > 0 for r in out)
    assert len(peak) == 4 and max(peak.values()) < SIZE // 4, peak
