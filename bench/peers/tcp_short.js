// Node's `net` short-connection server for bench_tcp_short: the peer of
// bench/servers/nodish_tcp_short.py, the same program. Answers each connection's first
// chunk with a short reply and ends it. Listens on 127.0.0.1, port 0, prints the port.
'use strict';
const net = require('net');

const REPLY = Buffer.from('hello\n');
const server = net.createServer((sock) => {
  sock.on('error', () => {}); // a client gone at the end of a run
  sock.once('data', () => sock.end(REPLY));
});
server.listen(0, '127.0.0.1', 511, () => console.log(server.address().port));
