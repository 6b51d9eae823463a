// Node's cluster for the cluster benchmark (the twin of bench/servers/nodish_cluster.py).
//   node cluster.js rr|none [PORT] [tcp|http]
const cluster = require('cluster');
const http = require('http');
const net = require('net');
const mode = process.argv[2];
const port = Number(process.argv[3] || 0);
const kind = process.argv[4] || 'tcp';
const WORKERS = 2;
if (cluster.isPrimary) {
  cluster.schedulingPolicy = mode === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  let listening = 0;
  cluster.on('listening', (w, address) => {
    if (++listening === WORKERS) console.log(address.port);
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork();
} else if (kind === 'http') {
  const body = Buffer.from('hello world\n');
  const headers = {'Content-Type': 'text/plain', 'Content-Length': String(body.length)};
  http.createServer((req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  }).listen(port, '127.0.0.1');
} else {
  const greeting = Buffer.from('hello\n');
  net.createServer((sock) => {
    sock.on('error', () => {}); // a client gone at the end of a run
    sock.end(greeting);
  }).listen(port, '127.0.0.1');
}
