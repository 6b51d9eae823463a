"""A cluster primary driven by the tests: JSON events on stdout, JSON commands on stdin.

    python serve.py MODE [--port P] [--workers N] [--udp] [--respawn] [--heartbeat S]

MODE is rr, none (the scheduling policy), exclusive or reuse_port (the listen option).
Workers answer each TCP connection (or UDP datagram) with ``"<id> <pid>\\n"``.
"""

import argparse
import json
import os
import resource
import time

import nodish
from nodish import cluster, dgram, http, net

parser = argparse.ArgumentParser()
parser.add_argument("mode")
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--workers", type=int, default=2)
parser.add_argument("--udp", action="store_true")
parser.add_argument("--http", action="store_true", help="an HTTP server (keep-alive)")
parser.add_argument("--respawn", action="store_true")
parser.add_argument("--heartbeat", type=float, default=0)
parser.add_argument("--reload-signal", default=None)
parser.add_argument("--stop-timeout", type=float, default=0)
parser.add_argument(
    "--raise-on-message", action="store_true", help="the primary's first 'message' raises"
)
parser.add_argument("--no-listen", action="store_true", help="workers never listen")
parser.add_argument(
    "--exit-in-listening", action="store_true", help="worker 1 calls process.exit(5) there"
)
parser.add_argument(
    "--flood", type=int, default=0, help="worker 1 sends this many 1 kB messages at once"
)
parser.add_argument("--crash", action="store_true", help="workers fail at start-up")
parser.add_argument(
    "--slow-start", type=float, default=0, help="workers start their loop this late"
)
parser.add_argument(
    "--garbage", action="store_true", help="worker 1 writes non-JSON on its channel"
)
parser.add_argument(
    "--close-channel", action="store_true", help="worker 1 closes its IPC descriptor by hand"
)
parser.add_argument(
    "--bad-handle",
    action="store_true",
    help="worker 1 sends a handle message without its descriptor",
)
parser.add_argument(
    "--mismatch-first",
    action="store_true",
    help="worker 1 takes its first handed connection for another one",
)
opts = parser.parse_args()


def out(**event):
    print(json.dumps(event), flush=True)


if cluster.is_primary:
    if opts.mode == "none":
        cluster.scheduling_policy = cluster.SCHED_NONE
    settings = {}
    if opts.respawn:
        settings["respawn"] = True
    if opts.heartbeat:
        settings["heartbeat"] = opts.heartbeat
    if opts.reload_signal:
        settings["reload_signal"] = opts.reload_signal
    if opts.stop_timeout:
        settings["stop_timeout"] = opts.stop_timeout
    cluster.setup_primary(**settings)
    listening = set()

    def on_listening(w, addr):
        out(ev="listening", id=w.id, pid=w.process.pid, port=addr.port)
        listening.add(w.id)
        if len(listening) == opts.workers:
            out(ev="ready")

    cluster.on("listening", on_listening)
    cluster.on("fork", lambda w: out(ev="fork", id=w.id, t=time.monotonic()))
    cluster.on("online", lambda w: out(ev="online", id=w.id))
    cluster.on("disconnect", lambda w: out(ev="disconnect", id=w.id))
    cluster.on(
        "exit",
        lambda w, code, sig: out(
            ev="exit",
            id=w.id,
            code=code,
            signal=sig,
            asked=w.exited_after_disconnect,
            t=time.monotonic(),
        ),
    )
    cluster.on("message", lambda w, m, h: out(ev="message", id=w.id, msg=m))
    if opts.flood:
        import resource

        def peak_kb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        flood = {"n": 0, "in_order": True, "peak_before": peak_kb()}

        def count(w, m, h):
            if not isinstance(m, str):
                return
            flood["in_order"] &= int(m[:8]) == flood["n"]
            flood["n"] += 1
            if flood["n"] == opts.flood:
                out(ev="flooded", growth_kb=peak_kb() - flood.pop("peak_before"), **flood)

        cluster.remove_all_listeners("message")
        cluster.on("message", count)
        cluster.on(
            "message", lambda w, m, h: isinstance(m, dict) and out(ev="message", id=w.id, msg=m)
        )
    if opts.raise_on_message:

        def buggy(w, m, h):
            cluster.remove_listener("message", buggy)
            raise ValueError("a bug in the primary's 'message' listener")

        cluster.prepend_listener("message", buggy)

    # the primary lives while the test drives it, even with no worker left
    keepalive = nodish.timers.set_interval(lambda: None, 3600)

    def command(cmd):
        what = cmd["cmd"]
        if what == "kill":
            cluster.workers[cmd["id"]].process.kill(cmd.get("signal", "SIGKILL"))
        elif what == "send":
            cluster.workers[cmd["id"]].send(cmd["msg"])
        elif what == "reload":
            cluster.reload(
                timeout=cmd.get("timeout", 10),
                callback=lambda err: out(ev="reloaded", err=repr(err) if err else None),
            )
        elif what == "disconnect":
            nodish.timers.clear_interval(keepalive)
            cluster.disconnect(lambda: out(ev="all-disconnected"))
        elif what == "stats":
            # replies still awaited: none once every handed connection is acknowledged
            for w in cluster.workers.values():
                w.send({"stats": True})
            pending = {w.id: len(w.process.endpoint._callbacks) for w in cluster.workers.values()}
            out(ev="stats", pending=pending)
        elif what == "block":
            time.sleep(cmd["seconds"])  # the scenario: the primary's loop stops
            out(ev="unblocked")
        elif what == "workers":
            out(
                ev="workers",
                ids=sorted(cluster.workers),
                pids=[w.process.pid for w in cluster.workers.values()],
            )

    stdin_buf = [b""]

    def on_stdin():
        # os.read, not sys.stdin.readline(): a second command that came in the same
        # chunk would wait in Python's buffer with nothing left to wake the reader
        chunk = os.read(0, 65536)
        if not chunk:
            nodish.get_loop().remove_reader(0)
            nodish.timers.clear_interval(keepalive)
            return
        *lines, stdin_buf[0] = (stdin_buf[0] + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                command(json.loads(line))

    nodish.get_loop().add_reader(0, on_stdin)
    for _ in range(opts.workers):
        cluster.fork()
    nodish.run()
else:
    if opts.crash:
        raise ImportError("this worker cannot start")
    if opts.slow_start:
        time.sleep(opts.slow_start)  # the scenario: a long start-up before the loop runs
    me = f"{cluster.worker.id} {os.getpid()}\n".encode()
    kw = {}
    if opts.mode == "exclusive":
        kw["exclusive"] = True
    if opts.mode == "reuse_port":
        kw["reuse_port"] = True

    def on_message(msg, handle):
        if "stats" in msg:
            nodish.process.send({"pending": len(nodish.process._ipc._callbacks)})
        if "block" in msg:
            nodish.process.send({"blocked": cluster.worker.id})
            time.sleep(msg["block"])  # the scenario: this worker's loop stops
            nodish.process.send({"unblocked": cluster.worker.id})
        if "exhaust" in msg:
            # the scenario: this worker has no descriptor left (EMFILE on accept)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            held.append(soft)
            top = max(int(fd) for fd in os.listdir("/proc/self/fd"))
            resource.setrlimit(resource.RLIMIT_NOFILE, (top + 1, hard))
            try:
                while True:
                    held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                pass
            nodish.process.send({"exhausted": cluster.worker.id, "cpu": _cpu()})
        if "release" in msg and held:
            cpu = _cpu()
            for fd in held[1:]:
                os.close(fd)
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (held[0], hard))
            held.clear()
            nodish.process.send({"released": cluster.worker.id, "cpu": cpu})

    held: list[int] = []  # the limit to restore, then the descriptors taken ("exhaust")

    def _cpu() -> float:
        t = os.times()
        return t.user + t.system

    nodish.process.on("message", on_message)

    if opts.mismatch_first and cluster.worker.id == 1:
        from nodish.cluster import child

        real_check = child._peer_mismatch
        checked = []

        def lying_check(sock, peer):
            checked.append(peer)
            return "made up by the test" if len(checked) == 1 else real_check(sock, peer)

        child._peer_mismatch = lying_check

    def on_error(err):
        nodish.process.send({"error": err.code, "syscall": err.syscall})
        cluster.worker.disconnect()

    if opts.no_listen:
        pass  # the channel's 'message' listener keeps this worker alive
    elif opts.udp:
        sock = dgram.create_socket("udp4")
        sock.on("message", lambda data, rinfo: sock.send(me, rinfo.port, rinfo.address))
        sock.on("error", on_error)
        sock.bind(opts.port, "127.0.0.1", exclusive=opts.mode == "exclusive")
    else:
        if opts.http:
            server = http.create_server(lambda req, res: res.end(me))
        else:

            def answer(sock):
                sock.on("error", lambda err: None)  # a client that gave up (a timeout)
                sock.end(me)

            server = net.create_server(answer)
        server.on("error", on_error)
        server.listen(opts.port, "127.0.0.1", **kw)
        if opts.exit_in_listening and cluster.worker.id == 1:
            server.once("listening", lambda: nodish.process.exit(5))
        if opts.flood and cluster.worker.id == 1:

            def flood():
                # careless: ignores send()'s False (Node's backpressure hint) and
                # queues everything at once; the queue is this worker's memory
                refused = [
                    i for i in range(opts.flood) if not nodish.process.send(f"{i:08d}" + "x" * 992)
                ]
                nodish.process.send({"first_refused": refused[0] if refused else None})

            server.once("listening", flood)
        if opts.close_channel and cluster.worker.id == 1:
            ipc_sock = nodish.process._ipc.channel._sock
            server.once("listening", lambda: os.close(ipc_sock.fileno()))
        if opts.bad_handle and cluster.worker.id == 1:
            frame = b'{"cmd":"NODE_HANDLE","type":"net.Socket","msg":"no fd"}\n'
            server.once("listening", lambda: nodish.process._ipc.channel._sock.send(frame))
        if opts.garbage and cluster.worker.id == 1:
            # bypass the encoder: bytes that are no JSON frame at all
            server.once("listening", lambda: nodish.process._ipc.channel._sock.send(b"{oops\n"))
    nodish.run()
