"""Node's own `net` module on the other end, both directions.

The same scenario runs against Node in both roles; the bytes and the event order seen
on each side are compared with what Node itself reports.
"""

from __future__ import annotations

import asyncio

from tests.helpers import NodeProcess, wait_event, wait_for

from nodish import net

NODE_CLIENT = r"""
const net = require('net');
const [port, mode] = [Number(process.argv[1]), process.argv[2]];
const events = [];
const chunks = [];
const sock = net.connect(port, '127.0.0.1');
for (const name of ['connect', 'ready', 'end', 'finish', 'drain', 'timeout'])
  sock.on(name, () => events.push(name));
sock.on('data', (d) => { events.push('data'); chunks.push(d); });
sock.on('close', (hadError) => {
  events.push('close:' + hadError);
  console.log(JSON.stringify({events, data: Buffer.concat(chunks).toString('utf8')}));
});
sock.on('connect', () => {
  if (mode === 'timeout') { sock.setTimeout(50, () => sock.end('after timeout')); return; }
  sock.write('hello ');
  sock.end('深入浅出Nodejs');
});
"""

NODE_SERVER = r"""
const net = require('net');
const mode = process.argv[1];
const events = [];
const server = net.createServer((sock) => {
  const chunks = [];
  for (const name of ['end', 'finish', 'drain'])
    sock.on(name, () => events.push(name));
  sock.on('data', (d) => { events.push('data'); chunks.push(d); });
  sock.on('close', (hadError) => {
    events.push('close:' + hadError);
    console.log(JSON.stringify({events, data: Buffer.concat(chunks).toString('utf8')}));
    server.close();
  });
  if (mode === 'big') {
    // write far past the high-water mark, honouring backpressure, 256 chunks in all
    const chunk = Buffer.alloc(64 * 1024, 120);
    let writes = 0, blocked = false;
    const pump = () => {
      while (writes < 256) {
        writes++;
        if (!sock.write(chunk)) {
          if (!blocked) { blocked = true; console.log(JSON.stringify({blocked})); }
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    pump();
    return;
  }
  sock.write('welcome\n');
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: server.address().port})));
"""


async def test_node_client_against_nodish_server_same_bytes_and_event_order() -> None:
    server_events: list[str] = []
    received: list[bytes] = []
    done = asyncio.get_running_loop().create_future()

    def on_conn(sock):
        sock.on("data", lambda d: (server_events.append("data"), received.append(d)))
        sock.on("end", lambda: server_events.append("end"))
        sock.on("finish", lambda: server_events.append("finish"))
        sock.on(
            "close", lambda h: (server_events.append(f"close:{str(h).lower()}"), done.set_result(1))
        )
        sock.write("welcome\n")

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    node = await NodeProcess.start(NODE_CLIENT, str(server.address().port), "plain")
    report = await node.message()
    await wait_for(done)
    assert await node.finish() == 0
    # Node's client saw Node's order, and our bytes
    node_events = report["events"]
    assert node_events[:2] == ["connect", "ready"]
    assert node_events[-1] == "close:false"
    assert node_events.index("end") > node_events.index("data")
    assert report["data"] == "welcome\n"
    # we saw Node's bytes and Node's server-side order
    assert b"".join(received).decode() == "hello 深入浅出Nodejs"
    assert server_events[0] == "data"
    assert server_events.index("end") > max(i for i, e in enumerate(server_events) if e == "data")
    assert server_events.index("finish") > server_events.index("end")
    assert server_events[-1] == "close:false"
    server.close()
    await wait_event(server, "close")


async def test_nodish_client_against_node_server_same_order_as_node_client() -> None:
    node = await NodeProcess.start(NODE_SERVER, "plain")
    port = (await node.message())["port"]
    events: list[str] = []
    chunks: list[bytes] = []
    sock = net.connect(port, "127.0.0.1")
    for name in ("connect", "ready", "end", "finish"):
        sock.on(name, lambda *a, n=name: events.append(n))
    sock.on("data", lambda d: (events.append("data"), chunks.append(d)))
    sock.on("connect", lambda: (sock.write("hello "), sock.end("深入浅出Nodejs")))
    (had_error,) = await wait_event(sock, "close")
    events.append(f"close:{str(had_error).lower()}")
    report = await node.message()
    assert await node.finish() == 0
    # the order a Node client sees in this scenario (see the test above): 'connect',
    # 'ready', then 'finish' and 'data' in either order, 'end' after 'data', 'close' last
    assert events[:2] == ["connect", "ready"]
    assert sorted(events[2:4]) == ["data", "finish"]
    assert events[4:] == ["end", "close:false"]
    assert b"".join(chunks) == b"welcome\n"
    # Node's server saw our bytes, then end, then its own finish and close
    assert report["data"] == "hello 深入浅出Nodejs"
    assert report["events"][-1] == "close:false"
    assert report["events"].index("end") > report["events"].index("data")


async def test_timeout_event_against_node_server() -> None:
    node = await NodeProcess.start(NODE_SERVER, "plain")
    port = (await node.message())["port"]
    sock = await net.connect(port, "127.0.0.1")
    events: list[str] = []
    sock.on("data", lambda d: events.append("data"))
    sock.set_timeout(0.05, callback=lambda: (events.append("timeout"), sock.end("after timeout")))
    await wait_event(sock, "close")
    report = await node.message()
    assert await node.finish() == 0
    assert events == ["data", "timeout"]
    assert report["data"] == "after timeout"


async def test_node_client_timeout_against_nodish_server() -> None:
    got: list[bytes] = []
    server = net.create_server(lambda s: s.on("data", got.append))
    await server.listen(0, "127.0.0.1")
    node = await NodeProcess.start(NODE_CLIENT, str(server.address().port), "timeout")
    report = await node.message()
    assert await node.finish() == 0
    assert "timeout" in report["events"]
    assert b"".join(got) == b"after timeout"
    server.close()
    await wait_event(server, "close")


async def test_backpressure_against_node_server_writing_past_the_mark() -> None:
    node = await NodeProcess.start(NODE_SERVER, "big")
    port = (await node.message())["port"]
    sock = net.connect(port, "127.0.0.1")
    sock.pause()  # read nothing until Node's write() has returned false
    assert await node.message() == {"blocked": True}
    total = 0
    async for chunk in sock:
        total += len(chunk)
    report = await node.message()
    assert await node.finish() == 0
    # Node's write() returned false at the mark and 'drain' followed while we read
    assert "drain" in report["events"]
    assert total == 256 * 64 * 1024


async def test_nodish_write_returns_false_and_drains_to_a_slow_node_reader() -> None:
    script = r"""
    const net = require('net');
    const server = net.createServer((sock) => {
      sock.pause();
      let n = 0;
      process.stdin.once('data', () => { sock.on('data', (d) => { n += d.length; }); sock.resume(); });
      sock.on('end', () => { console.log(JSON.stringify({n})); server.close(); process.stdin.destroy(); });
    });
    server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: server.address().port})));
    """
    node = await NodeProcess.start(script)
    port = (await node.message())["port"]
    sock = await net.connect(port, "127.0.0.1")
    chunk = b"y" * 65536
    writes = 0
    while sock.write(chunk):
        writes += 1
        assert writes < 10_000, "write() never returned False"
    assert sock.writable_length >= sock.writable_high_water_mark
    drained = asyncio.ensure_future(wait_event(sock, "drain"))
    await node.send("go")
    await drained
    sock.end()
    report = await node.message()
    assert report["n"] == (writes + 1) * len(chunk)
    assert await node.finish() == 0
