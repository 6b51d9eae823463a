"""A nodish cluster for the cluster benchmark: 2 workers answer each connection with a
short greeting and close (or, with ``http``, every HTTP request with a short body); the
primary prints the port once both listen.

    python nodish_cluster.py rr|none|reuse_port [PORT] [tcp|http]
"""

import sys

import nodish
from nodish import cluster, http, net

MODE = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
KIND = sys.argv[3] if len(sys.argv) > 3 else "tcp"
WORKERS = 2

if cluster.is_primary:
    if MODE == "none":
        cluster.scheduling_policy = cluster.SCHED_NONE
    listening = []

    def on_listening(worker, address):
        listening.append(address.port)
        if len(listening) == WORKERS:
            print(address.port, flush=True)

    cluster.on("listening", on_listening)
    for _ in range(WORKERS):
        cluster.fork()
    nodish.run()
else:
    GREETING = b"hello\n"

    def on_connection(sock):
        sock.on("error", lambda err: None)  # a client gone at the end of a run
        sock.end(GREETING)

    if KIND == "http":
        BODY = b"hello world\n"
        HEADERS = {"Content-Type": "text/plain", "Content-Length": str(len(BODY))}

        def on_request(req, res):
            res.write_head(200, HEADERS)
            res.end(BODY)

        server = http.create_server(on_request)
    else:
        server = net.create_server(on_connection)
    server.listen(PORT, "127.0.0.1", reuse_port=MODE == "reuse_port")
    nodish.run()
