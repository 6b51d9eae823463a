// Node's `https` hello-world server for bench_tls: the peer nodish's https server is
// compared with. Key and certificate paths in argv; listens on 127.0.0.1, port 0,
// prints the port.
'use strict';
const https = require('https');
const fs = require('fs');

const server = https.createServer(
  {key: fs.readFileSync(process.argv[2]), cert: fs.readFileSync(process.argv[3])},
  (req, res) => {
    res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': '12'});
    res.end('hello world\n');
  });
// Full and resumed handshakes, printed when the bench stops the server (SIGTERM).
const handshakes = {new: 0, reused: 0};
server.on('secureConnection', (sock) => { handshakes[sock.isSessionReused() ? 'reused' : 'new']++; });
process.on('SIGTERM', () => {
  process.stderr.write(`handshakes new=${handshakes.new} reused=${handshakes.reused}\n`, () => process.exit(0));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
