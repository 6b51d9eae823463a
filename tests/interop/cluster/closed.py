"""A worker that closes its socket in its own 'listening' callback, then disconnects:
worker 1 a UDP socket, worker 2 a TCP server (the twin of closed.js)."""

import json
import os

import nodish
from nodish import cluster, dgram, net


def out(*e: object) -> None:
    print(json.dumps(e), flush=True)


if cluster.is_primary:
    if os.environ.get("POLICY") == "none":
        cluster.scheduling_policy = cluster.SCHED_NONE
    left = [2]

    def on_exit(w: cluster.Worker, code: int | None, signal: str | None) -> None:
        out("exit", w.id, code, signal, w.exited_after_disconnect)
        left[0] -= 1
        if left[0] == 0:
            out("done")

    cluster.on("listening", lambda w, _address: out("listening", w.id))
    cluster.on("exit", on_exit)
    cluster.fork()
    cluster.fork()
elif cluster.worker.id == 1:
    s = dgram.create_socket("udp4")

    def bound() -> None:
        s.close()
        cluster.worker.disconnect()

    s.bind(0, "127.0.0.1", callback=bound)
else:
    srv = net.create_server(lambda _c: None)

    def listening() -> None:
        srv.close()
        cluster.worker.disconnect()

    srv.listen(0, "127.0.0.1", callback=listening)
nodish.run()
