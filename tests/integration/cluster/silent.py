"""A primary that forks one worker and reports, as one JSON line on stdout, what it
read from the worker's output.

    python silent.py SCENARIO

order: silent; the worker writes numbered lines to stdout and stderr, interleaved.
crash: silent; the worker raises at start-up (a traceback on stderr).
flood: silent; the worker writes 3 MiB to stdout and exits, and the primary reads
       nothing until the worker has exited.
loud:  not silent; the worker's output is the primary's (inherited).
stdin: silent; the primary writes 200 kB to the worker's stdin (more than a pipe
       holds) and ends it; the worker answers with what it read, upper-cased.
paused: silent; the primary consumes stdout and pauses it at once, while the worker
       writes 3 MiB; half a second later it resumes.
epipe: silent; the worker closes its stdin, then the primary writes to it; and once
       the worker has exited, again.
"""

import json
import os
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

    def open_fds():
        fds = set()
        for name in os.listdir("/proc/self/fd"):
            try:
                os.readlink(f"/proc/self/fd/{name}")  # the listing's own fd is gone
            except OSError:
                continue
            fds.add(int(name))
        return fds

    def online():
        # what the primary holds for this worker: its three pipes, channel and pidfd
        mine = {proc.stdin._fd, proc.stdout._fd, proc.stderr._fd, proc._pidfd}
        mine.add(proc.endpoint.channel._sock.fileno())
        report["fds_left"] = sorted(open_fds() - mine)

    if scenario != "loud":
        worker.on("online", online)

    def done(code=None, signal=None):
        report["fds_now"] = sorted(open_fds())
        report.update(
            code=code,
            ended=sorted(ended),
            types=sorted(report["types"]),
            stdout=b"".join(got["stdout"]).decode("latin-1"),
            stderr=b"".join(got["stderr"]).decode("latin-1"),
        )
        print(json.dumps(report), flush=True)

    if scenario == "loud":
        report["streams"] = [proc.stdin, proc.stdout, proc.stderr]
        worker.on("exit", done)
    elif scenario == "epipe":
        errors = []

        def failed(err):
            errors.append(err.code)
            worker.process.kill("SIGKILL")

        def exited(code, signal):
            report["destroyed"] = proc.stdin.destroyed
            proc.stdin.write(b"too late", callback=lambda err: done([*errors, err.code]))

        proc.stdin.on("error", failed)
        proc.stdout.once("data", lambda _: proc.stdin.write(b"closed already"))
        worker.on("exit", exited)
    elif scenario == "paused":
        exited = []
        worker.on("exit", lambda code, signal: exited.append(code))
        collect("stdout", proc.stdout)
        collect("stderr", proc.stderr)
        proc.stdout.pause()

        def check():
            # paused: the primary stopped reading, so the worker waits in write()
            report["while_paused"] = {
                "exited": bool(exited),
                "held": proc.stdout.readable_length,
                "discarded": proc.stdout.discarded,
            }
            proc.stdout.resume()

        def started():
            # the window opens once the worker has written (it may start slowly)
            if proc.stdout.readable_length:
                nodish.timers.set_timeout(check, 0.5)
            else:
                nodish.timers.set_timeout(started, 0.05)

        started()
        # the report needs both the whole output and the exit code, which may come in
        # either order
        closed = []

        def both(*_):
            closed.append(1)
            if len(closed) == 2:
                done(worker.process.exit_code)

        proc.stdout.on("close", both)
        worker.on("exit", both)
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
        if scenario == "stdin":
            report["write"] = proc.stdin.write(b"hello ")
            proc.stdin.write("world\n")
            proc.stdin.end(b"x" * 200_000)
            proc.stdin.on("finish", lambda: report.update(finished=True))
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
    if scenario == "stdin":
        data = sys.stdin.buffer.read()
        sys.stdout.buffer.write(data.upper())
        sys.exit(0)
    if scenario == "epipe":
        import time

        os.close(0)
        print("stdin closed", flush=True)
        time.sleep(30)  # until the primary kills it
    if scenario in ("flood", "paused"):
        sys.stdout.buffer.write(b"".join(b"%07d\n" % i for i in range(3 * MIB // 8)))
        sys.stdout.flush()
        sys.stderr.write("flood done\n")
    else:
        for i in range(1000):
            print(f"out {i}", flush=i % 7 == 0)
            if i % 10 == 0:
                print(f"err {i}", file=sys.stderr, flush=True)
    sys.stdout.flush()
