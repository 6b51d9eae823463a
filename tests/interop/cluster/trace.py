"""nodish's side of the cluster event-trace oracle (see trace.js, its twin)."""

import json

import nodish
from nodish import cluster, net


def log(*a):
    print(json.dumps(a), flush=True)


if cluster.is_primary:
    ports = []
    cluster.on("setup", lambda s: log("cluster", "setup"))
    for ev in ("fork", "online", "disconnect"):
        cluster.on(ev, lambda w, ev=ev: log("cluster", ev, w.id))
    cluster.on(
        "listening", lambda w, a: log("cluster", "listening", w.id, a.address_type, a.address)
    )

    def on_message(w, m, _handle):
        log("cluster", "message", w.id, m["id"])
        ports.append(m["port"])
        if len(ports) == 2:
            cluster.disconnect(lambda: log("primary", "all disconnected", ports[0] == ports[1]))

    cluster.on("message", on_message)
    cluster.on(
        "exit", lambda w, c, s: log("cluster", "exit", w.id, c, s, w.exited_after_disconnect)
    )
    for _ in range(2):
        w = cluster.fork()
        w.on("online", lambda w=w: log("worker", "online", w.id))
        w.on("listening", lambda a, w=w: log("worker", "listening", w.id, a.port is None))
        w.on("message", lambda m, h, w=w: log("worker", "message", w.id, m["id"]))
        w.on(
            "disconnect",
            lambda w=w: log("worker", "disconnect", w.id, w.is_connected(), w.is_dead()),
        )
        w.on("exit", lambda c, s, w=w: log("worker", "exit", w.id, c, s, w.is_dead()))
    nodish.run()
else:
    srv = net.create_server(lambda s: s.end("hi"))
    srv.listen(
        0,
        "127.0.0.1",
        callback=lambda: nodish.process.send({"port": srv.address().port, "id": cluster.worker.id}),
    )
    nodish.run()
