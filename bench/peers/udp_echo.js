// Node's `dgram` echo server for bench_udp: the peer the nodish server is compared with,
// the same program as bench_udp.py's `--serve nodish`. Binds 127.0.0.1, port 0, prints
// the port on stdout, sends every datagram back to its sender.
'use strict';
const dgram = require('dgram');

const server = dgram.createSocket('udp4');
server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
server.bind(0, '127.0.0.1', () => console.log(server.address().port));
