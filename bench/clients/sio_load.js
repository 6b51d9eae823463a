// Load for bench_socketio with the official socket.io-client (WebSocket transport).
// --mode fanout: --clients N sockets, one asks for --count broadcasts, all count them.
// --mode echo: --clients N sockets emit 'echo' with an ack in a loop for --duration s.
// --mode bridge: --clients 1 socket on --port2 counts --count ticks that the server on
//   --port broadcasts through Redis.
// Prints {"rate": ..., "cpu": ...} (cpu: this process's CPU use, 1.0 = one core); echo adds
// "us_rt" (this process's CPU microseconds per round trip) and "loops_rt" (event loop
// iterations per round trip: how many acks each wake-up found), to tell client cost from
// server pacing; with --server-pid P it also adds "server_us_rt", the CPU microseconds
// process P (the server) spent per round trip over the same window, from /proc/P/stat.
const fs = require('fs');
const path = require('path');
const req = require('module').createRequire(path.join(__dirname, '../../tests/interop/package.json'));
const ioc = req('socket.io-client');
const { performance } = require('perf_hooks');
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const port = Number(opt('--port'));
const port2 = Number(opt('--port2', port));
const mode = opt('--mode', 'echo');
const clients = Number(opt('--clients', 64));
const count = Number(opt('--count', 100));
const duration = Number(opt('--duration', 2));
const warmup = Number(opt('--warmup', 0.5));
const payload = 'x'.repeat(Number(opt('--size', 32)));
const serverPid = opt('--server-pid');
const ticksPerSec = 100; // USER_HZ: the unit of utime and stime in /proc/<pid>/stat
const serverCpu = () => {
  if (!serverPid) return NaN;
  const fields = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(')').pop().trim().split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSec; // utime + stime, s
};
const connect = (p) => new Promise((resolve) => {
  const s = ioc(`http://127.0.0.1:${p}`, { transports: ['websocket'], forceNew: true, reconnection: false });
  s.on('connect', () => resolve(s));
});
const uvLoops = () => (performance.nodeTiming.uvMetricsInfo || { loopCount: NaN }).loopCount;
const done = (rate, t0cpu, t0, extra = {}) => {
  const cpu = process.cpuUsage(t0cpu); const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ rate, cpu: (cpu.user + cpu.system) / 1e6 / wall, ...extra }));
  process.exit(0);
};
(async () => {
  const socks = [];
  for (let i = 0; i < clients; i++) socks.push(await connect(mode === 'bridge' ? port2 : port));
  if (mode === 'echo') {
    let n = 0; let counting = false; let stop = false;
    const loop = (s) => s.emit('echo', payload, () => { if (counting) n++; if (!stop) loop(s); });
    socks.forEach(loop);
    await new Promise((r) => setTimeout(r, warmup * 1000));
    const s0 = serverCpu();
    const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage(); const l0 = uvLoops(); counting = true;
    await new Promise((r) => setTimeout(r, duration * 1000));
    stop = true;
    const c = process.cpuUsage(c0);
    const extra = {
      us_rt: (c.user + c.system) / n,
      loops_rt: (uvLoops() - l0) / n,
      server_us_rt: ((serverCpu() - s0) * 1e6) / n,
    };
    done(n / duration, c0, t0, Object.fromEntries(Object.entries(extra).filter(([, v]) => Number.isFinite(v))));
  } else {
    const sender = mode === 'bridge' ? await connect(port) : socks[0];
    const round = (k) => new Promise((resolve) => {
      let got = 0; const want = clients * k;
      const on = () => { if (++got === want) { socks.forEach((s) => s.off('tick', on)); resolve(); } };
      socks.forEach((s) => s.on('tick', on));
      sender.emit('fanout', k, payload);
    });
    await round(Math.min(count, 10)); // warm-up
    const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage();
    await round(count);
    done((clients * count) / (Number(process.hrtime.bigint() - t0) / 1e9), c0, t0);
  }
})();
