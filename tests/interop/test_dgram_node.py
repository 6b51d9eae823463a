"""Node's own ``dgram`` on the other end, both directions, and Node as the oracle.

* A Node client against a nodish echo server, and a nodish client against a Node
  echo server, over udp4 and udp6 loopback: bytes, sizes and senders as each side sees
  them.
* The same error scenarios run in Node and in nodish, and the event sequences must be
  equal (which of callback and ``'error'`` reports a failure, ``'listening'`` before a
  queued send, ``'close'`` after ``close()``, the codes).
* The seed chapter's Node client talks to nodish's port of the chapter's server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import NodeProcess, wait_for

from nodish import dgram

pytestmark = pytest.mark.interop

COUNT = 200
WINDOW = 16

NODE_CLIENT = r"""
const dgram = require('dgram');
const [type, host, port, count, window] =
  [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4]),
   Number(process.argv[5])];
const sock = dgram.createSocket(type);
const seen = [];
const senders = new Set();
let next = 0;
function sendNext() {
  const msg = Buffer.alloc(4 + (next % 50));
  msg.writeUInt32BE(next, 0);
  msg.fill('深', 4);
  sock.send(msg, port, host);
  next++;
}
sock.on('message', (msg, rinfo) => {
  const seq = msg.readUInt32BE(0);
  if (rinfo.size !== msg.length || msg.length !== 4 + (seq % 50)) throw new Error('bad size');
  seen.push(seq);
  senders.add(`${rinfo.address}|${rinfo.family}|${rinfo.port}`);
  if (next < count) sendNext();
  else if (seen.length === count) {
    console.log(JSON.stringify({seen, senders: [...senders], local: sock.address()}));
    sock.close();
  }
});
sock.bind(0, () => { for (let i = 0; i < window; i++) sendNext(); });
"""

NODE_ECHO = r"""
const dgram = require('dgram');
const [type, host] = [process.argv[1], process.argv[2]];
const server = dgram.createSocket(type);
const senders = new Set();
let count = 0;
server.on('message', (msg, rinfo) => {
  count++;
  senders.add(`${rinfo.address}|${rinfo.family}|${rinfo.port}|${rinfo.size}`);
  if (msg.toString() === 'bye') {
    console.log(JSON.stringify({count, senders: [...senders]}));
    server.close();
    return;
  }
  server.send(msg, rinfo.port, rinfo.address);
});
server.bind(0, host, () => console.log(JSON.stringify(server.address())));
"""


async def echo_server(type_: str, host: str) -> dgram.Socket:
    server = dgram.create_socket(type_)
    server.on("message", lambda msg, rinfo: server.send(msg, rinfo.port, rinfo.address))
    await server.bind(0, host)
    return server


@pytest.mark.parametrize(("type_", "host"), [("udp4", "127.0.0.1"), ("udp6", "::1")])
async def test_node_client_gets_every_datagram_back_from_a_nodish_echo_server(
    type_: str, host: str
) -> None:
    server = await echo_server(type_, host)
    node = await NodeProcess.start(
        NODE_CLIENT, type_, host, str(server.address().port), str(COUNT), str(WINDOW)
    )
    report = await node.message()
    assert await node.finish() == 0
    assert sorted(report["seen"]) == list(range(COUNT))
    family = "IPv6" if type_ == "udp6" else "IPv4"
    assert report["senders"] == [f"{host}|{family}|{server.address().port}"]
    await server.close()


@pytest.mark.parametrize(("type_", "host"), [("udp4", "127.0.0.1"), ("udp6", "::1")])
async def test_nodish_client_gets_every_datagram_back_from_a_node_echo_server(
    type_: str, host: str
) -> None:
    node = await NodeProcess.start(NODE_ECHO, type_, host)
    node_addr = await node.message()
    assert node_addr["family"] == ("IPv6" if type_ == "udp6" else "IPv4")
    client = dgram.create_socket(type_)
    got: list[tuple[bytes, Any]] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    next_seq = 0

    def payload(seq: int) -> bytes:
        return seq.to_bytes(4, "big") + "浅".encode() * (seq % 20)

    def send_next() -> None:
        nonlocal next_seq
        client.send(payload(next_seq), node_addr["port"], host)
        next_seq += 1

    def on_message(msg: bytes, rinfo: Any) -> None:
        got.append((msg, rinfo))
        if next_seq < COUNT:
            send_next()
        elif len(got) == COUNT and not done.done():
            done.set_result(None)

    client.on("message", on_message)
    for _ in range(WINDOW):
        send_next()
    await wait_for(done)
    seqs = sorted(int.from_bytes(msg[:4], "big") for msg, _ in got)
    assert seqs == list(range(COUNT))
    assert all(msg == payload(int.from_bytes(msg[:4], "big")) for msg, _ in got)
    assert {(r.address, r.family, r.port) for _, r in got} == {
        (host, node_addr["family"], node_addr["port"])
    }
    client.send("bye", node_addr["port"], host)
    report = await node.message()
    assert await node.finish() == 0
    assert report["count"] == COUNT + 1
    # Node saw us from our bound port, with Node's rinfo fields
    ours = client.address().port
    assert {s.rsplit("|", 1)[0] for s in report["senders"]} == {
        f"{host}|{node_addr['family']}|{ours}"
    }
    await client.close()


# ---------------------------------------------------------------------------- oracle

NODE_SCENARIOS = r"""
const dgram = require('dgram');
function scenario(name, body) {
  return new Promise((resolve) => { const ev = []; body(ev, () => resolve([name, ev])); });
}
async function closedPort() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}
(async () => {
  const sink = dgram.createSocket('udp4');
  await new Promise((r) => sink.bind(0, '127.0.0.1', r));
  const SINK = sink.address().port;
  const results = [];
  const bound = async () => {
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    return s;
  };
  results.push(await scenario('implicit_bind', (ev, end) => {
    const s = dgram.createSocket('udp4');
    s.on('listening', () => ev.push('listening'));
    s.send('abc', SINK, '127.0.0.1', (err, n) => {
      ev.push(`send:${err && err.code}:${n}`);
      s.close(() => { ev.push('close'); end(); });
    });
  }));
  for (const withCb of [true, false]) {
    const s = await bound();
    results.push(await scenario(withCb ? 'dns_cb' : 'dns_no_cb', (ev, end) => {
      s.on('error', (err) => ev.push(`error:${err.code}:${err.syscall}`));
      const good = () => s.send('ok', SINK, '127.0.0.1', (err, n) => {
        ev.push(`send:${err && err.code}:${n}`); s.close(); end();
      });
      if (withCb) {
        s.send('x', SINK, 'nope.invalid', (err) => { ev.push(`send:${err.code}`); good(); });
      }
      else { s.send('x', SINK, 'nope.invalid'); s.once('error', good); }
    }));
  }
  for (const withCb of [true, false]) {
    const s = await bound();
    results.push(await scenario(withCb ? 'too_big_cb' : 'too_big_no_cb', (ev, end) => {
      s.on('error', (err) => ev.push(`error:${err.code}`));
      const big = Buffer.alloc(70000);
      const onBig = (err) => ev.push(`send:${err.code}:${err.syscall}`);
      if (withCb) s.send(big, SINK, '127.0.0.1', onBig);
      else s.send(big, SINK, '127.0.0.1');
      s.send('ok', SINK, '127.0.0.1', (err, n) => {
        ev.push(`send:${err && err.code}:${n}`); s.close(); end();
      });
    }));
  }
  {
    const port = await closedPort();
    const s = await bound();
    results.push(await scenario('refused', (ev, end) => {
      s.on('error', (err) => { ev.push(`error:${err.code}:${err.syscall}`); s.close(); end(); });
      s.connect(port, '127.0.0.1', () => { ev.push('connect'); s.send('anyone?'); });
    }));
  }
  {
    const s = dgram.createSocket('udp4');
    results.push(await scenario('bind_in_use', (ev, end) => {
      s.on('error', (err) => {
        ev.push(`error:${err.code}:${err.syscall}`);
        s.close(() => { ev.push('close'); end(); });
      });
      s.bind(SINK, '127.0.0.1', () => ev.push('listening'));
    }));
  }
  {
    const s = await bound();
    results.push(await scenario('after_close', (ev, end) => {
      s.on('close', () => { ev.push('close'); end(); });
      s.close();
      try { s.send('x', SINK, '127.0.0.1'); } catch (err) { ev.push(`send:${err.code}`); }
      try { s.close(); } catch (err) { ev.push(`close:${err.code}`); }
      try { s.address(); } catch (err) { ev.push(`address:${err.code}`); }
    }));
  }
  {
    const s = dgram.createSocket('udp4');
    results.push(await scenario('connect_order', (ev, end) => {
      s.on('listening', () => ev.push('listening'));
      s.on('connect', () => {
        ev.push('connect');
        s.send('hi', (err, n) => { ev.push(`send:${err && err.code}:${n}`); s.close(); end(); });
      });
      s.connect(SINK);
    }));
  }
  sink.close();
  console.log(JSON.stringify(Object.fromEntries(results)));
})();
"""


class Scenario:
    """One scenario's events, and a future set when it ends."""

    def __init__(self) -> None:
        self.ev: list[str] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def end(self, *_: Any) -> None:
        if not self.done.done():
            self.done.set_result(None)

    async def wait(self) -> list[str]:
        await wait_for(self.done)
        return self.ev


def code(err: Any) -> str:
    return "null" if err is None else str(err.code)


async def nodish_scenarios() -> dict[str, list[str]]:
    sink = await dgram.create_socket("udp4").bind(0, "127.0.0.1")
    sink_port = sink.address().port
    out: dict[str, list[str]] = {}

    async def bound() -> dgram.Socket:
        return await dgram.create_socket("udp4").bind(0, "127.0.0.1")

    sc = Scenario()
    s = dgram.create_socket("udp4")
    s.on("listening", lambda: sc.ev.append("listening"))

    def after_implicit(err: Any, n: Any = None) -> None:
        sc.ev.append(f"send:{code(err)}:{n}")
        s.close(lambda: (sc.ev.append("close"), sc.end()))

    s.send("abc", sink_port, "127.0.0.1", after_implicit)
    out["implicit_bind"] = await sc.wait()

    for with_cb in (True, False):
        sc = Scenario()
        s = await bound()
        s.on("error", lambda err, sc=sc: sc.ev.append(f"error:{err.code}:{err.syscall}"))

        def good(*_: Any, s: dgram.Socket = s, sc: Scenario = sc) -> None:
            def sent(err: Any, n: Any = None) -> None:
                sc.ev.append(f"send:{code(err)}:{n}")
                s.close()
                sc.end()

            s.send("ok", sink_port, "127.0.0.1", sent)

        if with_cb:
            s.send(
                "x",
                sink_port,
                "nope.invalid",
                lambda err, n=None, sc=sc, good=good: (sc.ev.append(f"send:{err.code}"), good()),
            )
        else:
            s.send("x", sink_port, "nope.invalid")
            s.once("error", good)
        out["dns_cb" if with_cb else "dns_no_cb"] = await sc.wait()

    for with_cb in (True, False):
        sc = Scenario()
        s = await bound()
        s.on("error", lambda err, sc=sc: sc.ev.append(f"error:{err.code}"))
        big = bytes(70000)
        if with_cb:
            s.send(
                big,
                sink_port,
                "127.0.0.1",
                lambda err, n=None, sc=sc: sc.ev.append(f"send:{err.code}:{err.syscall}"),
            )
        else:
            s.send(big, sink_port, "127.0.0.1")

        def ok(err: Any, n: Any = None, s: dgram.Socket = s, sc: Scenario = sc) -> None:
            sc.ev.append(f"send:{code(err)}:{n}")
            s.close()
            sc.end()

        s.send("ok", sink_port, "127.0.0.1", ok)
        out["too_big_cb" if with_cb else "too_big_no_cb"] = await sc.wait()

    gone = await bound()
    closed_port = gone.address().port
    await gone.close()
    sc = Scenario()
    s = await bound()

    def on_refused(err: Any) -> None:
        sc.ev.append(f"error:{err.code}:{err.syscall}")
        s.close()
        sc.end()

    s.on("error", on_refused)
    s.connect(closed_port, "127.0.0.1", lambda: (sc.ev.append("connect"), s.send("anyone?")))
    out["refused"] = await sc.wait()

    sc = Scenario()
    s = dgram.create_socket("udp4")

    def on_in_use(err: Any) -> None:
        sc.ev.append(f"error:{err.code}:{err.syscall}")
        s.close(lambda: (sc.ev.append("close"), sc.end()))

    s.on("error", on_in_use)
    s.bind(sink_port, "127.0.0.1", lambda: sc.ev.append("listening"))
    out["bind_in_use"] = await sc.wait()

    sc = Scenario()
    s = await bound()
    s.on("close", lambda: (sc.ev.append("close"), sc.end()))
    s.close()
    for name, call in (
        ("send", lambda: s.send("x", sink_port, "127.0.0.1")),
        ("close", s.close),
        ("address", s.address),
    ):
        try:
            call()
        except Exception as err:
            sc.ev.append(f"{name}:{err.code}")  # type: ignore[attr-defined]
    out["after_close"] = await sc.wait()

    sc = Scenario()
    s = dgram.create_socket("udp4")
    s.on("listening", lambda: sc.ev.append("listening"))

    def on_connect() -> None:
        sc.ev.append("connect")

        def sent(err: Any, n: Any = None) -> None:
            sc.ev.append(f"send:{code(err)}:{n}")
            s.close()
            sc.end()

        s.send("hi", callback=sent)

    s.on("connect", on_connect)
    s.connect(sink_port)
    out["connect_order"] = await sc.wait()
    await sink.close()
    return out


async def test_error_and_event_sequences_match_node() -> None:
    node = await NodeProcess.start(NODE_SCENARIOS)
    expected = await node.message()
    assert await node.finish() == 0
    ours = await nodish_scenarios()
    assert set(expected) == set(ours)
    for name, events in expected.items():
        assert (name, ours[name]) == (name, events)


# ---------------------------------------------------------------------------- the chapter

CHAPTER_CLIENT = r"""
var dgram = require('dgram');
var message = Buffer.from("深入浅出Nodejs");
var client = dgram.createSocket("udp4");
var PORT = Number(process.argv[1]);  // 41234 in the chapter
client.send(message, 0, message.length, PORT, "localhost", function (err, bytes) {
  client.close();
});
"""


async def test_the_chapter_node_client_talks_to_the_nodish_chapter_server() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "03_udp_server.py"
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        str(example),
        env={**os.environ, "PORT": "0", "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stdout is not None
    try:
        line = (await wait_for(server.stdout.readline())).decode().strip()
        assert line.startswith("server listening 0.0.0.0:")
        port = line.rsplit(":", 1)[1]
        node = await NodeProcess.start(CHAPTER_CLIENT, port)
        assert await node.finish() == 0
        got = (await wait_for(server.stdout.readline())).decode().strip()
        assert got.startswith("server got: 深入浅出Nodejs from 127.0.0.1:")
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
        await wait_for(server.wait())
