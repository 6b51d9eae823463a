// Node's `net` echo server for bench_tcp: the peer the nodish server is compared with,
// the same program as bench/servers/nodish_tcp_echo.py. Listens on 127.0.0.1, port 0,
// prints the port on stdout, echoes every chunk back.
'use strict';
const net = require('net');

const server = net.createServer((sock) => sock.on('data', (chunk) => sock.write(chunk)));
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
