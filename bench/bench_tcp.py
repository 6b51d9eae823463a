"""TCP echo: round trips per second, throughput, and memory per idle connection.

Theory of operation
-------------------
Three echo servers, each a fresh process pinned to core 0 that prints its port:
nodish's Node-style program (bench/servers/nodish_tcp_echo.py), Node's ``net``
(bench/peers/tcp_echo.js), and a bare uvloop ``asyncio.Protocol`` (the reference: what
Python can reach on this machine, reported beside the other two). One load client,
bench/clients/tcp_echo_client.c (built with gcc on first use), drives all of them from
core 1, so every server sees exactly the same load:

- round trips/s: 64 connections, each sending 64 bytes and waiting for the whole echo
  before sending again; counted for 2 s after a 0.5 s warm-up.
- MB/s: one connection sends 1 GiB as fast as the server takes it while reading the
  echo back; the clock stops at the last echoed byte (every byte crosses the server
  twice: in and out).
- KiB per idle connection: 10,000 connections, each having made one 1-byte round trip
  (so the server has fully set it up), then held idle; (server VmRSS after - before)
  / connections. Lower is better.

Servers are interleaved run by run (nodish, Node, bare, nodish, ...). Beside every
figure the notes give the client's and the server's CPU use (1.0 = one core busy): a
client near 100% means the figure is the client's limit, not the server's.
"""

from __future__ import annotations

import json
import selectors
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from bench import harness
from bench.harness import BenchError, Row, Server

CLIENT_SRC = harness.BENCH_DIR / "clients" / "tcp_echo_client.c"
NODISH_SERVER = harness.BENCH_DIR / "servers" / "nodish_tcp_echo.py"
BARE_SERVER = harness.BENCH_DIR / "servers" / "bare_uvloop_echo.py"
NODE_SERVER = harness.BENCH_DIR / "peers" / "tcp_echo.js"

CONNS = 64
MSG_SIZE = 64
IDLE_CONNS = 10_000
# descriptors kept free for the process's own files, pipes and listening socket
FD_HEADROOM = 64


@dataclass
class Settings:
    """The load of one run of this benchmark (full or quick)."""

    warmup: float
    duration: float
    throughput_bytes: int
    idle_conns: int


FULL = Settings(warmup=0.5, duration=2.0, throughput_bytes=1 << 30, idle_conns=IDLE_CONNS)
QUICK = Settings(warmup=0.2, duration=0.5, throughput_bytes=64 << 20, idle_conns=1000)


@dataclass
class Tally:
    """One contender's samples and the CPU use seen beside them."""

    values: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)


def server_commands(missing: str | None) -> dict[str, list[str] | None]:
    """Each contender's server command line; None for one not available yet."""
    return {
        "nodish": None if missing else [harness.PYTHON, str(NODISH_SERVER)],
        "node": [harness.require_node(), str(NODE_SERVER)],
        "bare": [harness.PYTHON, str(BARE_SERVER)],
    }


def _client(client: str, port: int, *args: str) -> list[str]:
    return [client, "--port", str(port), *args]


def _measure(
    cmd: list[str] | None,
    client: str,
    client_args: list[str],
    key: str,
    tally: Tally,
) -> float | None:
    """Start the server, run the client against it once, record the figure ``key``."""
    if cmd is None:
        return None
    with Server(cmd) as server:
        cpu0 = server.cpu_seconds()
        with harness.stopwatch() as elapsed:
            try:
                out = harness.run_json(
                    _client(client, server.port, *client_args),
                    timeout=300,
                    core=harness.CLIENT_CORE,
                )
            except BenchError as exc:
                raise BenchError(
                    f"against {' '.join(cmd)}: {exc}\nserver: {server.stop()}"
                ) from None
            wall = elapsed()
        server.check_alive()
        tally.server_cpu.append((server.cpu_seconds() - cpu0) / wall)
    _check_quiet(server)
    tally.client_cpu.append(float(out["cpu"]))
    value = float(out[key])
    tally.values.append(value)
    return value


def _check_quiet(server: Server) -> None:
    """Fail when the server wrote anything on stderr: its figure could not be trusted."""
    err = server.stop()
    if err.strip():
        raise BenchError(f"server {' '.join(server.cmd)} reported errors:\n{err[-2000:]}")


def _idle_memory(cmd: list[str] | None, client: str, conns: int, tally: Tally) -> float | None:
    """Server RSS growth per held connection, in KiB."""
    if cmd is None:
        return None
    with Server(cmd) as server:
        before = server.rss_bytes()
        proc = subprocess.Popen(
            harness.pinned(_client(client, server.port, "--hold", str(conns)), harness.CLIENT_CORE),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                ready = sel.select(120)
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
    _check_quiet(server)
    value = (after - before) / held / 1024
    tally.values.append(value)
    return value


def _pct(values: list[float]) -> str:
    m = harness.median(values)
    return "—" if m is None else f"{m * 100:.0f}%"


def _row(
    name: str,
    unit: str,
    tallies: dict[str, Tally],
    notes: str,
    missing: str | None,
    lower: bool = False,
) -> Row:
    row: Row = {
        "name": name,
        "unit": unit,
        "nodish": harness.median(tallies["nodish"].values),
        "peer": harness.median(tallies["node"].values),
        "peer_name": "Node net",
        "reference": harness.median(tallies["bare"].values),
        "reference_name": "bare uvloop",
        "samples": {k: t.values for k, t in tallies.items()},
    }
    if tallies["nodish"].client_cpu or tallies["node"].client_cpu:
        notes = (
            f"client CPU nodish/node/bare {'/'.join(_pct(t.client_cpu) for t in tallies.values())}"
            f"; server CPU {'/'.join(_pct(t.server_cpu) for t in tallies.values())}. {notes}"
        )
    if missing:
        notes = f"{missing}. {notes}"
    row["notes"] = notes.strip()
    if lower:
        row["lower_is_better"] = True
    return row


def _run_kind(
    commands: dict[str, list[str] | None],
    reps: int,
    fn: Callable[[list[str] | None, Tally], float | None],
) -> dict[str, Tally]:
    tallies = {name: Tally() for name in commands}
    harness.interleave(
        [(name, partial(fn, cmd, tallies[name])) for name, cmd in commands.items()], reps
    )
    return tallies


def run(quick: bool = False) -> list[Row]:
    """Measure echo round trips/s, throughput and idle memory for each server."""
    s = QUICK if quick else FULL
    client = str(harness.build_c(CLIENT_SRC, "tcp_echo_client"))
    missing = harness.module_missing("nodish.net", "create_server")
    commands = server_commands(missing)
    reps = harness.repeats(quick)
    rows: list[Row] = []

    harness.log(f"tcp ping-pong {CONNS} x {MSG_SIZE} B, {s.duration:g} s: {reps} x 3 servers")
    args = ["--conns", str(CONNS), "--size", str(MSG_SIZE)]
    args += ["--duration", str(s.duration), "--warmup", str(s.warmup)]
    tallies = _run_kind(commands, reps, lambda cmd, t: _measure(cmd, client, args, "rate", t))
    rows.append(
        _row(f"TCP echo {CONNS} conns x {MSG_SIZE} B", "round trips/s", tallies, "", missing)
    )

    mib = s.throughput_bytes >> 20
    harness.log(f"tcp throughput {mib} MiB, 1 connection: {reps} x 3 servers")
    targs = ["--throughput", "--bytes", str(s.throughput_bytes)]
    tallies = _run_kind(commands, reps, lambda cmd, t: _measure(cmd, client, targs, "mb_per_s", t))
    rows.append(
        _row(
            f"TCP echo throughput {mib} MiB, 1 conn",
            "MB/s",
            tallies,
            "bytes sent per second; each crosses the server in and out.",
            missing,
        )
    )

    soft, _hard = harness.raise_nofile_limit()
    conns = min(s.idle_conns, soft - FD_HEADROOM)
    limited = f" (RLIMIT_NOFILE {soft} allows only {conns})" if conns < s.idle_conns else ""
    harness.log(f"tcp idle memory, {conns} connections{limited}: {min(reps, 3)} x 3 servers")
    tallies = _run_kind(commands, min(reps, 3), lambda cmd, t: _idle_memory(cmd, client, conns, t))
    rows.append(
        _row(
            f"TCP idle connection memory, {conns} conns",
            "KiB/conn",
            tallies,
            f"server VmRSS growth / connections{limited}.",
            missing,
            lower=True,
        )
    )
    return rows
