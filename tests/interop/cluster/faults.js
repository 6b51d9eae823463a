// Node's side of the cluster fault oracle (see faults.py, its twin): a worker killed
// with SIGKILL, and a worker whose port is taken.
const cluster = require('cluster');
const net = require('net');
const log = (...a) => console.log(JSON.stringify(a));
if (cluster.isPrimary) {
  const taken = net.createServer().listen(0, '127.0.0.1', () => {
    const port = taken.address().port;
    cluster.on('exit', (w, code, sig) => {
      log('exit', w.id, code, sig, w.exitedAfterDisconnect, w.isDead(), w.isConnected());
      if (Object.keys(cluster.workers).length === 0) taken.close();
    });
    cluster.on('disconnect', (w) => log('disconnect', w.id));
    const victim = cluster.fork({ROLE: 'victim'});
    victim.on('listening', () => {
      log('listening', victim.id);
      victim.process.kill('SIGKILL');
    });
    const blocked = cluster.fork({ROLE: 'blocked', PORT: String(port)});
    blocked.on('message', (m) => log('message', blocked.id, m));
  });
} else {
  const srv = net.createServer();
  srv.on('error', (err) => {
    process.send({code: err.code, syscall: err.syscall, port: err.port === Number(process.env.PORT)});
    cluster.worker.disconnect();
  });
  srv.listen(process.env.ROLE === 'blocked' ? Number(process.env.PORT) : 0, '127.0.0.1');
}
