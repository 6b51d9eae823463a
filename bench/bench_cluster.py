"""Cluster: short connections per second with 2 workers, nodish against Node's cluster.

Theory of operation
-------------------
Each contender is a fresh cluster: a primary and 2 workers that answer every
connection with a 6-byte greeting and close (bench/servers/nodish_cluster.py and its
twin bench/peers/cluster.js), under each scheduling: ``SCHED_RR`` (the primary accepts
and hands connections over), ``SCHED_NONE`` (both workers accept from one shared
socket) and ``reuse_port`` (each worker binds its own SO_REUSEPORT socket; Node 20 has
no ``reusePort``, so that row has no peer). The load client,
bench/clients/tcp_connect_client.c (built with gcc on first use), keeps 50
connections in flight, each connecting, reading to EOF and closing, and counts the
connections completed per second after a warm-up.

A cluster is 3 processes and this machine has 2 cores, so nothing is pinned: the
cluster and the load client share both cores. Absolute figures therefore say little;
the ratio nodish / Node, measured with the same load in interleaved runs, is the
result. The notes give the client's CPU use (1.0 = one core busy) and the cluster's
(primary + workers) beside each figure.

HTTP keep-alive: the same clusters serving a 12-byte HTTP response
(``nodish.http`` / Node's ``http``), loaded by ``wrk -t1 -c50`` for 3 s; requests per
second, wrk's CPU beside it.

Run alone: ``.venv/bin/python bench/bench_cluster.py [--quick]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import partial

from bench import harness
from bench.harness import BenchError, Row

CLIENT_SRC = harness.BENCH_DIR / "clients" / "tcp_connect_client.c"
NODISH_SERVER = harness.BENCH_DIR / "servers" / "nodish_cluster.py"
NODE_SERVER = harness.BENCH_DIR / "peers" / "cluster.js"
CONCURRENCY = 50


@dataclass
class Settings:
    """The load of one run (full or quick)."""

    warmup: float
    duration: float


FULL = Settings(warmup=0.5, duration=3.0)
QUICK = Settings(warmup=0.2, duration=0.7)


@dataclass
class Tally:
    """One contender's samples and the CPU use seen beside them."""

    values: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)


def _ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Cluster:
    """A cluster's primary (unpinned) that prints its port once both workers listen."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self._err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=harness.ROOT,
        )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = sel.select(30)
        line = self.proc.stdout.readline() if ready else ""
        try:
            self.port = int(line.strip())
        except ValueError:
            raise BenchError(f"{' '.join(cmd)} printed no port: {self.stop()[-2000:]}") from None

    def pids(self) -> list[int]:
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return [self.proc.pid, *(int(p) for p in f.read().split())]

    def cpu_seconds(self) -> float:
        """CPU time used so far by the primary and its workers."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += _ticks(pid)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.seek(0)
        err = self._err.read()
        self._err.close()
        return err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _measure(cmd: list[str], client: str, s: Settings, tally: Tally) -> float:
    cluster = Cluster(cmd)
    try:
        cpu0 = cluster.cpu_seconds()
        args = [client, "--port", str(cluster.port), "--conns", str(CONCURRENCY)]
        args += ["--duration", str(s.duration), "--warmup", str(s.warmup)]
        with harness.stopwatch() as elapsed:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
            wall = elapsed()
        if proc.returncode != 0:
            raise BenchError(f"client failed against {' '.join(cmd)}: {proc.stderr[-2000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        tally.server_cpu.append((cluster.cpu_seconds() - cpu0) / wall)
    finally:
        cluster.stop()
    tally.client_cpu.append(float(out["cpu"]))
    tally.errors.append(int(out["errors"]))
    value = float(out["rate"])
    tally.values.append(value)
    return value


def _measure_http(cmd: list[str], s: Settings, tally: Tally) -> float:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (scripts/setup-system installs it)")
    cluster = Cluster(cmd)
    try:
        url = f"http://127.0.0.1:{cluster.port}/"
        # warm-up, then the measured run
        # wrk takes whole seconds
        subprocess.run([wrk, "-t1", "-c50", "-d1s", url], capture_output=True, timeout=60)
        cpu0 = cluster.cpu_seconds()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with harness.stopwatch() as elapsed:
            proc = subprocess.run(
                [wrk, "-t1", "-c50", f"-d{max(1, round(s.duration))}s", url],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            wall = elapsed()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        tally.server_cpu.append((cluster.cpu_seconds() - cpu0) / wall)
    finally:
        cluster.stop()
    found = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    if proc.returncode != 0 or found is None:
        raise BenchError(f"wrk failed against {' '.join(cmd)}: {proc.stdout}{proc.stderr}")
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", proc.stdout
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", proc.stdout)
    tally.errors.append(
        (sum(int(x) for x in errors.groups()) if errors else 0)
        + (int(non2xx.group(1)) if non2xx else 0)
    )
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tally.client_cpu.append(used / wall)
    value = float(found.group(1))
    tally.values.append(value)
    return value


def _pct(values: list[float]) -> str:
    m = harness.median(values)
    return "—" if m is None else f"{m * 100:.0f}%"


def _policy_row(
    kind: str,
    policy: str,
    client: str,
    node: str,
    missing: str | None,
    s: Settings,
    reps: int,
) -> Row:
    port = str(_free_port())
    commands: dict[str, list[str] | None] = {
        "nodish": None if missing else [harness.PYTHON, str(NODISH_SERVER), policy, port, kind],
        "node": None if policy == "reuse_port" else [node, str(NODE_SERVER), policy, port, kind],
    }
    tallies = {name: Tally() for name in commands}
    what = "wrk -t1 -c50 keep-alive" if kind == "http" else f"{CONCURRENCY} short connections"
    harness.log(f"cluster {kind} {policy}: {what}, {reps} x 2")

    def measure(cmd: list[str], tally: Tally) -> float:
        if kind == "http":
            return _measure_http(cmd, s, tally)
        return _measure(cmd, client, s, tally)

    harness.interleave(
        [
            (name, partial(measure, cmd, tallies[name]) if cmd else lambda: None)
            for name, cmd in commands.items()
        ],
        reps,
    )
    notes = (
        f"client CPU nodish/node {'/'.join(_pct(t.client_cpu) for t in tallies.values())}"
        f"; cluster CPU (primary + 2 workers) "
        f"{'/'.join(_pct(t.server_cpu) for t in tallies.values())}"
        f"; failed {sum(tallies['nodish'].errors)}/{sum(tallies['node'].errors)}"
        ". Unpinned: cluster and client share the 2 cores, read the ratio."
    )
    if policy == "reuse_port":
        notes += " Node 20 has no reusePort: no peer."
    if missing:
        notes = f"{missing}. {notes}"
    label = "HTTP keep-alive" if kind == "http" else "short connections"
    return {
        "name": f"cluster {policy}, 2 workers, {label}",
        "unit": "requests/s" if kind == "http" else "conns/s",
        "nodish": harness.median(tallies["nodish"].values),
        "peer": harness.median(tallies["node"].values),
        "peer_name": f"Node cluster {policy}" if policy != "reuse_port" else "—",
        "samples": {k: t.values for k, t in tallies.items()},
        "notes": notes,
    }


def run(quick: bool = False) -> list[Row]:
    """Short connections and HTTP keep-alive requests per second under each policy,
    nodish against Node's cluster."""
    s = QUICK if quick else FULL
    client = str(harness.build_c(CLIENT_SRC, "tcp_connect_client"))
    missing = harness.module_missing("nodish.cluster", "fork")
    node = harness.require_node()
    reps = harness.repeats(quick)
    rows: list[Row] = []
    for kind in ("tcp", "http"):
        for policy in ("rr", "none", "reuse_port"):
            rows.append(_policy_row(kind, policy, client, node, missing, s, reps))
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps({k: v for k, v in row.items() if k != "samples"}))
