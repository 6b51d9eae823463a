"""Node's own `http` on the other end, both directions, and Node as the oracle.

The same routes are served by a nodish server (for Node's client) and by a Node server
(for nodish's client): bodies, chunked both ways, keep-alive reuse, trailers,
100-continue, upgrade, HEAD, 204/304. Event order: one scenario run with Node on both
ends and with nodish on one end must log the same events on that end.
"""

from __future__ import annotations

import asyncio

from tests.helpers import NodeProcess, next_event, wait_for
from tests.integration.http_util import serve, shut

from nodish import http
from nodish.stream import consumers

# ----------------------------------------------------------------------------- routes

NODE_ROUTES = r"""
function route(req, res) {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (req.url === '/hello') { res.writeHead(200, {'Content-Type': 'text/plain'}); res.end('hello'); }
    else if (req.url === '/echo') {
      res.setHeader('X-TE', req.headers['transfer-encoding'] || '-');
      res.setHeader('X-CL', req.headers['content-length'] || '-');
      res.end(body);
    }
    else if (req.url === '/chunked') { res.write('a'); res.write('b'); res.end('c'); }
    else if (req.url === '/trailers') {
      res.writeHead(200, {'Trailer': 'X-Sum'}); res.write('data'); res.addTrailers({'X-Sum': '42'}); res.end();
    }
    else if (req.url === '/204') { res.writeHead(204); res.end(); }
    else if (req.url === '/304') { res.writeHead(304); res.end(); }
    else { res.writeHead(404); res.end('no'); }
  });
}
"""


def py_route(req, res) -> None:
    chunks: list[bytes] = []
    req.on("data", chunks.append)

    def done() -> None:
        body = b"".join(chunks)
        if req.url == "/hello":
            res.write_head(200, {"Content-Type": "text/plain"})
            res.end("hello")
        elif req.url == "/echo":
            res.set_header("X-TE", req.headers.get("transfer-encoding", "-"))
            res.set_header("X-CL", req.headers.get("content-length", "-"))
            res.end(body)
        elif req.url == "/chunked":
            res.write("a")
            res.write("b")
            res.end("c")
        elif req.url == "/trailers":
            res.write_head(200, {"Trailer": "X-Sum"})
            res.write("data")
            res.add_trailers({"X-Sum": "42"})
            res.end()
        elif req.url in ("/204", "/304"):
            res.write_head(int(req.url[1:]))
            res.end()
        else:
            res.write_head(404)
            res.end("no")

    req.on("end", done)


def py_upgrade(req, socket, head) -> None:
    socket.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
    )
    socket.write(b"head:" + head)
    socket.on("data", socket.write)
    socket.on("end", socket.end)


# ----------------------------------------------------------------------------- node client

NODE_CLIENT = r"""
const http = require('http');
const port = Number(process.argv[1]);
const agent = new http.Agent({keepAlive: true});
function call(path, opts = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({port, host: '127.0.0.1', path, agent, ...opts}, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString(), trailers: res.trailers, reused: req.reusedSocket}));
    });
    req.on('error', reject);
    if (body === 'chunked') { req.write('x'.repeat(10)); req.write('y'.repeat(10)); req.end(); }
    else if (body === 'continue') { req.on('continue', () => req.end('after continue')); }
    else req.end(body);
  });
}
function upgrade() {
  return new Promise((resolve, reject) => {
    const req = http.request({port, host: '127.0.0.1', path: '/up',
      headers: {Connection: 'Upgrade', Upgrade: 'echo'}});
    req.on('upgrade', (res, socket, head) => {
      let got = head.toString();
      socket.on('data', (d) => { got += d.toString(); if (got.endsWith('ping')) { socket.end(); resolve({status: res.statusCode, got}); } });
      socket.write('ping');
    });
    req.on('error', reject);
    req.end('early');
  });
}
(async () => {
  const out = {};
  out.hello = await call('/hello');
  out.hello2 = await call('/hello');
  out.echo = await call('/echo', {method: 'POST'}, 'payload');
  out.chunkedUp = await call('/echo', {method: 'POST'}, 'chunked');
  out.chunkedDown = await call('/chunked');
  out.trailers = await call('/trailers');
  out.head = await call('/hello', {method: 'HEAD'});
  out.s204 = await call('/204');
  out.s304 = await call('/304');
  out.cont = await call('/echo', {method: 'POST', headers: {Expect: '100-continue', 'Content-Length': 14}}, 'continue');
  out.upgrade = await upgrade();
  agent.destroy();
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({error: String(e)})); });
"""


async def test_node_client_against_nodish_server() -> None:
    server = await serve(py_route)
    server.on("upgrade", py_upgrade)
    conns: list = []
    server.on("connection", conns.append)
    node = await NodeProcess.start(NODE_CLIENT, str(server.address().port))
    out = await node.message()
    assert await node.finish() == 0
    assert "error" not in out, out
    assert out["hello"]["body"] == "hello" and out["hello"]["reused"] is False
    assert out["hello2"]["reused"] is True
    assert out["echo"]["body"] == "payload" and out["echo"]["headers"]["x-cl"] == "7"
    assert out["chunkedUp"]["body"] == "x" * 10 + "y" * 10
    assert out["chunkedUp"]["headers"]["x-te"] == "chunked"
    assert out["chunkedDown"]["body"] == "abc"
    assert out["chunkedDown"]["headers"]["transfer-encoding"] == "chunked"
    assert out["trailers"]["body"] == "data" and out["trailers"]["trailers"] == {"x-sum": "42"}
    assert out["head"]["body"] == "" and out["head"]["status"] == 200
    assert (out["s204"]["status"], out["s204"]["body"]) == (204, "")
    assert (out["s304"]["status"], out["s304"]["body"]) == (304, "")
    assert out["cont"]["body"] == "after continue"
    assert out["upgrade"] == {"status": 101, "got": "head:earlyping"}
    assert len(conns) <= 3  # keep-alive: one pooled connection (plus the upgrade's)
    await shut(server)


# ----------------------------------------------------------------------------- node server

NODE_SERVER = (
    NODE_ROUTES
    + r"""
const http = require('http');
const server = http.createServer(route);
let conns = 0;
server.on('connection', () => conns++);
server.on('upgrade', (req, socket, head) => {
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  socket.write(Buffer.concat([Buffer.from('head:'), head]));
  socket.on('data', (d) => socket.write(d));
  socket.on('end', () => socket.end());
});
server.on('checkContinue', (req, res) => { res.writeContinue(); route(req, res); });
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: server.address().port})));
process.stdin.on('data', () => { console.log(JSON.stringify({conns})); process.stdin.destroy(); server.close(); server.closeAllConnections(); });
"""
)


async def test_nodish_client_against_node_server() -> None:
    node = await NodeProcess.start(NODE_SERVER)
    port = (await node.message())["port"]
    base = f"http://127.0.0.1:{port}"
    agent = http.Agent()

    async def call(path, *, body=None, chunked=False, **opts):
        req = http.request(base + path, agent=agent, **opts)
        if chunked:
            req.write("x" * 10)
            req.write("y" * 10)
        elif body is not None:
            res = await req.end(body)
            return req, res, await consumers.text(res)
        res = await req
        return req, res, await consumers.text(res)

    req, res, body = await call("/hello")
    assert (res.status_code, body, req.reused_socket) == (200, "hello", False)
    req, res, body = await call("/hello")
    assert req.reused_socket is True
    _, res, body = await call("/echo", method="POST", body=b"payload")
    assert body == "payload" and res.headers["x-cl"] == "7"
    _, res, body = await call("/echo", method="POST", chunked=True)
    assert body == "x" * 10 + "y" * 10 and res.headers["x-te"] == "chunked"
    _, res, body = await call("/chunked")
    assert body == "abc" and res.headers["transfer-encoding"] == "chunked"
    _, res, body = await call("/trailers")
    assert body == "data" and res.trailers == {"x-sum": "42"}
    _, res, body = await call("/hello", method="HEAD")
    assert (res.status_code, body) == (200, "")
    _, res, body = await call("/204")
    assert (res.status_code, body) == (204, "")
    _, res, body = await call("/304")
    assert (res.status_code, body) == (304, "")
    req = http.request(
        base + "/echo",
        agent=agent,
        method="POST",
        headers={"Expect": "100-continue", "Content-Length": 14},
    )
    req.on("continue", lambda: req.end("after continue"))
    (res,) = await wait_for(next_event(req, "response"))
    assert await consumers.text(res) == "after continue"
    req = http.request(base + "/up", headers={"Connection": "Upgrade", "Upgrade": "echo"})
    up = next_event(req, "upgrade")
    req.end()
    res, sock, head = await wait_for(up)
    # one listener for the whole exchange: a listener re-added per chunk would miss a
    # chunk that arrives before the awaiting task runs again
    chunks = [head]
    echoed = asyncio.get_running_loop().create_future()

    def on_data(data: bytes) -> None:
        chunks.append(data)
        if b"".join(chunks).endswith(b"ping") and not echoed.done():
            echoed.set_result(None)

    sock.on("data", on_data)
    sock.write(b"ping")
    await wait_for(echoed)
    assert res.status_code == 101 and b"".join(chunks) == b"head:ping"
    sock.end()
    agent.destroy()
    await node.send({})
    assert (await node.message())["conns"] <= 3
    assert await node.finish() == 0


# ----------------------------------------------------------------------------- oracle

SERVER_EVENTS_JS = r"""
function logServer(server, log) {
  server.on('request', (req, res) => {
    log.push('request ' + req.method + ' ' + req.url);
    req.on('data', (d) => log.push('req data ' + d.length));
    req.on('end', () => { log.push('req end'); res.write('part'); res.end('done'); });
    req.on('close', () => log.push('req close'));
    res.on('finish', () => log.push('res finish'));
    res.on('close', () => log.push('res close'));
  });
}
"""

CLIENT_EVENTS_JS = r"""
function logClient(req, done) {
  const client = [];
  req.on('socket', () => client.push('socket'));
  req.on('finish', () => client.push('finish'));
  req.on('response', (res) => {
    client.push('response ' + res.statusCode);
    res.on('data', (d) => client.push('res data'));
    res.on('end', () => client.push('res end'));
    res.on('close', () => client.push('res close'));
  });
  req.on('close', () => { client.push('close'); done(); });
  return client;
}
"""

NODE_BOTH_ENDS = (
    SERVER_EVENTS_JS
    + CLIENT_EVENTS_JS
    + r"""
const http = require('http');
const log = [];
const server = http.createServer();
logServer(server, log);
server.listen(0, '127.0.0.1', () => {
  const req = http.request({port: server.address().port, host: '127.0.0.1', method: 'POST', path: '/o',
    agent: new http.Agent({keepAlive: false})});
  // print once the client closed and the server saw both 'close' events
  const report = () => {
    if (!(log.includes('res close') && log.includes('req close'))) return setImmediate(report);
    console.log(JSON.stringify({server: log, client})); server.close();
  };
  const client = logClient(req, report);
  req.write('hello');
  req.end();
});
"""
)

NODE_CLIENT_ONLY = (
    CLIENT_EVENTS_JS
    + r"""
const http = require('http');
const req = http.request({port: Number(process.argv[1]), host: '127.0.0.1', method: 'POST', path: '/o',
  agent: new http.Agent({keepAlive: false})});
const client = logClient(req, () => console.log(JSON.stringify({client})));
req.write('hello');
req.end();
"""
)

NODE_SERVER_ONLY = (
    SERVER_EVENTS_JS
    + r"""
const http = require('http');
const log = [];
const server = http.createServer();
logServer(server, log);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: server.address().port})));
process.stdin.on('data', () => { console.log(JSON.stringify({server: log})); process.stdin.destroy(); server.close(); });
"""
)


def dedupe_data(events: list[str]) -> list[str]:
    """Data events may be split differently; keep one per run of them."""
    out: list[str] = []
    for e in events:
        key = (
            e.split(" ")[0] + " " + e.split(" ")[1] if e.startswith(("req data", "res data")) else e
        )
        if e.startswith(("req data", "res data")):
            if out and out[-1] == key:
                continue
            out.append(key)
        else:
            out.append(e)
    return out


async def test_event_order_matches_node() -> None:
    oracle_proc = await NodeProcess.start(NODE_BOTH_ENDS)
    oracle = await oracle_proc.message()
    await oracle_proc.finish()

    # nodish server, Node client: the server's events
    log: list[str] = []
    server = http.create_server()

    def on_request(req, res):
        log.append(f"request {req.method} {req.url}")
        req.on("data", lambda d: log.append(f"req data {len(d)}"))

        def on_end():
            log.append("req end")
            res.write("part")
            res.end("done")

        req.on("end", on_end)
        req.on("close", lambda: log.append("req close"))
        res.on("finish", lambda: log.append("res finish"))
        res.on("close", lambda: log.append("res close"))

    server.on("request", on_request)
    await server.listen(0, "127.0.0.1")
    client_proc = await NodeProcess.start(NODE_CLIENT_ONLY, str(server.address().port))
    node_client = await client_proc.message()
    await client_proc.finish()
    await shut(server)
    assert dedupe_data(log) == dedupe_data(oracle["server"])
    assert dedupe_data(node_client["client"]) == dedupe_data(oracle["client"])

    # nodish client, Node server: the client's events
    server_proc = await NodeProcess.start(NODE_SERVER_ONLY)
    port = (await server_proc.message())["port"]
    client: list[str] = []
    closed = asyncio.get_running_loop().create_future()
    req = http.request(
        f"http://127.0.0.1:{port}/o", method="POST", agent=http.Agent(keep_alive=False)
    )
    req.on("socket", lambda s: client.append("socket"))
    req.on("finish", lambda: client.append("finish"))

    def on_response(res):
        client.append(f"response {res.status_code}")
        res.on("data", lambda d: client.append("res data"))
        res.on("end", lambda: client.append("res end"))
        res.on("close", lambda: client.append("res close"))

    req.on("response", on_response)
    req.on("close", lambda: (client.append("close"), closed.set_result(None)))
    req.write("hello")
    req.end()
    await wait_for(closed)
    await server_proc.send({})
    node_server = await server_proc.message()
    await server_proc.finish()
    assert dedupe_data(client) == dedupe_data(oracle["client"])
    assert dedupe_data(node_server["server"]) == dedupe_data(oracle["server"])


KEEP_ALIVE_SERVER_JS = r"""
function logKeepAlive(server, log) {
  server.on('request', (req, res) => {
    log.push('request ' + req.url);
    req.on('end', () => log.push('req end ' + req.url));
    req.on('close', () => log.push('req close ' + req.url));
    res.on('finish', () => log.push('res finish ' + req.url));
    res.on('close', () => log.push('res close ' + req.url));
    res.end('x');
  });
}
async function twoGets(port) {
  const agent = new http.Agent({keepAlive: true});
  for (const p of ['/a', '/b']) {
    await new Promise((resolve) => http.get({port, host: '127.0.0.1', path: p, agent},
      (res) => { res.resume(); res.on('end', resolve); }));
  }
  agent.destroy();
}
"""

NODE_KEEP_ALIVE_BOTH = (
    r"const http = require('http');"
    + KEEP_ALIVE_SERVER_JS
    + r"""
const log = [];
const server = http.createServer();
logKeepAlive(server, log);
server.listen(0, '127.0.0.1', async () => {
  await twoGets(server.address().port);
  const report = () => {
    if (!log.includes('req close /b')) return setImmediate(report);
    console.log(JSON.stringify(log)); server.close();
  };
  report();
});
"""
)

NODE_KEEP_ALIVE_CLIENT = (
    r"const http = require('http');"
    + KEEP_ALIVE_SERVER_JS
    + r"""
twoGets(Number(process.argv[1])).then(() => console.log(JSON.stringify({done: true})));
"""
)


async def test_keep_alive_server_event_order_matches_node() -> None:
    oracle_proc = await NodeProcess.start(NODE_KEEP_ALIVE_BOTH)
    oracle = await oracle_proc.message()
    await oracle_proc.finish()
    log: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def on_request(req, res):
        u = req.url
        log.append(f"request {u}")
        req.on("end", lambda: log.append(f"req end {u}"))

        def on_close():
            log.append(f"req close {u}")
            if u == "/b":
                done.set_result(None)

        req.on("close", on_close)
        res.on("finish", lambda: log.append(f"res finish {u}"))
        res.on("close", lambda: log.append(f"res close {u}"))
        res.end("x")

    server = http.create_server(on_request)
    await server.listen(0, "127.0.0.1")
    client = await NodeProcess.start(NODE_KEEP_ALIVE_CLIENT, str(server.address().port))
    assert await client.message() == {"done": True}
    await client.finish()
    await wait_for(done)
    await shut(server)
    assert log == oracle
