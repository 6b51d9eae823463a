"""WebSocket echo: messages per second, MB/s, and memory per idle connection.

Theory of operation
-------------------
Four echo servers, each a fresh process pinned to core 0 that prints its port:
nodish's ``WebSocketServer`` (bench/servers/nodish_ws_echo.py), Node's ``ws`` package
(bench/peers/ws_echo.js, the peer), aiohttp and the ``websockets`` library (both on
uvloop, no compression). One load client, bench/clients/ws_echo_client.c (built with
gcc on first use), drives all of them from core 1:

- messages/s: 64 connections, each sending one masked 32-byte text message and waiting
  for its echo before the next; counted for 2 s after a 0.5 s warm-up.
- MB/s: the same with 64 KiB binary messages (payload bytes echoed per second).
- KiB per idle connection: 10,000 connections, each upgraded and having echoed one
  1-byte message, then held idle; (server VmRSS after - before) / connections.

Servers are interleaved run by run; each figure's notes give the client's and the
servers' CPU use (1.0 = one core busy) so a client-bound figure is never mistaken for
the server's. The table's reference column is aiohttp, the best Python peer; the
``websockets`` figure is in the notes.
"""

from __future__ import annotations

from bench import harness
from bench.bench_tcp import Tally, _idle_memory, _measure, _pct, _run_kind
from bench.harness import Row

CLIENT_SRC = harness.BENCH_DIR / "clients" / "ws_echo_client.c"
SERVERS = harness.BENCH_DIR / "servers"

CONNS = 64
SMALL = 32
LARGE = 65536
IDLE_CONNS = 10_000
FD_HEADROOM = 64


def server_commands(missing: str | None) -> dict[str, list[str] | None]:
    """Each contender's server command line; None for one not available yet."""
    return {
        "nodish": None if missing else [harness.PYTHON, str(SERVERS / "nodish_ws_echo.py")],
        "node": [harness.require_node(), str(harness.BENCH_DIR / "peers" / "ws_echo.js")],
        "aiohttp": [harness.PYTHON, str(SERVERS / "aiohttp_ws_echo.py")],
        "websockets": [harness.PYTHON, str(SERVERS / "websockets_ws_echo.py")],
    }


def _row(name: str, unit: str, tallies: dict[str, Tally], notes: str, missing: str | None) -> Row:
    med = {k: harness.median(t.values) for k, t in tallies.items()}
    row: Row = {
        "name": name,
        "unit": unit,
        "nodish": med["nodish"],
        "peer": med["node"],
        "peer_name": "Node ws",
        "reference": med["aiohttp"],
        "reference_name": "aiohttp",
        "samples": {k: t.values for k, t in tallies.items()},
    }
    ws_note = f"websockets {harness.fmt_value(med['websockets'])}"
    if med["nodish"] and med["websockets"]:
        ws_note += f" (nodish/websockets {med['nodish'] / med['websockets']:.2f})"
    cpu = ""
    if any(t.server_cpu for t in tallies.values()) and unit != "KiB/conn":
        # on a shared machine a server may get a fraction of its core: the figure per
        # second of the server's own CPU compares the implementations regardless
        per_cpu = {
            k: harness.median([v / c for v, c in zip(t.values, t.server_cpu, strict=True) if c > 0])
            for k, t in tallies.items()
        }
        cpu = (
            "per server CPU-second "
            + "/".join(harness.fmt_value(per_cpu[k]) for k in tallies)
            + (
                f" (nodish/node {per_cpu['nodish'] / per_cpu['node']:.2f}); "
                if per_cpu["nodish"] and per_cpu["node"]
                else "; "
            )
        )
    if any(t.client_cpu for t in tallies.values()):
        order = "/".join(tallies)
        cpu += (
            f"client CPU {order} {'/'.join(_pct(t.client_cpu) for t in tallies.values())}"
            f"; server CPU {'/'.join(_pct(t.server_cpu) for t in tallies.values())}. "
        )
    row["notes"] = f"{missing + '. ' if missing else ''}{cpu}{ws_note}. {notes}".strip()
    return row


def run(quick: bool = False) -> list[Row]:
    """Measure echo messages/s, MB/s and idle memory for each server."""
    warmup, duration, idle = (0.2, 0.5, 1000) if quick else (0.5, 2.0, IDLE_CONNS)
    client = str(harness.build_c(CLIENT_SRC, "ws_echo_client"))
    missing = harness.module_missing("nodish.http", "create_server")
    commands = server_commands(missing)
    reps = harness.repeats(quick)
    rows: list[Row] = []
    timing = ["--duration", str(duration), "--warmup", str(warmup)]

    harness.log(f"ws echo {CONNS} x {SMALL} B text: {reps} x {len(commands)} servers")
    args = ["--conns", str(CONNS), "--size", str(SMALL), *timing]
    tallies = _run_kind(commands, reps, lambda cmd, t: _measure(cmd, client, args, "rate", t))
    rows.append(_row(f"WS echo {CONNS} conns x {SMALL} B text", "msgs/s", tallies, "", missing))

    harness.log(f"ws echo {CONNS} x {LARGE // 1024} KiB binary: {reps} x {len(commands)} servers")
    largs = ["--conns", str(CONNS), "--size", str(LARGE), "--binary", *timing]
    tallies = _run_kind(commands, reps, lambda cmd, t: _measure(cmd, client, largs, "mb_per_s", t))
    rows.append(
        _row(
            f"WS echo {CONNS} conns x {LARGE // 1024} KiB binary",
            "MB/s",
            tallies,
            "payload bytes echoed per second.",
            missing,
        )
    )

    soft, _hard = harness.raise_nofile_limit()
    conns = min(idle, soft - FD_HEADROOM)
    limited = f" (RLIMIT_NOFILE {soft} allows only {conns})" if conns < idle else ""
    harness.log(f"ws idle memory, {conns} connections{limited}: {min(reps, 3)} x servers")
    tallies = _run_kind(commands, min(reps, 3), lambda cmd, t: _idle_memory(cmd, client, conns, t))
    row = _row(
        f"WS idle connection memory, {conns} conns",
        "KiB/conn",
        tallies,
        f"server VmRSS growth / connections{limited}.",
        missing,
    )
    row["lower_is_better"] = True
    rows.append(row)
    return rows
