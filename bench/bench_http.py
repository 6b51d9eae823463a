"""HTTP/1.1 hello world: requests/s and p99 (keep-alive and Connection: close), and
memory per idle keep-alive connection; nodish vs Node's http vs uvicorn vs a bare
uvloop + httptools Protocol.

Theory of operation
-------------------
Four servers answer ``GET /`` with the same bytes (``Content-Type`` and
``Content-Length`` headers, a ``Date``, a 12-byte body), each a fresh process pinned to
core 0 that prints its port: nodish as a user writes it (``write_head`` + ``end``,
bench/servers/nodish_http_hello.py), Node's ``http`` (bench/peers/http_hello.js),
uvicorn on uvloop and httptools with a bare ASGI app
(bench/servers/uvicorn_http_hello.py), and a bare uvloop Protocol driving httptools
with no API layer at all (bench/servers/bare_http_hello.py: the ceiling Python can
reach). wrk drives each from core 1:

- keep-alive: ``wrk -t1 -c64 --latency``: requests/s, the p99 latency, and requests per
  CPU-second the server used (robust when the shared machine starves the server);
- ``Connection: close``: the same with the header, so every request is a new TCP
  connection (requests/s is connections/s).

Memory per idle connection: 10,000 connections each make one request and stay open
(bench/clients/http_hold.py, on core 1); (server VmRSS after - before) / connections.
The servers' keep-alive timeout is raised for that run so that none is closed early.

Contenders are interleaved run by run; each figure is the median. Beside every figure
the notes give wrk's CPU use and the server's (1.0 = one core busy): wrk near 100%
means the figure is wrk's limit, not the server's. The machine is shared: compare the
ratios of one run, not absolute figures across runs.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

from bench import harness
from bench.harness import BenchError, Row, Server

SERVERS = harness.BENCH_DIR / "servers"
NODISH_SERVER = SERVERS / "nodish_http_hello.py"
UVICORN_SERVER = SERVERS / "uvicorn_http_hello.py"
BARE_SERVER = SERVERS / "bare_http_hello.py"
NODE_SERVER = harness.BENCH_DIR / "peers" / "http_hello.js"
HOLD_CLIENT = harness.BENCH_DIR / "clients" / "http_hold.py"
CONNS = 64
IDLE_CONNS = 10_000
FD_HEADROOM = 64
HOLD_SECONDS = "600"  # keep-alive timeout of the servers during the idle-memory run


@dataclass
class Tally:
    """One contender's samples and the CPU use seen beside them."""

    values: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    per_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


def _commands(hold: bool = False) -> dict[str, list[str]]:
    extra = [HOLD_SECONDS] if hold else []
    return {
        "nodish": [harness.PYTHON, str(NODISH_SERVER), *extra],
        "node": [harness.require_node(), str(NODE_SERVER), *extra],
        "uvicorn": [harness.PYTHON, str(UVICORN_SERVER)],
        "bare": [harness.PYTHON, str(BARE_SERVER)],
    }


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(port: int, conns: int, duration: float, close: bool) -> tuple[float, float, float]:
    """Requests/s, p99 latency (ms) and wrk's CPU use (cores) for one wrk run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (scripts/setup-system installs it)")
    cmd = [wrk, "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}/")
    start = time.monotonic()
    proc = subprocess.Popen(
        harness.pinned(cmd, harness.CLIENT_CORE),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {err.strip()} {out.strip()}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if rate is None or p99 is None:
        raise BenchError(f"wrk printed no rate or latency: {out}")
    if "Non-2xx or 3xx responses" in out:
        raise BenchError(f"wrk got error responses: {out}")
    latency = float(p99.group(1)) * _UNITS[p99.group(2)]
    return float(rate.group(1)), latency, (usage.ru_utime + usage.ru_stime) / wall


_wait_listening = harness.wait_listening


def _measure(cmd: list[str], duration: float, close: bool, tally: Tally) -> None:
    with Server(cmd) as server:
        _wait_listening(server.port)
        _wrk(server.port, 4, 1, close)  # warm-up
        cpu0 = server.cpu_seconds()
        t0 = time.monotonic()
        rate, p99, client_cpu = _wrk(server.port, CONNS, duration, close)
        wall = time.monotonic() - t0
        server.check_alive()
        cpu = server.cpu_seconds() - cpu0
        tally.server_cpu.append(cpu / wall)
    tally.values.append(rate)
    # requests per CPU-second the server used: on a shared machine the server may not
    # get its core all the time, and this figure does not depend on how much it got
    if cpu > 0:
        tally.per_cpu.append(rate * wall / cpu)
    tally.p99.append(p99)
    tally.client_cpu.append(client_cpu)


def _idle_memory(cmd: list[str], conns: int, tally: Tally) -> None:
    with Server(cmd) as server:
        _wait_listening(server.port)
        before = server.rss_bytes()
        proc = subprocess.Popen(
            harness.pinned(
                [sys.executable, str(HOLD_CLIENT), str(server.port), str(conns)],
                harness.CLIENT_CORE,
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                ready = sel.select(180)
            line = proc.stdout.readline() if ready else ""
            if not line:
                proc.kill()
                raise BenchError(f"hold client gave no result: {proc.stderr.read()[-2000:]}")
            held = int(json.loads(line)["held"])
            server.check_alive()
            after = server.rss_bytes()
        finally:
            proc.stdin.close()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()
    tally.values.append((after - before) / held / 1024)


def _pct(values: list[float]) -> str:
    med = harness.median(values)
    return "?" if med is None else f"{med * 100:.0f}%"


def _others(tallies: dict[str, Tally], pick: str = "values") -> str:
    node = harness.median(getattr(tallies["node"], pick)) or 0.0
    parts = []
    for name in ("uvicorn", "bare"):
        if name not in tallies:
            continue
        med = harness.median(getattr(tallies[name], pick))
        if med is None:
            continue
        ratio = f" ({med / node:.2f}x Node)" if node else ""
        parts.append(f"{name} {harness.fmt_value(med)}{ratio}")
    return "; ".join(parts)


def _row(name: str, unit: str, tallies: dict[str, Tally], *, pick: str = "values") -> Row:
    med = {k: harness.median(getattr(t, pick)) for k, t in tallies.items()}
    order = "/".join(tallies)
    notes = ""
    if any(t.client_cpu for t in tallies.values()):
        notes = (
            f"wrk CPU {order} {'/'.join(_pct(t.client_cpu) for t in tallies.values())}; "
            f"server CPU {'/'.join(_pct(t.server_cpu) for t in tallies.values())}. "
        )
    nodish = med["nodish"]
    if nodish and med.get("bare"):
        notes += f"nodish is {nodish / med['bare']:.2f}x the bare Protocol. "
    row: Row = {
        "name": name,
        "unit": unit,
        "nodish": nodish,
        "peer": med["node"],
        "peer_name": "Node http",
        "reference": med.get("bare"),
        "reference_name": "bare uvloop+httptools",
        "samples": {k: getattr(t, pick) for k, t in tallies.items()},
        "notes": (notes + _others(tallies, pick)).strip(),
    }
    if pick == "p99" or unit.startswith("KiB"):
        row["lower_is_better"] = True
    return row


def run(quick: bool = False) -> list[Row]:
    """Measure HTTP keep-alive and Connection: close requests/s, p99, idle memory."""
    missing = harness.module_missing("uvicorn")
    if missing:
        raise BenchError(missing)
    duration = 1 if quick else 3
    reps = harness.repeats(quick)
    commands = _commands()
    rows: list[Row] = []
    for label, close in (
        (f"HTTP keep-alive hello, wrk -t1 -c{CONNS}", False),
        (f"HTTP hello, Connection: close, wrk -t1 -c{CONNS}", True),
    ):
        harness.log(f"{label}: {reps} x {len(commands)} servers")
        tallies = {k: Tally() for k in commands}
        for _ in range(reps):
            for name, cmd in commands.items():
                _measure(cmd, duration, close, tallies[name])
        rows.append(_row(label, "req/s", tallies))
        rows.append(_row(f"{label}: per server CPU-second", "req/CPU-s", tallies, pick="per_cpu"))
        rows.append(_row(f"{label}: p99 latency", "ms", tallies, pick="p99"))
    soft, _hard = harness.raise_nofile_limit()
    conns = min(1000 if quick else IDLE_CONNS, soft - FD_HEADROOM)
    hold = {k: v for k, v in _commands(hold=True).items() if k in ("nodish", "node", "bare")}
    harness.log(f"http idle memory, {conns} connections: {min(reps, 3)} x {len(hold)} servers")
    tallies = {k: Tally() for k in hold}
    for _ in range(min(reps, 3)):
        for name, cmd in hold.items():
            _idle_memory(cmd, conns, tallies[name])
    rows.append(_row(f"HTTP idle keep-alive connection memory, {conns} conns", "KiB", tallies))
    return rows
