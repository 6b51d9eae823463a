"""Peers for the Socket.IO tests: a real ``redis-server`` and Node's socket.io.

``RedisServer`` runs Debian's ``redis-server`` on a free port in a temporary directory
(no persistence) and can be killed and restarted on the same port, for outage tests.
``NodeSio`` runs a Node script from ``tests/interop`` (where the npm peers are
installed) that talks JSON lines; binary values travel as ``{"$bin": base64}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from tests.helpers import DEFAULT_TIMEOUT, NODE

INTEROP = Path(__file__).parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on 127.0.0.1:``port``, started and stopped by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="nodish-redis-")
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> RedisServer:
        self.proc = await asyncio.create_subprocess_exec(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir.name,
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        await asyncio.wait_for(self._ready(), DEFAULT_TIMEOUT)
        # keep draining its log so that it never blocks on a full pipe
        self._drain = asyncio.get_running_loop().create_task(self._read_rest())
        return self

    async def _ready(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                raise AssertionError("redis-server exited before it was ready")
            if b"Ready to accept connections" in line:
                return

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.read(65536):
            pass

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
            await self._drain
        self.proc = None

    async def stop(self) -> None:
        await self.kill()
        self.dir.cleanup()


async def no_websocket_proxy(upstream: int, dropped: list[bytes]) -> asyncio.Server:
    """A proxy that passes plain HTTP to ``upstream`` and drops WebSocket upgrades (their
    heads kept in ``dropped``), as some middleboxes do."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, OSError):
            writer.close()
            return
        if b"upgrade: websocket" in head.lower():
            dropped.append(head)
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        up_writer.write(head)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def wrap(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, (list, tuple)):
        return [wrap(x) for x in v]
    if isinstance(v, dict):
        return {k: wrap(x) for k, x in v.items()}
    return v


def unwrap(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return base64.b64decode(v["$bin"])
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


# Shared JS: JSON lines out, commands in, binary as {$bin}.
JS_PRELUDE = r"""
const wrap = (v) => Buffer.isBuffer(v) ? { $bin: v.toString('base64') }
  : (v instanceof ArrayBuffer) ? { $bin: Buffer.from(v).toString('base64') }
  : Array.isArray(v) ? v.map(wrap)
  : (v && typeof v === 'object') ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrap(x)]))
  : v;
const unwrap = (v) => (v && typeof v === 'object' && !Array.isArray(v) && '$bin' in v) ? Buffer.from(v.$bin, 'base64')
  : Array.isArray(v) ? v.map(unwrap)
  : (v && typeof v === 'object') ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]))
  : v;
const out = (obj) => process.stdout.write(JSON.stringify(wrap(obj)) + '\n');
const commands = (fn) => require('readline').createInterface({ input: process.stdin })
  .on('line', async (line) => {
    const cmd = unwrap(JSON.parse(line));
    try { await fn(cmd); } catch (e) { out({ error: String(e && e.stack || e) }); }
  })
  .on('close', () => process.exit(0));
"""


class NodeSio:
    """A Node script from ``tests/interop`` speaking JSON lines; messages kept by kind."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.messages: list[Any] = []
        self._new = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._stderr = b""

    @classmethod
    async def start(cls, script: str, *args: str) -> NodeSio:
        proc = await asyncio.create_subprocess_exec(
            NODE,
            "-e",
            JS_PRELUDE + script,
            *args,
            cwd=INTEROP,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                if self.proc.stderr is not None:
                    self._stderr = await self.proc.stderr.read()
                self._new.set()
                return
            self.messages.append(unwrap(json.loads(line)))
            self._new.set()

    async def wait_for(self, predicate: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The first message (in arrival order) for which ``predicate`` is true."""
        return await asyncio.wait_for(self._find(predicate), timeout)

    async def _find(self, predicate: Any) -> Any:
        while True:
            for m in self.messages:
                if isinstance(m, dict) and "error" in m:
                    raise AssertionError(f"node peer failed: {m['error']}")
                if predicate(m):
                    self.messages.remove(m)
                    return m
            if self._reader.done():
                raise AssertionError(f"node peer exited: {self._stderr.decode(errors='replace')}")
            self._new.clear()
            await self._new.wait()

    async def wait_kind(self, kind: str, timeout: float = DEFAULT_TIMEOUT, **match: Any) -> Any:
        return await self.wait_for(
            lambda m: (
                isinstance(m, dict)
                and m.get("kind") == kind
                and all(m.get(k) == v for k, v in match.items())
            ),
            timeout,
        )

    def of_kind(self, kind: str, **match: Any) -> list[Any]:
        return [
            m
            for m in self.messages
            if isinstance(m, dict)
            and m.get("kind") == kind
            and all(m.get(k) == v for k, v in match.items())
        ]

    async def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(wrap(cmd)) + "\n").encode())
        await self.proc.stdin.drain()

    async def close(self) -> None:
        assert self.proc.stdin is not None
        if not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), DEFAULT_TIMEOUT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self._reader


# A Node socket.io server on the official Redis adapter, with clients of its own, on
# namespaces '/' and '/chat' (a command's ``nsp``, '/' by default). argv: redis port.
# Prints {kind:'ready', port}. Clients connect with auth {name, rooms} and report every
# event as {kind:'event', client, event, args}, answering acks with ['ack', name, ...args].
NODE_REDIS_SERVER = r"""
const { createServer } = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');
const ioc = require('socket.io-client');
const redisPort = Number(process.argv[1]);
// the official adapter publishes without catching: while Redis is away a publish
// rejects, and Node would exit on the unhandled rejection
process.on('unhandledRejection', (e) => out({ kind: 'node-rejection', message: String(e) }));
(async () => {
  const pub = createClient({ url: `redis://127.0.0.1:${redisPort}` });
  const sub = pub.duplicate();
  pub.on('error', () => {}); sub.on('error', () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  sub.on('ready', () => out({ kind: 'redis-ready' }));
  const http = createServer();
  const io = new Server(http, { adapter: createAdapter(pub, sub) });
  const nameOf = (id) => { const s = io.sockets.sockets.get(id); return s ? s.data.name : undefined; };
  io.of('/').adapter.on('join-room', (room, id) => room !== id && out({ kind: 'join', room, client: nameOf(id) }));
  io.of('/').adapter.on('leave-room', (room, id) => room !== id && out({ kind: 'leave', room, client: nameOf(id) }));
  const setup = (nsp) => nsp.on('connection', (socket) => {
    const { name, rooms } = socket.handshake.auth;
    socket.data = { name };
    if (rooms) socket.join(rooms);
    socket.on('disconnect', (reason) => out({ kind: 'server-disconnect', client: name, reason }));
  });
  setup(io.of('/'));
  setup(io.of('/chat'));
  io.on('ping-servers', (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    out({ kind: 'server-side', event: 'ping-servers', args });
    if (ack) ack('pong from node');
  });
  const clients = {};
  http.listen(0, '127.0.0.1', () => out({ kind: 'ready', port: http.address().port }));
  commands(async (cmd) => {
    if (cmd.cmd === 'client') {
      const c = ioc(`http://127.0.0.1:${cmd.port || http.address().port}${cmd.nsp || ''}`, {
        auth: { name: cmd.name, rooms: cmd.rooms || [] }, transports: ['websocket'],
      });
      clients[cmd.name] = c;
      c.on('connect', () => out({ kind: 'connected', client: cmd.name, id: c.id }));
      c.onAny((event, ...args) => {
        const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        out({ kind: 'event', client: cmd.name, event, args });
        if (ack) ack(['ack', cmd.name, ...args]);
      });
    } else if (cmd.cmd === 'emit') {
      let op = io.of(cmd.nsp || '/');
      if (cmd.to) op = op.to(cmd.to);
      if (cmd.except) op = op.except(cmd.except);
      if (cmd.ack) {
        op.timeout(cmd.timeout || 3000).emit(cmd.event, ...cmd.args, (err, responses) =>
          out({ kind: 'acks', err: err && err.message, responses }));
      } else op.emit(cmd.event, ...cmd.args);
      out({ kind: 'emitted' });
    } else if (cmd.cmd === 'serverSideEmit') {
      if (cmd.ack) {
        io.serverSideEmit(cmd.event, ...cmd.args, (err, responses) =>
          out({ kind: 'ssacks', err: err && err.message, responses }));
      } else io.serverSideEmit(cmd.event, ...cmd.args);
    } else if (cmd.cmd === 'fetch') {
      const sockets = await io.in(cmd.room || []).fetchSockets();
      out({ kind: 'fetched', sockets: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, handshake: s.handshake })) });
    } else if (cmd.cmd === 'localRooms') {
      const rooms = {};
      for (const [name, c] of Object.entries(clients)) {
        const s = [...io.sockets.sockets.values()].find((x) => x.data.name === name);
        rooms[name] = s ? [...s.rooms].filter((r) => r !== s.id).sort() : null;
      }
      out({ kind: 'rooms', rooms });
    } else if (cmd.cmd === 'serverCount') {
      out({ kind: 'serverCount', count: await io.of('/').adapter.serverCount() });
    } else if (cmd.cmd === 'socketsJoin') {
      io.in(cmd.room || []).socketsJoin(cmd.join); out({ kind: 'done' });
    } else if (cmd.cmd === 'socketsLeave') {
      io.in(cmd.room || []).socketsLeave(cmd.leave); out({ kind: 'done' });
    } else if (cmd.cmd === 'disconnectSockets') {
      io.in(cmd.room || []).disconnectSockets(!!cmd.close); out({ kind: 'done' });
    }
  });
})();
"""


# A plain Node socket.io server. argv: port (0 for any), transports (comma list).
# Prints {kind:'ready', port}; reports connections, upgrades, disconnects, events.
NODE_SIO_SERVER = r"""
const { createServer } = require('http');
const { Server } = require('socket.io');
const port = Number(process.argv[1] || 0);
const transports = (process.argv[2] || 'polling,websocket').split(',');
const http = createServer();
const io = new Server(http, { transports, pingInterval: 25000, pingTimeout: 20000 });
const setup = (nsp) => nsp.on('connection', (socket) => {
  out({ kind: 'connection', nsp: nsp.name, id: socket.id, auth: socket.handshake.auth,
        transport: socket.conn.transport.name });
  socket.conn.on('upgrade', (t) => out({ kind: 'upgrade', id: socket.id, transport: t.name }));
  socket.on('disconnect', (reason) => out({ kind: 'disconnect', nsp: nsp.name, id: socket.id, reason }));
  socket.on('echo', (...args) => { const ack = args.pop(); ack(...args); });
  socket.on('note', (...args) => out({ kind: 'note', nsp: nsp.name, id: socket.id, args }));
  socket.on('join', (room, ack) => { socket.join(room); ack(); });
  socket.on('to-room', (room, ...args) => io.of(nsp.name).to(room).emit('room-msg', ...args));
  socket.on('broadcast', (...args) => socket.broadcast.emit('broadcasted', ...args));
  socket.on('ask', async (...args) => {
    try { out({ kind: 'answer', value: await socket.timeout(3000).emitWithAck('question', ...args) }); }
    catch (e) { out({ kind: 'answer', error: e.message }); }
  });
  socket.on('kick', () => socket.disconnect());
});
setup(io.of('/'));
setup(io.of('/chat'));
io.of('/admin').use((socket, next) => {
  const err = new Error('not authorized'); err.data = { reason: 'admins only' }; next(err);
});
http.listen(port, '127.0.0.1', () => out({ kind: 'ready', port: http.address().port }));
commands(async (cmd) => {
  if (cmd.cmd === 'emit') io.of(cmd.nsp || '/').emit(cmd.event, ...cmd.args);
  else if (cmd.cmd === 'exit') { io.close(); process.exit(0); }
});
"""


# Official socket.io-client sockets driven by commands (several sockets per process).
# {cmd:'connect', name, url, opts} then events {kind:'connect'|'connect_error'|
# 'disconnect'|'event'|'upgrade'|'ack', name, ...}; server events with an ack are
# answered ['ack', name, ...args].
NODE_SIO_CLIENT = r"""
const ioc = require('socket.io-client');
const sockets = {};
commands(async (cmd) => {
  if (cmd.cmd === 'connect') {
    const s = ioc(cmd.url, Object.assign({ forceNew: true }, cmd.opts || {}));
    sockets[cmd.name] = s;
    const name = cmd.name;
    s.on('connect', () => out({ kind: 'connect', name, id: s.id, transport: s.io.engine.transport.name }));
    s.on('connect_error', (e) => out({ kind: 'connect_error', name, message: e.message, data: e.data }));
    s.on('disconnect', (reason) => out({ kind: 'disconnect', name, reason }));
    s.io.on('reconnect', (n) => out({ kind: 'reconnect', name }));
    s.io.on('open', () => s.io.engine.on('upgrade', (t) => out({ kind: 'upgrade', name, transport: t.name })));
    s.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      out({ kind: 'event', name, event, args });
      if (ack) ack(['ack', name, ...args]);
    });
  } else if (cmd.cmd === 'emit') {
    const s = sockets[cmd.name];
    if (cmd.ack) {
      try { out({ kind: 'ack', name: cmd.name, event: cmd.event, value: await s.timeout(cmd.timeout || 5000).emitWithAck(cmd.event, ...cmd.args) }); }
      catch (e) { out({ kind: 'ack', name: cmd.name, event: cmd.event, error: e.message }); }
    } else s.emit(cmd.event, ...cmd.args);
  } else if (cmd.cmd === 'disconnect') {
    sockets[cmd.name].disconnect();
  } else if (cmd.cmd === 'transport') {
    const s = sockets[cmd.name];
    out({ kind: 'transport', name: cmd.name, transport: s.io.engine && s.io.engine.transport.name });
  }
});
out({ kind: 'ready' });
"""
