"""nodish's HTTP hello-world server for bench_http, as a user writes it (Node style).

Listens on 127.0.0.1, port 0, prints the port. argv[1], when given, is the keep-alive
timeout in seconds (the idle-memory run holds connections longer than the default 5).
"""

import sys

import nodish
from nodish import http

BODY = b"hello world\n"
HEADERS = {"Content-Type": "text/plain", "Content-Length": "12"}


def on_request(req, res):
    res.write_head(200, HEADERS)
    res.end(BODY)


keep_alive = float(sys.argv[1]) if len(sys.argv) > 1 else 5
server = http.create_server(on_request, keep_alive_timeout=keep_alive)
server.listen(0, "127.0.0.1", callback=lambda: print(server.address().port, flush=True))
nodish.run()
