// Node's socket.io server for bench_socketio (same events as bench/servers/nodish_sio.py).
const path = require('path');
const req = require('module').createRequire(path.join(__dirname, '../../tests/interop/package.json'));
const { createServer } = require('http');
const { Server } = req('socket.io');
const args = process.argv.slice(2);
const redisPort = args.includes('--redis') ? Number(args[args.indexOf('--redis') + 1]) : null;
(async () => {
  let adapter;
  if (redisPort !== null) {
    const { createAdapter } = req('@socket.io/redis-adapter');
    const { createClient } = req('redis');
    const pub = createClient({ url: `redis://127.0.0.1:${redisPort}` });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    adapter = createAdapter(pub, sub);
  }
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], adapter });
  io.on('connection', (socket) => {
    socket.on('echo', (...a) => { const ack = a.pop(); ack(...a); });
    socket.on('fanout', (count, payload) => { for (let i = 0; i < count; i++) io.emit('tick', i, payload); });
  });
  http.listen(0, '127.0.0.1', () => console.log(http.address().port));
})();
