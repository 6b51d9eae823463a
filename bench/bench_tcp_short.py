"""TCP short connections: connections per second and server CPU per connection.

Theory of operation
-------------------
Three servers, each a fresh process pinned to core 0 that prints its port: nodish's
Node-style program (bench/servers/nodish_tcp_short.py), Node's ``net``
(bench/peers/tcp_short.js) and a bare uvloop ``asyncio.Protocol``
(bench/servers/bare_uvloop_short.py, the reference). Each answers a connection's first
chunk (the request) with a 6-byte reply and ends the connection; it closes once the
client's FIN arrives. The load client, bench/clients/tcp_connect_client.c with
``--send 32`` (built with gcc on first use), runs on core 1 and keeps 50 connections in
flight: connect, send a 32-byte request, read to EOF, close, and a new one takes its
place. This is the whole life of a connection (accept, ``'connection'``, ``'data'``,
``end()``, ``'end'``, ``'close'``) under load, the cost that cluster's ``none`` policy
and HTTP ``Connection: close`` pay.

Two figures per server, medians of interleaved runs (nodish, Node, bare, nodish, ...):

- connections/s completed during the measured interval (after a warm-up);
- server CPU microseconds per connection: the server's user+system CPU time over the
  measured interval (from /proc/<pid>/stat) divided by the connections completed in
  it. Lower is better. On a shared machine this moves far less than the rate.

The notes give the client's and the server's CPU use (1.0 = one core busy).

Run alone: ``.venv/bin/python -m bench tcp_short [--quick]``.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial

from bench import harness
from bench.harness import BenchError, Row, Server

CLIENT_SRC = harness.BENCH_DIR / "clients" / "tcp_connect_client.c"
NODISH_SERVER = harness.BENCH_DIR / "servers" / "nodish_tcp_short.py"
BARE_SERVER = harness.BENCH_DIR / "servers" / "bare_uvloop_short.py"
NODE_SERVER = harness.BENCH_DIR / "peers" / "tcp_short.js"

CONCURRENCY = 50
REQUEST_SIZE = 32


@dataclass
class Settings:
    """The load of one run (full or quick)."""

    warmup: float
    duration: float


FULL = Settings(warmup=0.5, duration=3.0)
QUICK = Settings(warmup=0.3, duration=1.0)


@dataclass
class Tally:
    """One contender's samples and the CPU use seen beside them."""

    rates: list[float] = field(default_factory=list)
    us_per_conn: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


def _measure(cmd: list[str] | None, client: str, s: Settings, tally: Tally) -> float | None:
    """One run: start the server, load it, record rate and CPU per connection."""
    if cmd is None:
        return None
    with Server(cmd) as server:
        args = [client, "--port", str(server.port), "--conns", str(CONCURRENCY)]
        args += ["--send", str(REQUEST_SIZE), "--duration", str(s.duration)]
        args += ["--warmup", str(s.warmup)]
        proc = subprocess.Popen(
            harness.pinned(args, harness.CLIENT_CORE),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The server's CPU is read at the client's measuring window: after its warm-up
        # and when it exits (a few ms of start and exit fall outside, the same for all).
        time.sleep(s.warmup)
        cpu0 = server.cpu_seconds()
        try:
            out, err = proc.communicate(timeout=s.warmup + s.duration + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise BenchError(f"client hung against {' '.join(cmd)}") from None
        cpu1 = server.cpu_seconds()
        server.check_alive()
        if proc.returncode != 0:
            raise BenchError(f"client failed against {' '.join(cmd)}: {err[-2000:]}")
        errors = server.stop()
    if errors.strip():
        raise BenchError(f"server {' '.join(cmd)} reported errors:\n{errors[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    conns = int(result["conns"])
    seconds = float(result["seconds"])
    if conns == 0:
        raise BenchError(f"no connection completed against {' '.join(cmd)}")
    rate = conns / seconds
    tally.rates.append(rate)
    tally.us_per_conn.append((cpu1 - cpu0) / conns * 1e6)
    tally.client_cpu.append(float(result["cpu"]))
    tally.server_cpu.append((cpu1 - cpu0) / seconds)
    return rate


def _pct(values: list[float]) -> str:
    m = harness.median(values)
    return "—" if m is None else f"{m * 100:.0f}%"


def run(quick: bool = False) -> list[Row]:
    """Measure short connections per second and server CPU per connection."""
    s = QUICK if quick else FULL
    client = str(harness.build_c(CLIENT_SRC, "tcp_connect_client"))
    missing = harness.module_missing("nodish.net", "create_server")
    commands: dict[str, list[str] | None] = {
        "nodish": None if missing else [harness.PYTHON, str(NODISH_SERVER)],
        "node": [harness.require_node(), str(NODE_SERVER)],
        "bare": [harness.PYTHON, str(BARE_SERVER)],
    }
    reps = harness.repeats(quick)
    harness.log(
        f"tcp short connections, {CONCURRENCY} in flight, {s.duration:g} s: {reps} x 3 servers"
    )
    tallies = {name: Tally() for name in commands}
    harness.interleave(
        [
            (name, partial(_measure, cmd, client, s, tallies[name]))
            for name, cmd in commands.items()
        ],
        reps,
    )
    notes = (
        f"client CPU nodish/node/bare {'/'.join(_pct(t.client_cpu) for t in tallies.values())}"
        f"; server CPU {'/'.join(_pct(t.server_cpu) for t in tallies.values())}."
    )
    if missing:
        notes = f"{missing}. {notes}"
    name = f"TCP short connections, {CONCURRENCY} in flight, {REQUEST_SIZE} B request"
    rows: list[Row] = []
    for suffix, unit, attr, lower in (
        ("", "conns/s", "rates", False),
        (": server CPU per connection", "µs/conn", "us_per_conn", True),
    ):
        row: Row = {
            "name": name + suffix,
            "unit": unit,
            "nodish": harness.median(getattr(tallies["nodish"], attr)),
            "peer": harness.median(getattr(tallies["node"], attr)),
            "peer_name": "Node net",
            "reference": harness.median(getattr(tallies["bare"], attr)),
            "reference_name": "bare uvloop",
            "samples": {k: getattr(t, attr) for k, t in tallies.items()},
            "notes": notes,
        }
        if lower:
            row["lower_is_better"] = True
        rows.append(row)
    return rows
