"""nodish's WebSocket echo server for bench_ws: the Node-style program, as a user writes it.

Listens on 127.0.0.1, port 0, and prints the port once listening.
"""

import nodish
from nodish.ws import WebSocketServer

wss = WebSocketServer(port=0, host="127.0.0.1")
wss.on("connection", lambda ws, req: ws.on("message", lambda data, is_binary: ws.send(data)))
wss.on("listening", lambda: print(wss.address().port, flush=True))
nodish.run()
