"""HTTPS: keep-alive requests/s and new TLS handshakes/s, nodish vs Node's https vs uvicorn.

Theory of operation
-------------------
Three hello-world HTTPS servers (12-byte body), each a fresh process pinned to core 0
presenting the same RSA-2048 certificate (the seed chapter's key size, made by
nodish.certs): nodish (bench/servers/nodish_https_hello.py), Node's ``https``
(bench/peers/https_hello.js) and uvicorn with ``--ssl`` on uvloop and httptools
(bench/servers/uvicorn_https_hello.py). wrk drives each from core 1:

- keep-alive requests/s: ``wrk -t1 -c64``, every connection reused (one handshake each);
- new handshakes/s: ``wrk -t1 -c32 -H 'Connection: close'``: the server closes after
  each response, so every request is a new TCP connection and a TLS 1.3 handshake.
  Requests/s is handshakes/s. wrk resumes the session of a connection's previous
  handshake when the server sent a ticket in it: OpenSSL's servers send one on each
  resumption (nodish, uvicorn), Node's sends none, so for Node every other handshake
  is a full one (RSA signature and all) while nodish's are nearly all resumptions
  (PSK with ECDHE, no signature). The servers count both kinds and the notes give the
  share of resumed ones: the rates are not like for like.
- full handshakes/s, like for like: three ``openssl s_time -new`` clients (every
  connection a full TLS 1.3 handshake with the RSA signature, then an HTTP/1.0 GET).
  s_time waits for each answer, so the rate may be the clients'; the per server
  CPU-second figure is the server's cost either way.

Contenders are interleaved run by run. Beside every figure the notes give wrk's CPU
use and the server's (1.0 = one core busy): wrk near 100% means the figure is wrk's
limit, not the server's. The machine is shared: compare ratios, not absolute figures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import harness
from bench.harness import BenchError, Row, Server

NODISH_SERVER = harness.BENCH_DIR / "servers" / "nodish_https_hello.py"
UVICORN_SERVER = harness.BENCH_DIR / "servers" / "uvicorn_https_hello.py"
NODE_SERVER = harness.BENCH_DIR / "peers" / "https_hello.js"
KEEPALIVE_CONNS = 64
CLOSE_CONNS = 32
STIME_CLIENTS = 3


@dataclass
class Tally:
    values: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    resumed: list[float] = field(default_factory=list)  # share of resumed handshakes


def _cert_files() -> tuple[Path, Path]:
    from nodish import certs

    d = harness.BUILD_DIR / "tls"
    d.mkdir(parents=True, exist_ok=True)
    key, cert = d / "server-key.pem", d / "server-cert.pem"
    if not key.exists() or not cert.exists():
        ca = certs.create_ca("nodish bench CA")
        ca.issue_server("localhost", "127.0.0.1").write(cert, key)
    return key, cert


_wait_listening = harness.wait_listening


def _wrk(port: int, conns: int, duration: float, close: bool) -> tuple[float, float]:
    """Requests/s and wrk's CPU use (cores) for one wrk run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (scripts/setup-system installs it)")
    cmd = [wrk, "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s"]  # whole seconds
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"https://127.0.0.1:{port}/")
    argv = harness.pinned(cmd, harness.CLIENT_CORE)
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {err.strip()} {out.strip()}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None:
        raise BenchError(f"wrk printed no rate: {out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors and "Non-2xx" in errors.group(0):
        raise BenchError(f"wrk got error responses: {out}")
    return float(m.group(1)), (usage.ru_utime + usage.ru_stime) / wall


def _s_time(port: int, duration: float) -> tuple[float, float]:
    """Full handshakes/s (no resumption: ``openssl s_time -new``, each an HTTP/1.0 GET)
    from STIME_CLIENTS clients, and their CPU use (cores)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BenchError("openssl is not installed (scripts/setup-system installs it)")
    cmd = [openssl, "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-www", "/"]
    cmd += ["-time", str(max(1, round(duration)))]
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            harness.pinned(cmd, harness.CLIENT_CORE),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(STIME_CLIENTS)
    ]
    conns, cpu = 0, 0.0
    for proc in procs:
        out = proc.stdout.read() if proc.stdout else ""
        _pid, _status, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        cpu += usage.ru_utime + usage.ru_stime
        m = re.search(r"(\d+) connections in [\d.]+s", out)
        if m is None:
            raise BenchError(f"openssl s_time printed no count: {out}")
        conns += int(m.group(1))
    wall = time.monotonic() - start
    return conns / wall, cpu / wall


def _measure(cmd: list[str], conns: int, duration: float, close: bool, tally: Tally) -> None:
    with Server(cmd) as server:
        _wait_listening(server.port)
        if conns:
            _wrk(server.port, 4, 1, close)  # warm-up
        else:
            _s_time(server.port, 1)
        cpu0 = server.cpu_seconds()
        t0 = time.monotonic()
        if conns:
            rate, client_cpu = _wrk(server.port, conns, duration, close)
        else:
            rate, client_cpu = _s_time(server.port, duration)
        wall = time.monotonic() - t0
        server.check_alive()
        tally.server_cpu.append((server.cpu_seconds() - cpu0) / wall)
        m = re.search(r"handshakes new=(\d+) reused=(\d+)", server.stop())
        if m and int(m.group(1)) + int(m.group(2)):
            tally.resumed.append(int(m.group(2)) / (int(m.group(1)) + int(m.group(2))))
    tally.values.append(rate)
    tally.client_cpu.append(client_cpu)


def _pct(values: list[float]) -> str:
    med = harness.median(values)
    return "?" if med is None else f"{med * 100:.0f}%"


def _per_cpu(t: Tally) -> float | None:
    """Requests per second of the server's own CPU: the efficiency, which holds when a
    busy machine keeps the server from saturating its core."""
    rates = [v / c for v, c in zip(t.values, t.server_cpu, strict=True) if c > 0]
    return harness.median(rates)


def _row(
    name: str, tallies: dict[str, Tally], notes: str, close: bool = False, client: str = "wrk"
) -> Row:
    med = {k: harness.median(t.values) for k, t in tallies.items()}
    order = "/".join(tallies)
    eff = {k: _per_cpu(t) for k, t in tallies.items()}
    ratio = ""
    if eff["nodish"] and eff["node"]:
        ratio = f" (nodish/Node {eff['nodish'] / eff['node']:.2f})"
    cpu = (
        f"{client} CPU {order} {'/'.join(_pct(t.client_cpu) for t in tallies.values())}; "
        f"server CPU {'/'.join(_pct(t.server_cpu) for t in tallies.values())}; "
        f"per server CPU-second {'/'.join(harness.fmt_value(v) for v in eff.values())}{ratio}."
    )
    if close:
        # wrk resumes a TLS 1.3 session when the server sent a ticket on the last one:
        # OpenSSL's servers do (one per resumption), Node's does not (so every other
        # connection is a full handshake, with its RSA signature)
        cpu += (
            f" Resumed handshakes {order} "
            f"{'/'.join(_pct(t.resumed) if t.resumed else '?' for t in tallies.values())}."
        )
    return {
        "name": name,
        "unit": "req/s",
        "nodish": med["nodish"],
        "peer": med["node"],
        "peer_name": "Node https",
        "reference": med["uvicorn"],
        "reference_name": "uvicorn --ssl",
        "samples": {k: t.values for k, t in tallies.items()},
        "notes": f"{cpu} {notes}".strip(),
    }


def run(quick: bool = False) -> list[Row]:
    """Measure HTTPS keep-alive requests/s and new handshakes/s for each server."""
    duration = 1 if quick else 3
    key, cert = _cert_files()
    files = [str(key), str(cert)]
    missing_uvicorn = harness.module_missing("uvicorn")
    if missing_uvicorn:
        raise BenchError(missing_uvicorn)
    commands = {
        "nodish": [harness.PYTHON, str(NODISH_SERVER), *files],
        "node": [harness.require_node(), str(NODE_SERVER), *files],
        "uvicorn": [harness.PYTHON, str(UVICORN_SERVER), *files],
    }
    https_missing = harness.module_missing("nodish.https", "create_server")
    which = (
        "nodish: a tls server answering the request bytes itself (nodish.https not built yet)."
        if https_missing
        else "nodish: nodish.https."
    )
    reps = harness.repeats(quick)
    rows: list[Row] = []
    for label, conns, close in (
        (f"HTTPS keep-alive hello, wrk -t1 -c{KEEPALIVE_CONNS}", KEEPALIVE_CONNS, False),
        (f"new TLS handshakes (Connection: close), wrk -t1 -c{CLOSE_CONNS}", CLOSE_CONNS, True),
        (f"full TLS handshakes, openssl s_time -new x{STIME_CLIENTS}", 0, True),
    ):
        harness.log(f"{label}: {reps} x {len(commands)} servers")
        tallies = {k: Tally() for k in commands}
        for _ in range(reps):
            for name, cmd in commands.items():
                _measure(cmd, conns, duration, close, tallies[name])
        client = "wrk" if conns else "s_time"
        rows.append(_row(label, tallies, f"RSA-2048, TLS 1.3. {which}", close, client))
    return rows
