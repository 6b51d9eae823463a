"""nodish's side of the cluster fault oracle (see faults.js, its twin)."""

import json
import os

import nodish
from nodish import cluster, net


def log(*a):
    print(json.dumps(a), flush=True)


if cluster.is_primary:
    taken = net.create_server()

    def start():
        port = taken.address().port

        def on_exit(w, code, sig):
            log("exit", w.id, code, sig, w.exited_after_disconnect, w.is_dead(), w.is_connected())
            if not cluster.workers:
                taken.close()

        cluster.on("exit", on_exit)
        cluster.on("disconnect", lambda w: log("disconnect", w.id))
        victim = cluster.fork({"ROLE": "victim"})

        def on_listening(_address):
            log("listening", victim.id)
            victim.process.kill("SIGKILL")

        victim.on("listening", on_listening)
        blocked = cluster.fork({"ROLE": "blocked", "PORT": str(port)})
        blocked.on("message", lambda m, h: log("message", blocked.id, m))

    taken.listen(0, "127.0.0.1", callback=start)
    nodish.run()
else:
    srv = net.create_server()

    def on_error(err):
        port_ok = err.port == int(os.environ["PORT"])
        nodish.process.send({"code": err.code, "syscall": err.syscall, "port": port_ok})
        cluster.worker.disconnect()

    srv.on("error", on_error)
    srv.listen(int(os.environ["PORT"]) if os.environ["ROLE"] == "blocked" else 0, "127.0.0.1")
    nodish.run()
