"""A careless user of nodish.cluster: every misuse must raise at once with Node's code
(or reach the callback), and the cluster must go on. Prints one JSON line per check."""

import json
import os
import threading

import nodish
from nodish import cluster


def out(**event):
    print(json.dumps(event), flush=True)


def code_of(fn):
    try:
        fn()
    except Exception as exc:
        return getattr(exc, "code", type(exc).__name__)
    return None


def in_thread(fn):
    """``code_of(fn)`` from another thread while the loop runs."""
    result = []
    t = threading.Thread(target=lambda: result.append(code_of(fn)))
    t.start()
    t.join()
    return result[0]


if cluster.is_primary:
    # the test sets NODE_CLUSTER_SCHED_POLICY=garbage: the default, as in Node
    out(check="policy from a garbage variable", code=cluster.scheduling_policy)
    out(check="process.send in the primary", code=code_of(lambda: nodish.process.send("x")))
    out(check="setup_primary(bogus=1)", code=code_of(lambda: cluster.setup_primary(bogus=1)))
    out(check="fork(env='x')", code=code_of(lambda: cluster.fork(env="x")))
    out(check="fork(env={'A': None})", code=code_of(lambda: cluster.fork(env={"A": None})))
    out(check="setup_primary(args='abc')", code=code_of(lambda: cluster.setup_primary(args="abc")))
    out(
        check="setup_primary(heartbeat=-1)",
        code=code_of(lambda: cluster.setup_primary(heartbeat=-1)),
    )
    out(
        check="setup_primary(reload_signal='SIGBOGUS')",
        code=code_of(lambda: cluster.setup_primary(reload_signal="SIGBOGUS")),
    )
    cluster.scheduling_policy = 7
    out(check="scheduling_policy=7", code=code_of(lambda: cluster.fork()))
    cluster.scheduling_policy = cluster.SCHED_RR
    out(check="disconnect(callback=5)", code=code_of(lambda: cluster.disconnect(callback=5)))
    out(check="reload(timeout=-1)", code=code_of(lambda: cluster.reload(timeout=-1)))
    # a number in env becomes its text, as Node stringifies env values
    w = cluster.fork(env={"NUM": 1, "FLOAT": 2.5})
    # frozen at the first fork, as in Node: later assignments change nothing
    cluster.scheduling_policy = cluster.SCHED_NONE
    out(check="policy in force after a late assignment", code=cluster._primary.state.policy)
    out(check="send(a set)", code=code_of(lambda: w.send({1, 2})))
    out(check="send(callback=3)", code=code_of(lambda: w.send("x", callback=3)))
    out(check="send(handle='no')", code=code_of(lambda: w.send("x", "no")))
    out(check="kill('SIGBOGUS')", code=code_of(lambda: w.kill("SIGBOGUS")))
    out(check="kill(-1)", code=code_of(lambda: w.kill(-1)))
    out(check="process.kill(-1)", code=code_of(lambda: w.process.kill(-1)))
    out(check="process.kill(0)", code=code_of(lambda: w.process.kill(0)))

    def on_message(msg, _h):
        out(check="worker says", msg=msg)
        out(check="fork from a thread", code=in_thread(cluster.fork))
        out(check="send from a thread", code=in_thread(lambda: w.send("x")))
        out(check="kill from a thread", code=in_thread(w.kill))
        out(check="reload from a thread", code=in_thread(cluster.reload))
        running = cluster.reload(callback=on_reloaded)
        out(check="reload joins a running one", code=cluster.reload() is running)

    def on_reloaded(err):
        # worker 2 replaced worker 1; disconnect it twice (Node 20's worker dies of
        # ERR_IPC_DISCONNECTED then; nodish ignores the second call)
        out(check="reloaded", code=err, ids=sorted(cluster.workers))
        new = cluster.workers[2]
        new.on("exit", lambda code, sig: on_exit(new, code, sig))
        new.disconnect()
        out(check="disconnect twice", code=code_of(new.disconnect))

    def on_exit(new, code, sig):
        out(check="exit", code=code, signal=sig)

        def late(err):
            out(check="late send", code=err.code)
            cluster.reload(callback=lambda err: out(check="reload with no workers", code=err))

        new.send("too late", callback=late)

    w.on("message", on_message)
    nodish.run()
else:
    report = {
        "fork in a worker": code_of(lambda: cluster.fork()),
        "setup_primary in a worker": code_of(lambda: cluster.setup_primary()),
        "reload in a worker": code_of(lambda: cluster.reload()),
        "process.send(a set)": code_of(lambda: nodish.process.send({1})),
        "process.send(callback='x')": code_of(lambda: nodish.process.send(1, callback="x")),
        "env": [os.environ["NUM"], os.environ["FLOAT"]],
    }
    if cluster.worker.id == 1:

        def from_thread():
            report["process.send from a thread"] = in_thread(lambda: nodish.process.send(1))
            nodish.process.send(report)

        nodish.timers.set_immediate(from_thread)
    # listening, so that a reload can replace this worker
    nodish.net.create_server(lambda s: s.end()).listen(0, "127.0.0.1")
    nodish.run()
