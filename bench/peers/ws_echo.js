// Node's `ws` echo server for bench_ws: the peer the nodish server is compared with, the
// same program as bench/servers/nodish_ws_echo.py. Listens on 127.0.0.1, port 0, prints
// the port on stdout, echoes every message back as it came (text or binary).
'use strict';
const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, '..', '..', 'tests', 'interop', 'node_modules', 'ws'));

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => console.log(wss.address().port));
