"""Socket.IO: broadcast fan-out, echo with ack, broadcasts bridged through Redis.

Theory of operation
-------------------
Two servers with the same events, each a fresh process pinned to core 0 that prints its
port: nodish's (bench/servers/nodish_sio.py) and Node's socket.io
(bench/peers/sio_server.js). The load is the official socket.io-client in one Node
process pinned to core 1 (bench/clients/sio_load.js), over WebSocket, so both servers
see the same clients:

- fan-out: 1,000 connected clients; one asks the server for 200 broadcasts of a 32-byte
  message; messages delivered per second = 1,000 x 200 / time until the last arrives.
- echo: 64 clients each emit with an ack and wait for it, in a loop; acks per second
  over 3 s after a 1 s warm-up (the client's JIT settles in it). The official client
  costs as much per round trip as either server, so on one core it sets the round-trip
  rate for both: this row is client-bound. A second row gives the server's own CPU per
  round trip over the same window, read by the client from /proc/<server pid>/stat.
- echo, server-bound: the same round trips (64 connections, ``42<id>["echo","<32
  bytes>"]`` answered by ``43<id>["<32 bytes>"]``, checked byte for byte) driven by
  bench/clients/ws_echo_client.c in its ``--socketio`` mode, which does the official
  client's handshake and per-message work in C at about half a core, so each server
  runs flat out on its own core and the rate is the server's.
- bridged: two servers of the same kind on one ``redis-server`` (started here); a client
  of server A asks for 20,000 broadcasts, a client of server B counts them; messages
  per second end to end (client, server A, Redis, server B, client).
- Redis bridge alone: two servers in one process (bench/servers/nodish_sio_bridge.py,
  bench/peers/sio_bridge.js), 50,000 broadcasts from A's adapter counted at B's
  adapter: what publishing in batches and reading in bulk buy, with no client.

Interleaved nodish, Node, nodish ...; medians. The notes give the load client's CPU
use: near 1.0 means the client, not the server, set the figure. For echo they also give
the client's CPU microseconds per round trip and its event-loop iterations per round
trip: both servers send the same bytes (one 43-byte frame in one segment per ack, the
same handshake), so a client cost that differs comes from pacing (how many acks each
client wake-up finds), not from extra work asked of it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import ExitStack

from bench import harness
from bench.bench_tcp import Tally, _measure, _pct
from bench.harness import BenchError, Row, Server

NODISH_SERVER = harness.BENCH_DIR / "servers" / "nodish_sio.py"
NODE_SERVER = harness.BENCH_DIR / "peers" / "sio_server.js"
NODISH_BRIDGE = harness.BENCH_DIR / "servers" / "nodish_sio_bridge.py"
NODE_BRIDGE = harness.BENCH_DIR / "peers" / "sio_bridge.js"
LOAD = harness.BENCH_DIR / "clients" / "sio_load.js"
C_CLIENT = harness.BENCH_DIR / "clients" / "ws_echo_client.c"


def _servers(missing: str | None) -> dict[str, list[str] | None]:
    node = harness.require_node()
    return {
        "nodish": None if missing else [harness.PYTHON, str(NODISH_SERVER)],
        "node": [node, str(NODE_SERVER)],
    }


def _load(port: int, *args: str, timeout: float = 120) -> tuple[float, float, dict[str, float]]:
    """Rate, the load client's CPU use and, for echo, its cost per round trip."""
    out = harness.run_json(
        [harness.require_node(), str(LOAD), "--port", str(port), *args],
        timeout=timeout,
        core=harness.CLIENT_CORE,
    )
    keys: tuple[str, ...] = ("us_rt", "loops_rt", "server_us_rt")
    extra = {k: float(out[k]) for k in keys if k in out}
    return float(out["rate"]), float(out["cpu"]), extra


class _Redis:
    """A throwaway redis-server on a free port."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise BenchError("redis-server is not installed (scripts/setup-system)")
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.TemporaryDirectory(prefix="nodish-bench-redis-")
        self.proc = subprocess.Popen(
            harness.pinned(
                [
                    exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    self.dir.name,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                harness.CLIENT_CORE,
            ),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "Ready to accept connections" in line:
                break
        else:
            raise BenchError("redis-server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.dir.cleanup()


def run(quick: bool = False) -> list[Row]:
    missing = harness.module_missing("nodish.http", "create_server")
    servers = _servers(missing)
    n = harness.repeats(quick, 3)
    fan_clients, fan_count = (200, 50) if quick else (1000, 200)
    echo_secs, echo_warmup = ("0.5", "0.5") if quick else ("3", "1")
    bridge_count = 2000 if quick else 20000
    cpu: dict[str, list[float]] = {}

    def measure(name: str, key: str, args: list[str]) -> Callable[[], float | None]:
        def go() -> float | None:
            cmd = servers[name]
            if cmd is None:
                return None
            with Server(cmd) as server:
                cpu0 = server.cpu_seconds()
                pid = ["--server-pid", str(server.pid)] if key == "echo" else []
                with harness.stopwatch() as elapsed:
                    rate, load_cpu, extra = _load(server.port, *args, *pid)
                    wall = elapsed()
                server.check_alive()
                cpu.setdefault(f"{key}:{name}:server", []).append(
                    (server.cpu_seconds() - cpu0) / wall
                )
            cpu.setdefault(f"{key}:{name}", []).append(load_cpu)
            for k, v in extra.items():
                cpu.setdefault(f"{key}:{name}:{k}", []).append(v)
            return rate

        return go

    def bridged(name: str) -> Callable[[], float | None]:
        def go() -> float | None:
            cmd = servers[name]
            if cmd is None:
                return None
            redis = _Redis()
            try:
                with ExitStack() as stack:
                    a = stack.enter_context(Server([*cmd, "--redis", str(redis.port)]))
                    b = stack.enter_context(Server([*cmd, "--redis", str(redis.port)]))
                    rate, load_cpu, _ = _load(
                        a.port,
                        "--port2",
                        str(b.port),
                        "--mode",
                        "bridge",
                        "--clients",
                        "1",
                        "--count",
                        str(bridge_count),
                    )
                    a.check_alive()
                    b.check_alive()
            finally:
                redis.stop()
            cpu.setdefault(f"bridge:{name}", []).append(load_cpu)
            return rate

        return go

    rows: list[Row] = []
    specs = [
        (
            "fan-out",
            "messages/s",
            "fanout",
            ["--mode", "fanout", "--clients", str(fan_clients), "--count", str(fan_count)],
        ),
        (
            "echo with ack",
            "round trips/s",
            "echo",
            ["--mode", "echo", "--clients", "64", "--duration", echo_secs, "--warmup", echo_warmup],
        ),
    ]
    for title, unit, key, args in specs:
        samples = harness.interleave([(name, measure(name, key, args)) for name in servers], n)
        rows.append(_row(f"socket.io {title}", unit, samples, cpu, key, missing))
    rows[-1]["notes"] = (
        "client-bound: one official client process at about 1.0 CPU sets the rate for "
        "both servers (the server-bound row compares the servers); " + rows[-1]["notes"]
    )
    rows.append(_server_cost_row(cpu, missing))
    rows.append(_server_bound_echo(servers, n, echo_secs, echo_warmup, missing))
    samples = harness.interleave([(name, bridged(name)) for name in servers], n)
    rows.append(_row("socket.io bridged via Redis", "messages/s", samples, cpu, "bridge", missing))

    def bridge_alone(name: str) -> Callable[[], float | None]:
        cmd = {
            "nodish": [harness.PYTHON, str(NODISH_BRIDGE)],
            "node": [harness.require_node(), str(NODE_BRIDGE)],
        }[name]

        def go() -> float | None:
            redis = _Redis()
            try:
                out = harness.run_json(
                    [*cmd, "--redis", str(redis.port), "--count", str(bridge_count * 2)],
                    timeout=300,
                )
            finally:
                redis.stop()
            cpu.setdefault(f"alone:{name}", []).append(float(out["cpu"]))
            return float(out["rate"])

        return go

    samples = harness.interleave([(name, bridge_alone(name)) for name in servers], n)
    row = _row("socket.io Redis bridge alone", "messages/s", samples, cpu, "alone", None)
    row["notes"] = row["notes"].replace("load client CPU", "process CPU")
    rows.append(row)
    return rows


def _server_bound_echo(
    servers: dict[str, list[str] | None], n: int, secs: str, warmup: str, missing: str | None
) -> Row:
    """Echo with ack driven by the C client, so that the server, not the client, is busy."""
    client = str(harness.build_c(C_CLIENT, "ws_echo_client"))
    args = ["--socketio", "--conns", "64", "--size", "32", "--duration", secs, "--warmup", warmup]
    tallies = {name: Tally() for name in servers}

    def one(name: str) -> Callable[[], float | None]:
        return lambda: _measure(servers[name], client, args, "rate", tallies[name])

    samples = harness.interleave([(name, one(name)) for name in servers], n)
    return Row(
        name="socket.io echo with ack, server-bound",
        unit="round trips/s",
        nodish=harness.median(samples.get("nodish", [])),
        peer=harness.median(samples.get("node", [])),
        peer_name="Node socket.io",
        notes=(f"{missing}; " if missing else "")
        + "64 connections driven by the C client (bench/clients/ws_echo_client.c --socketio); "
        + "client CPU nodish/node "
        + "/".join(_pct(tallies[k].client_cpu) for k in ("nodish", "node"))
        + ", server CPU "
        + "/".join(_pct(tallies[k].server_cpu) for k in ("nodish", "node")),
        samples=samples,
    )


def _server_cost_row(cpu: dict[str, list[float]], missing: str | None) -> Row:
    """The echo run's server CPU per round trip: what the server costs, whoever sets the pace."""
    samples = {name: cpu.get(f"echo:{name}:server_us_rt", []) for name in ("nodish", "node")}
    row = Row(
        name="socket.io echo with ack, server CPU",
        unit="us per round trip",
        nodish=harness.median(samples["nodish"]),
        peer=harness.median(samples["node"]),
        peer_name="Node socket.io",
        notes=(f"{missing}; " if missing else "")
        + "user+system CPU of the server process over the echo row's counting window, "
        + "divided by its round trips",
        samples=samples,
    )
    row["lower_is_better"] = True
    return row


def _row(
    title: str,
    unit: str,
    samples: dict[str, list[float]],
    cpu: dict[str, list[float]],
    key: str,
    missing: str | None,
) -> Row:
    notes = ", ".join(
        f"load client CPU vs {name} {harness.median(cpu.get(f'{key}:{name}', [])) or 0:.2f}"
        for name in ("nodish", "node")
    )
    if cpu.get(f"{key}:nodish:server"):
        notes += ", server CPU " + ", ".join(
            f"{name} {harness.median(cpu.get(f'{key}:{name}:server', [])) or 0:.2f}"
            for name in ("nodish", "node")
        )
    for k, label in (("us_rt", "client us per round trip"), ("loops_rt", "client loops per rt")):
        if cpu.get(f"{key}:nodish:{k}") or cpu.get(f"{key}:node:{k}"):
            notes += f", {label} " + ", ".join(
                f"{name} {harness.median(cpu.get(f'{key}:{name}:{k}', [])) or 0:.2f}"
                for name in ("nodish", "node")
            )
    if missing:
        notes = f"{missing}; {notes}"
    return Row(
        name=title,
        unit=unit,
        nodish=harness.median(samples.get("nodish", [])),
        peer=harness.median(samples.get("node", [])),
        peer_name="Node socket.io",
        notes=notes,
        samples=samples,
    )
