// The Redis bridge alone with Node's socket.io and @socket.io/redis-adapter (same
// scenario as bench/servers/nodish_sio_bridge.py): prints {"rate", "cpu"}.
const path = require('path');
const req = require('module').createRequire(path.join(__dirname, '../../tests/interop/package.json'));
const { Server } = req('socket.io');
const { createAdapter } = req('@socket.io/redis-adapter');
const { createClient } = req('redis');
const argv = process.argv.slice(2);
const opt = (n, d) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : d);
const port = Number(opt('--redis'));
const count = Number(opt('--count', 50000));
const server = async () => {
  const pub = createClient({ url: `redis://127.0.0.1:${port}` });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  return { io: new Server({ adapter: createAdapter(pub, sub) }), pub, sub };
};
(async () => {
  const A = await server(); const B = await server();
  await new Promise((r) => setTimeout(r, 200)); // subscriptions settle
  const adapter = B.io.of('/').adapter;
  const original = adapter.onmessage.bind(adapter);
  let seen = 0; let finish;
  const done = new Promise((r) => { finish = r; });
  adapter.onmessage = (p, channel, msg) => { original(p, channel, msg); if (++seen === count) finish(); };
  const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    A.io.emit('tick', i, 'x'.repeat(32));
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await done;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9; const cpu = process.cpuUsage(c0);
  console.log(JSON.stringify({ rate: count / wall, cpu: (cpu.user + cpu.system) / 1e6 / wall }));
  process.exit(0);
})();
