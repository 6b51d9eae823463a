"""``emit`` with 0, 1 and 3 listeners: nodish's EventEmitter vs pyee's and Node's.

Every measurement is a fresh process pinned to core 0 (bench/workers/emit_py.py for the
Python emitters, bench/peers/emit.js for Node), running the same loop: ``emit('data',
payload)`` in batches of 10,000 with no-op listeners, after a warm-up. The three
contenders are interleaved; each row is nodish against one peer, from the same runs.
"""

from __future__ import annotations

from functools import partial

from bench import harness
from bench.harness import Row

WORKER = harness.BENCH_DIR / "workers" / "emit_py.py"
NODE_PEER = harness.BENCH_DIR / "peers" / "emit.js"
LISTENER_COUNTS = (0, 1, 3)


def _python(impl: str, listeners: int, seconds: float) -> float:
    out = harness.run_json(
        [harness.PYTHON, str(WORKER), impl, str(listeners), str(seconds)], timeout=60 + seconds
    )
    return float(out["ops_per_s"])


def _node(listeners: int, seconds: float) -> float:
    node = harness.require_node()
    out = harness.run_json([node, str(NODE_PEER), str(listeners), str(seconds)], timeout=60)
    return float(out["ops_per_s"])


def run(quick: bool = False) -> list[Row]:
    """Measure emit throughput (emits per second) for each listener count."""
    seconds = 0.1 if quick else 0.5
    reps = harness.repeats(quick)
    rows: list[Row] = []
    for n in LISTENER_COUNTS:
        harness.log(f"emit, {n} listener(s): {reps} x (nodish, pyee, node), {seconds:g} s each")
        samples = harness.interleave(
            [
                ("nodish", partial(_python, "nodish", n, seconds)),
                ("pyee", partial(_python, "pyee", n, seconds)),
                ("node", partial(_node, n, seconds)),
            ],
            reps,
        )
        nodish = harness.median(samples["nodish"])
        for peer in ("pyee", "node"):
            rows.append(
                {
                    "name": f"emit, {n} listener{'s' if n != 1 else ''}",
                    "unit": "ops/s",
                    "nodish": nodish,
                    "peer": harness.median(samples[peer]),
                    "peer_name": "pyee" if peer == "pyee" else "Node EventEmitter",
                    "samples": {"nodish": samples["nodish"], peer: samples[peer]},
                }
            )
    return rows
