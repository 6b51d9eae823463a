"""Cluster IPC scenarios; the primary prints one JSON result line per check.

python ipc.py flood      10,000 messages each way, in order, and a 300 KiB one
python ipc.py handover   a live connection handed from worker 1 to worker 2
python ipc.py forks N    N workers forked (4 at a time) and exited: fds, zombies
"""

import json
import os
import sys

import nodish
from nodish import cluster, dgram, events, net

N = 10_000
BIG = "x" * (300 * 1024)
scenario = sys.argv[1]


def out(**event):
    print(json.dumps(event), flush=True)


def primary_flood():
    w = cluster.fork()
    got = []

    def on_message(msg, _handle):
        if "n" in msg:
            got.append(msg["n"])
            if len(got) == N:
                out(check="primary received", count=len(got), in_order=got == list(range(N)))
        elif "big" in msg:
            out(check="primary big", ok=msg["big"] == BIG)
            w.send({"big": msg["big"]})
        elif "worker received" in msg:
            out(check="worker received", **msg["worker received"])
            w.disconnect()

    w.on("message", on_message)
    w.on("online", lambda: [w.send({"n": i}) for i in range(N)])


def worker_flood():
    got = []
    big_ok = []

    def on_message(msg, _handle):
        if "n" in msg:
            got.append(msg["n"])
        elif "big" in msg:
            big_ok.append(msg["big"] == BIG)
        if len(got) == N and big_ok:
            nodish.process.send(
                {
                    "worker received": {
                        "count": len(got),
                        "in_order": got == list(range(N)),
                        "big": big_ok[0],
                    }
                }
            )

    nodish.process.on("message", on_message)
    for i in range(N):
        nodish.process.send({"n": i})
    nodish.process.send({"big": BIG})


def primary_handover():
    w1, w2 = cluster.fork(), cluster.fork()
    w1.on("listening", lambda addr: out(check="listening", port=addr.port))

    def forward(msg, handle):
        out(check="primary got", msg=msg, handle=type(handle).__name__)
        w2.send("take this", handle)

    w1.on("message", forward)
    w2.on("message", lambda msg, h: (out(check="worker 2", msg=msg), cluster.disconnect()))


def worker_handover():
    if cluster.worker.id == 1:

        def on_connection(sock):
            sock.write(b"w1\n")
            nodish.process.send("here", sock)
            server.close()

        server = net.create_server(on_connection, pause_on_connect=True)
        server.listen(0, "127.0.0.1", exclusive=True)
    else:

        def on_message(msg, sock):
            sock.write(b"w2\n")
            sock.on("data", lambda d: sock.write(b"w2:" + d))
            sock.on("end", lambda: nodish.process.send({"peer": sock.remote_address}))

        nodish.process.on("message", on_message)


def fds():
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out


def zombies():
    me = str(os.getpid())
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and fields[1] == me:
                found.append(int(pid))
    return found


def primary_forks(total):
    # the baseline is taken once the first 4 workers are gone: by then the loop's own
    # descriptors (epoll, signal wakeup, libuv's pipes) exist
    base = None
    started = 0
    exited = 0

    def more():
        nonlocal started
        for _ in range(min(4, total - started)):
            started += 1
            cluster.fork().on("exit", on_exit)

    def on_exit(code, _signal):
        nonlocal exited, base
        exited += 1
        if code != 0:
            out(check="bad exit", code=code)
        if exited == started < total and exited % 4 == 0:
            if base is None:
                base = fds()
            more()
        elif exited == total:
            nodish.process.next_tick(
                lambda: out(check="forks", exited=exited, base=base, now=fds(), zombies=zombies())
            )

    more()


def primary_servers():
    w = cluster.fork()
    server = net.create_server(lambda s: s.end(b"primary\n"))
    udp = dgram.create_socket("udp4", lambda m, r: udp.send(b"primary", r.port, r.address))

    ports = {}

    async def main():
        await server.listen(0, "127.0.0.1")
        await udp.bind(0, "127.0.0.1")
        ports.update(port=server.address().port, udp_port=udp.address().port)
        await events.once(w, "online")
        # hand both over, then stop serving here: from then on the worker alone answers
        w.send("server", server, callback=lambda err: server.close())
        w.send("udp", udp, callback=lambda err: udp.close())

    def on_message(msg, _h):
        if msg == "ready":
            out(check="ready", **ports)
        else:
            out(check="worker", msg=msg)

    def on_stdin():
        nodish.get_loop().remove_reader(0)
        w.send("stop")

    w.on("message", on_message)
    nodish.get_loop().add_reader(0, on_stdin)
    nodish.runtime.spawn(main())


def worker_servers():
    got = {}

    def on_message(msg, handle):
        if msg == "server":
            handle.on("connection", lambda s: s.end(b"worker\n"))
        elif msg == "udp":
            handle.on("message", lambda m, r: handle.send(b"worker", r.port, r.address))
        elif msg == "stop":
            names = sorted(f"{type(h).__module__}.{type(h).__name__}" for h in got.values())
            for h in got.values():
                h.close()
            nodish.process.send({"types": names})
            cluster.worker.disconnect()
            return
        got[msg] = handle
        if len(got) == 2:
            nodish.process.send("ready")

    nodish.process.on("message", on_message)


if cluster.is_primary:
    {
        "flood": primary_flood,
        "servers": primary_servers,
        "handover": primary_handover,
        "forks": lambda: primary_forks(int(sys.argv[2])),
    }[scenario]()
    nodish.run()
else:
    {
        "flood": worker_flood,
        "handover": worker_handover,
        "servers": worker_servers,
        "forks": lambda: None,
    }[scenario]()
    nodish.run()
