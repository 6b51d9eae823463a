// A worker that closes its socket in its own 'listening' callback, then disconnects:
// worker 1 a UDP socket, worker 2 a TCP server (tests/interop/test_cluster_node.py).
const cluster = require('cluster');
const dgram = require('dgram');
const net = require('net');
const out = (...e) => console.log(JSON.stringify(e));
if (cluster.isPrimary) {
  cluster.schedulingPolicy = process.env.POLICY === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  let left = 2;
  cluster.on('listening', (w) => out('listening', w.id));
  cluster.on('exit', (w, code, signal) => {
    out('exit', w.id, code, signal, w.exitedAfterDisconnect);
    if (--left === 0) out('done');
  });
  cluster.fork();
  cluster.fork();
} else if (cluster.worker.id === 1) {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1', () => { s.close(); cluster.worker.disconnect(); });
} else {
  const srv = net.createServer(() => {});
  srv.listen(0, '127.0.0.1', () => { srv.close(); cluster.worker.disconnect(); });
}
