"""Edge cases run as the same script in Node and in nodish; the event logs must match.

Each scenario is a small Node program and its nodish transcription. Both print a JSON
log of what happened, in order; Node's log is the oracle.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.helpers import NodeProcess, next_event, wait_for

from nodish import dgram, net, timers

PRELUDE = r"""
const net = require('net');
const log = [];
const code = (e) => (e ? (e.code || String(e.message)) : null);
const cb = (name) => (e) => log.push([name, code(e)]);
const done = () => console.log(JSON.stringify(log));
const port = Number(process.argv[1]);
"""


def cb(log: list[Any], name: str) -> Callable[..., None]:
    return lambda err=None: log.append([name, code(err)])


def code(err: Any) -> Any:
    if err is None:
        return None
    return getattr(err, "code", None) or str(err)


async def closed_log(sock: net.Socket, log: list[Any]) -> list[Any]:
    (had_error,) = await wait_for(next_event(sock, "close"))
    log.append(["close", had_error])
    return log


# -- destroy() while connecting --------------------------------------------------------

JS_DESTROY_WRITES = """
const s = net.connect(port, '127.0.0.1');
s.write('a', cb('w1')); s.write('b', cb('w2')); s.end('c', cb('end'));
s.on('error', cb('error'));
s.on('close', (h) => { log.push(['close', h]); setImmediate(done); });
s.destroy();
"""


async def destroyed_while_connecting(
    port: int, setup: Callable[[net.Socket, list[Any]], None], err: Exception | None = None
) -> list[Any]:
    log: list[Any] = []
    s = net.connect(port, "127.0.0.1")
    setup(s, log)
    s.on("error", cb(log, "error"))
    closing = closed_log(s, log)
    s.destroy(err)
    return await closing


def writes_and_end(s: net.Socket, log: list[Any]) -> None:
    s.write("a", callback=cb(log, "w1"))
    s.write("b", callback=cb(log, "w2"))
    s.end("c", callback=cb(log, "end"))


JS_DESTROY_END_ONLY = """
const s = net.connect(port, '127.0.0.1');
s.end(cb('end'));
s.on('error', cb('error'));
s.on('close', (h) => { log.push(['close', h]); setImmediate(done); });
s.destroy();
"""

JS_DESTROY_WITH_ERROR = """
const s = net.connect(port, '127.0.0.1');
s.write('x', cb('w1'));
s.on('error', cb('error'));
s.on('close', (h) => { log.push(['close', h]); setImmediate(done); });
s.destroy(Object.assign(new Error('boom'), {code: 'EBOOM'}));
"""


class BoomError(Exception):
    code = "EBOOM"


# -- names the resolver refuses ----------------------------------------------------------

BAD_HOSTS = ["a" * 64 + ".example", "a..b", "x\ud800y"]

JS_BAD_HOSTS = (
    "const hosts = "
    + json.dumps(BAD_HOSTS)
    + """;
const next = () => {
  if (!hosts.length) return done();
  const s = net.connect(port, hosts.shift());
  s.on('lookup', (e) => log.push(['lookup', code(e)]));
  s.on('error', (e) => log.push(['error', code(e), e.syscall]));
  s.on('close', (h) => { log.push(['close', h]); next(); });
};
next();
"""
)


async def py_bad_hosts(port: int) -> list[Any]:
    log: list[Any] = []
    for host in BAD_HOSTS:
        s = net.connect(port, host)
        s.on("lookup", lambda e, *_: log.append(["lookup", code(e)]))
        s.on("error", lambda e: log.append(["error", code(e), e.syscall]))
        await closed_log(s, log)
    return log


# -- 'timeout' once per idle period -----------------------------------------------------

JS_TIMEOUT_ONCE = """
const s = net.connect(port, '127.0.0.1', () => {
  s.setTimeout(50);
  s.on('timeout', () => log.push(['timeout']));
  setTimeout(() => { log.push(['write']); s.write('x'); }, 400);
  setTimeout(() => { s.destroy(); }, 800);
});
s.on('close', (h) => { log.push(['close', h]); done(); });
"""


async def py_timeout_once(port: int) -> list[Any]:
    log: list[Any] = []
    s = await net.connect(port, "127.0.0.1")
    s.set_timeout(0.05)
    s.on("timeout", lambda: log.append(["timeout"]))
    timers.set_timeout(lambda: (log.append(["write"]), s.write("x")), 0.4)
    timers.set_timeout(s.destroy, 0.8)
    return await closed_log(s, log)


# -- reconnecting a closed socket --------------------------------------------------------

JS_RECONNECT = """
let round = 0;
const s = net.connect(port, '127.0.0.1');
for (const name of ['connect', 'ready', 'finish', 'end'])
  s.on(name, () => log.push([name, round]));
s.on('connect', () => s.end('round ' + round));
s.on('close', (h) => {
  log.push(['close', h, s.destroyed, s.readyState, s.bytesWritten]);
  if (++round < 3) s.connect(port, '127.0.0.1');
  else done();
});
"""


async def py_reconnect(port: int) -> list[Any]:
    log: list[Any] = []
    rounds = [0]
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    s = net.connect(port, "127.0.0.1")
    for name in ("connect", "ready", "finish", "end"):
        s.on(name, lambda n=name: log.append([n, rounds[0]]))
    s.on("connect", lambda: s.end(f"round {rounds[0]}"))

    def on_close(had_error: bool) -> None:
        log.append(["close", had_error, s.destroyed, s.ready_state, s.bytes_written])
        rounds[0] += 1
        if rounds[0] < 3:
            s.connect(port, "127.0.0.1")
        else:
            finished.set_result(None)

    s.on("close", on_close)
    await wait_for(finished)
    return log


# -- dgram: setMulticastInterface on either family --------------------------------------

MULTICAST_CASES = [
    ["udp6", "::1", "127.0.0.1"],
    ["udp6", "::1", "::%lo"],
    ["udp6", "::1", "bogus"],
    ["udp4", "127.0.0.1", "::1"],
    ["udp4", "127.0.0.1", "bogus"],
]

JS_MULTICAST_INTERFACE = (
    "const dgram = require('dgram');\nconst cases = "
    + json.dumps(MULTICAST_CASES)
    + """;
const next = () => {
  if (!cases.length) return done();
  const [type, addr, iface] = cases.shift();
  const s = dgram.createSocket(type);
  s.bind(0, addr, () => {
    try { s.setMulticastInterface(iface); log.push([type, iface, null]); }
    catch (e) { log.push([type, iface, code(e)]); }
    s.close(next);
  });
};
next();
"""
)


async def py_multicast_interface(port: int) -> list[Any]:
    log: list[Any] = []
    for type_, addr, iface in MULTICAST_CASES:
        s = dgram.create_socket(type_)
        await s.bind(0, addr)
        try:
            s.set_multicast_interface(iface)
            log.append([type_, iface, None])
        except OSError as exc:
            log.append([type_, iface, code(exc)])
        await s.close()
    return log


SCENARIOS: dict[str, tuple[str, Callable[[int], Awaitable[list[Any]]]]] = {
    "destroy_while_connecting_with_writes_and_end": (
        JS_DESTROY_WRITES,
        lambda port: destroyed_while_connecting(port, writes_and_end),
    ),
    "destroy_while_connecting_with_end_only": (
        JS_DESTROY_END_ONLY,
        lambda port: destroyed_while_connecting(
            port, lambda s, log: s.end(callback=cb(log, "end"))
        ),
    ),
    "destroy_with_error_while_connecting": (
        JS_DESTROY_WITH_ERROR,
        lambda port: destroyed_while_connecting(
            port, lambda s, log: s.write("x", callback=cb(log, "w1")), BoomError("boom")
        ),
    ),
    "names_the_resolver_refuses": (JS_BAD_HOSTS, py_bad_hosts),
    "timeout_once_per_idle_period": (JS_TIMEOUT_ONCE, py_timeout_once),
    "reconnect_after_close": (JS_RECONNECT, py_reconnect),
    "dgram_set_multicast_interface": (JS_MULTICAST_INTERFACE, py_multicast_interface),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_same_log_as_node(name: str) -> None:
    js, py = SCENARIOS[name]
    server = net.create_server(lambda sock: sock.resume())  # reads and drops
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    node = await NodeProcess.start(PRELUDE + js, str(port))
    expected = await node.message()
    assert await node.finish() == 0
    got = await wait_for(py(port))
    assert got == expected
    server.close()
    await wait_for(next_event(server, "close"))
