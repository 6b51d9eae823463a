"""UDP echo: datagrams per second, nodish's ``dgram`` against Node's ``dgram``.

Theory of operation
-------------------
Three echo servers, each a fresh process pinned to core 0 that prints its port: the
nodish program a user would write (this file, ``--serve nodish``), Node's ``dgram``
(bench/peers/udp_echo.js, the same program), and a bare uvloop ``DatagramProtocol``
(``--serve bare``: the reference, what Python itself reaches here). One load client,
bench/clients/udp_echo_client.c (built with gcc on first use), drives all of them from
core 1: it keeps WINDOW datagrams of SIZE bytes in flight and counts the echoes per
second for a fixed duration after a warm-up. Servers are interleaved run by run and
each row holds the medians; the notes give the client's and the servers' CPU use
(1.0 = one core busy), and the datagrams the client had to count as lost.

Run alone: ``.venv/bin/python bench/bench_udp.py [--quick]``; ``make bench`` calls
:func:`run` through bench/harness.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataclasses import dataclass, field
from functools import partial

from bench import harness
from bench.harness import BenchError, Row, Server

CLIENT_SRC = harness.BENCH_DIR / "clients" / "udp_echo_client.c"
NODE_SERVER = harness.BENCH_DIR / "peers" / "udp_echo.js"
THIS = Path(__file__).resolve()

WINDOW = 64
SIZE = 64


@dataclass
class Settings:
    """The load of one run (full or quick)."""

    warmup: float
    duration: float


FULL = Settings(warmup=0.5, duration=2.0)
QUICK = Settings(warmup=0.2, duration=0.5)


@dataclass
class Tally:
    """One server's samples and the CPU use and losses seen beside them."""

    values: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


# -- the servers -------------------------------------------------------------------


def serve_nodish() -> None:
    """nodish's echo server, written as a user would (bench/peers/udp_echo.js in Python)."""
    import nodish
    from nodish import dgram

    server = dgram.create_socket("udp4")
    server.on("message", lambda msg, rinfo: server.send(msg, rinfo.port, rinfo.address))
    server.bind(0, "127.0.0.1", lambda: print(server.address().port, flush=True))
    nodish.run()


def serve_bare() -> None:
    """A bare uvloop DatagramProtocol echo: the reference for what Python can reach."""
    import asyncio

    import uvloop

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(data, addr)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        print(transport.get_extra_info("sockname")[1], flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


# -- measuring ---------------------------------------------------------------------


def server_commands(missing: str | None) -> dict[str, list[str] | None]:
    """Each contender's server command line; None for one not available yet."""
    return {
        "nodish": None if missing else [harness.PYTHON, str(THIS), "--serve", "nodish"],
        "node": [harness.require_node(), str(NODE_SERVER)],
        "bare": [harness.PYTHON, str(THIS), "--serve", "bare"],
    }


def _measure(cmd: list[str] | None, client: str, s: Settings, tally: Tally) -> float | None:
    """Start the server, run the client against it once, record echoes per second."""
    if cmd is None:
        return None
    args = [client, "--port", "0", "--window", str(WINDOW), "--size", str(SIZE)]
    args += ["--duration", str(s.duration), "--warmup", str(s.warmup)]
    with Server(cmd) as server:
        args[2] = str(server.port)
        cpu0 = server.cpu_seconds()
        with harness.stopwatch() as elapsed:
            try:
                out = harness.run_json(args, timeout=120, core=harness.CLIENT_CORE)
            except BenchError as exc:
                raise BenchError(
                    f"against {' '.join(cmd)}: {exc}\nserver: {server.stop()}"
                ) from None
            wall = elapsed()
        server.check_alive()
        tally.server_cpu.append((server.cpu_seconds() - cpu0) / wall)
        err = server.stop()
    if err.strip():
        raise BenchError(f"server {' '.join(cmd)} reported errors:\n{err[-2000:]}")
    tally.client_cpu.append(float(out["cpu"]))
    tally.lost.append(int(out["lost"]))
    value = float(out["rate"])
    tally.values.append(value)
    return value


def _pct(values: list[float]) -> str:
    m = harness.median(values)
    return "—" if m is None else f"{m * 100:.0f}%"


def run(quick: bool = False) -> list[Row]:
    """Measure UDP echo datagrams per second for nodish, Node and bare uvloop."""
    s = QUICK if quick else FULL
    client = str(harness.build_c(CLIENT_SRC, "udp_echo_client"))
    missing = harness.module_missing("nodish.dgram", "create_socket")
    commands = server_commands(missing)
    reps = harness.repeats(quick)
    harness.log(
        f"udp echo, {WINDOW} datagrams of {SIZE} B in flight, {s.duration:g} s: "
        f"{reps} x {len(commands)} servers"
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
        f"; server CPU {'/'.join(_pct(t.server_cpu) for t in tallies.values())}"
        f"; datagrams lost {'/'.join(str(sum(t.lost)) for t in tallies.values())}."
    )
    if missing:
        notes = f"{missing}. {notes}"
    row: Row = {
        "name": f"UDP echo {WINDOW} in flight x {SIZE} B",
        "unit": "datagrams/s",
        "nodish": harness.median(tallies["nodish"].values),
        "peer": harness.median(tallies["node"].values),
        "peer_name": "node dgram",
        "reference": harness.median(tallies["bare"].values),
        "reference_name": "bare uvloop",
        "samples": {k: t.values for k, t in tallies.items()},
        "notes": notes,
    }
    return [row]


def main(argv: list[str]) -> int:
    """``--serve nodish|bare`` runs a server; otherwise measure and print the table."""
    if len(argv) == 2 and argv[0] == "--serve":
        {"nodish": serve_nodish, "bare": serve_bare}[argv[1]]()
        return 0
    quick = "--quick" in argv
    rows = run(quick=quick)
    for row in rows:
        r = harness.ratio(row)
        print(
            f"{row['name']}: nodish {harness.fmt_value(row['nodish'])} {row['unit']}, "
            f"{row['peer_name']} {harness.fmt_value(row['peer'])}, "
            f"bare uvloop {harness.fmt_value(row.get('reference'))}; "
            f"nodish/node = {'—' if r is None else f'{r:.2f}'}"
        )
        print(f"  {row.get('notes', '')}")
        print(f"  samples: {row.get('samples')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
