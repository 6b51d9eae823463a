// Node's side of the cluster event-trace oracle (see trace.py, its line-for-line twin).
const cluster = require('cluster');
const net = require('net');
const log = (...a) => console.log(JSON.stringify(a));
if (cluster.isPrimary) {
  const ports = [];
  cluster.on('setup', () => log('cluster', 'setup'));
  for (const ev of ['fork', 'online', 'disconnect']) cluster.on(ev, (w) => log('cluster', ev, w.id));
  cluster.on('listening', (w, a) => log('cluster', 'listening', w.id, a.addressType, a.address));
  cluster.on('message', (w, m) => {
    log('cluster', 'message', w.id, m.id);
    ports.push(m.port);
    if (ports.length === 2) cluster.disconnect(() => log('primary', 'all disconnected', ports[0] === ports[1]));
  });
  cluster.on('exit', (w, code, sig) => log('cluster', 'exit', w.id, code, sig, w.exitedAfterDisconnect));
  for (let i = 0; i < 2; i++) {
    const w = cluster.fork();
    w.on('online', () => log('worker', 'online', w.id));
    w.on('listening', (a) => log('worker', 'listening', w.id, a.port === undefined));
    w.on('message', (m) => log('worker', 'message', w.id, m.id));
    w.on('disconnect', () => log('worker', 'disconnect', w.id, w.isConnected(), w.isDead()));
    w.on('exit', (c, s) => log('worker', 'exit', w.id, c, s, w.isDead()));
  }
} else {
  const srv = net.createServer((s) => s.end('hi'));
  srv.listen(0, '127.0.0.1', () => process.send({port: srv.address().port, id: cluster.worker.id}));
}
