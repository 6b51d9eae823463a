// Node's `net` echo server for bench_tcp: the peer the nodish server is compared with.
// Listens on 127.0.0.1, port 0, prints the port on stdout, echoes every chunk back.
'use strict';
const net = require('net');

const server = net.createServer((sock) => {
  sock.on('data', (chunk) => sock.write(chunk));
  sock.on('error', () => sock.destroy());
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
