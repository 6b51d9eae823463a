// Node's `http` hello-world server for bench_http: the peer nodish's http server is
// compared with. Listens on 127.0.0.1, port 0, prints the port; argv[2], when given, is
// the keep-alive timeout in seconds (the idle-memory run holds connections longer).
'use strict';
const http = require('http');

const server = http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': '12'});
  res.end('hello world\n');
});
if (process.argv[2]) server.keepAliveTimeout = Number(process.argv[2]) * 1000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
