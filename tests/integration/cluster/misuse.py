"""A careless user of nodish.cluster: every misuse must raise at once with Node's code
(or reach the callback), and the cluster must go on. Prints one JSON line per check."""

import json

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


if cluster.is_primary:
    out(check="process.send in the primary", code=code_of(lambda: nodish.process.send("x")))
    out(check="setup_primary(bogus=1)", code=code_of(lambda: cluster.setup_primary(bogus=1)))
    out(check="fork(env='x')", code=code_of(lambda: cluster.fork(env="x")))
    out(check="disconnect(callback=5)", code=code_of(lambda: cluster.disconnect(callback=5)))
    out(check="reload(timeout=-1)", code=code_of(lambda: cluster.reload(timeout=-1)))
    w = cluster.fork()
    out(check="send(a set)", code=code_of(lambda: w.send({1, 2})))
    out(check="send(callback=3)", code=code_of(lambda: w.send("x", callback=3)))
    out(check="send(handle='no')", code=code_of(lambda: w.send("x", "no")))
    out(check="kill('SIGBOGUS')", code=code_of(lambda: w.kill("SIGBOGUS")))

    def on_message(msg, _h):
        out(check="worker says", msg=msg)
        w.disconnect()

    def on_exit(code, sig):
        out(check="exit", code=code, signal=sig)
        late = []
        w.send(
            "too late",
            callback=lambda err: (late.append(err.code), out(check="late send", code=err.code)),
        )

    w.on("message", on_message)
    w.on("exit", on_exit)
    nodish.run()
else:
    report = {
        "fork in a worker": code_of(lambda: cluster.fork()),
        "setup_primary in a worker": code_of(lambda: cluster.setup_primary()),
        "process.send(a set)": code_of(lambda: nodish.process.send({1})),
        "process.send(callback='x')": code_of(lambda: nodish.process.send(1, callback="x")),
    }
    nodish.process.send(report)
    nodish.run()
