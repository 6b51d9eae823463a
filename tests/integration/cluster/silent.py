"""A primary that forks one worker and reports, as one JSON line on stdout, what it
read from the worker's output.

    python silent.py SCENARIO

order: silent; the worker writes numbered lines to stdout and stderr, interleaved.
crash: silent; the worker raises at start-up (a traceback on stderr).
flood: silent; the worker writes 3 MiB to stdout and exits, and the primary reads
       nothing until the worker has exited.
loud:  not silent; the worker's output is the primary's (inherited).
"""

import json
import sys

import nodish
from nodish import cluster

scenario = sys.argv[1]
MIB = 1024 * 1024

if cluster.is_primary:
    cluster.setup_primary(silent=scenario != "loud")
    worker = cluster.fork()
    proc = worker.process
    got = {"stdout": [], "stderr": []}
    ended = []
    report = {"types": set()}

    def collect(name, stream):
        def data(chunk):
            report["types"].add(type(chunk).__name__)
            got[name].append(chunk)

        stream.on("data", data)
        stream.on("end", lambda: ended.append(name))

    def done(code=None, signal=None):
        report.update(
            code=code,
            ended=sorted(ended),
            types=sorted(report["types"]),
            stdout=b"".join(got["stdout"]).decode("latin-1"),
            stderr=b"".join(got["stderr"]).decode("latin-1"),
        )
        print(json.dumps(report), flush=True)

    if scenario == "loud":
        report["streams"] = [proc.stdout, proc.stderr]
        worker.on("exit", done)
    elif scenario == "flood":
        # nobody reads while the worker writes: it must still exit
        def exited(code, signal):
            report["discarded"] = proc.stdout.discarded
            report["held"] = proc.stdout.readable_length
            collect("stdout", proc.stdout)
            collect("stderr", proc.stderr)
            proc.stdout.on("close", lambda: done(code))

        worker.on("exit", exited)
    else:
        collect("stdout", proc.stdout)
        collect("stderr", proc.stderr)
        closed = []

        def on_close():
            closed.append(1)
            if len(closed) == 3:  # both streams and the process
                done(worker.process.exit_code)

        proc.stdout.on("close", on_close)
        proc.stderr.on("close", on_close)
        worker.on("exit", lambda *_: on_close())
    nodish.run()
else:
    if scenario == "crash":
        raise RuntimeError("this worker cannot start")
    if scenario == "flood":
        sys.stdout.buffer.write(b"".join(b"%07d\n" % i for i in range(3 * MIB // 8)))
        sys.stdout.flush()
        sys.stderr.write("flood done\n")
    else:
        for i in range(1000):
            print(f"out {i}", flush=i % 7 == 0)
            if i % 10 == 0:
                print(f"err {i}", file=sys.stderr, flush=True)
    sys.stdout.flush()
