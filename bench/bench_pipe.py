"""Readable -> Writable pipe of 1 GiB in 16 KiB chunks: nodish.stream vs Node's streams.

Both sides run the same program in a fresh process pinned to core 0
(bench/workers/pipe_nodish.py, bench/peers/pipe.js): a Readable pushing one
preallocated 16 KiB chunk until 1 GiB, then end; a Writable that calls back at once;
``src.pipe(dst)`` timed until ``'finish'``. The figure is MB/s (10^6 bytes per second)
through the pipe: it measures the per-chunk cost of the stream machinery.
"""

from __future__ import annotations

from functools import partial

from bench import harness
from bench.harness import Row

WORKER = harness.BENCH_DIR / "workers" / "pipe_nodish.py"
NODE_PEER = harness.BENCH_DIR / "peers" / "pipe.js"
CHUNK = 16 * 1024
TOTAL = 1 << 30
QUICK_TOTAL = 64 << 20


def _nodish(total: int, missing: str | None) -> float | None:
    if missing:
        return None
    out = harness.run_json([harness.PYTHON, str(WORKER), str(total), str(CHUNK)], timeout=300)
    return float(out["mb_per_s"])


def _node(total: int) -> float:
    node = harness.require_node()
    out = harness.run_json([node, str(NODE_PEER), str(total), str(CHUNK)], timeout=120)
    return float(out["mb_per_s"])


def run(quick: bool = False) -> list[Row]:
    """Measure pipe throughput (MB/s) for nodish and Node."""
    total = QUICK_TOTAL if quick else TOTAL
    reps = harness.repeats(quick)
    harness.log(f"pipe {total >> 20} MiB in {CHUNK >> 10} KiB chunks: {reps} x (nodish, node)")
    missing = harness.module_missing("nodish.stream", "Readable", "Writable")
    samples = harness.interleave(
        [("nodish", partial(_nodish, total, missing)), ("node", partial(_node, total))], reps
    )
    row: Row = {
        "name": f"pipe {total >> 20} MiB, {CHUNK >> 10} KiB chunks",
        "unit": "MB/s",
        "nodish": harness.median(samples["nodish"]),
        "peer": harness.median(samples["node"]),
        "peer_name": "Node streams",
        "samples": samples,
    }
    if missing:
        row["notes"] = missing
    return [row]
