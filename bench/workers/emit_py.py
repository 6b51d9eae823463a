"""One emit measurement in a fresh interpreter: nodish's or pyee's EventEmitter.

usage: python -m bench.workers.emit_py {nodish|pyee} LISTENERS SECONDS
prints {"ops_per_s": ..., "emits": ..., "seconds": ...}

The loop is the one in bench/peers/emit.js: ``emit('data', payload)`` in batches of
10,000, no-op listeners taking one argument, a warm-up of a fifth of the run first.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

BATCH = 10_000


def make_emit(impl: str, listeners: int) -> Callable[[str, bytes], Any]:
    """The bound ``emit`` of a new emitter of ``impl`` with ``listeners`` no-op listeners."""
    if impl == "nodish":
        from nodish.events import EventEmitter

        ee: Any = EventEmitter()
    elif impl == "pyee":
        from pyee import EventEmitter as PyeeEmitter

        ee = PyeeEmitter()
    else:
        raise SystemExit(f"unknown implementation {impl!r}")
    for _ in range(listeners):
        # a distinct function each time: both libraries would refuse or dedupe a repeat
        ee.on("data", lambda chunk: None)
    emit: Callable[[str, bytes], Any] = ee.emit
    return emit


def measure(emit: Callable[[str, bytes], Any], seconds: float) -> dict[str, float]:
    """Emits per second over ``seconds`` (after a warm-up of ``seconds / 5``)."""
    payload = bytes(16)
    batch = range(BATCH)
    perf = time.perf_counter
    warm_until = perf() + seconds / 5
    while perf() < warm_until:
        for _ in batch:
            emit("data", payload)
    n = 0
    t0 = perf()
    while True:
        for _ in batch:
            emit("data", payload)
        n += BATCH
        elapsed = perf() - t0
        if elapsed >= seconds:
            break
    return {"ops_per_s": n / elapsed, "emits": n, "seconds": elapsed}


def main(argv: list[str]) -> None:
    """Parse ``impl listeners seconds``, measure, print one JSON line."""
    impl, listeners, seconds = argv[0], int(argv[1]), float(argv[2])
    print(json.dumps(measure(make_emit(impl, listeners), seconds)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
