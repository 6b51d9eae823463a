"""One pipe measurement in a fresh interpreter: nodish.stream Readable -> Writable.

usage: python bench/workers/pipe_nodish.py TOTAL CHUNK
prints {"mb_per_s": ..., "bytes": ..., "seconds": ...}

The same program as bench/peers/pipe.js: the Readable pushes one preallocated
CHUNK-byte object until TOTAL bytes, then None; the Writable calls back at once; the
clock runs from ``pipe()`` to ``'finish'``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import nodish
from nodish import events
from nodish.stream import Readable, Writable


class Source(Readable):
    """Pushes ``chunk`` until ``total`` bytes have been pushed, then ends."""

    def __init__(self, total: int, chunk: bytes) -> None:
        super().__init__()
        self.total = total
        self.chunk = chunk
        self.pushed = 0

    def _read(self, size: int) -> None:
        if self.pushed >= self.total:
            self.push(None)
            return
        self.pushed += len(self.chunk)
        self.push(self.chunk)


class Sink(Writable):
    """Counts what it is given and calls back at once."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def _write(self, chunk: bytes, encoding: str, callback: Callable[..., Any]) -> None:
        self.written += len(chunk)
        callback()


def main(argv: list[str]) -> None:
    """Pipe ``TOTAL`` bytes in ``CHUNK``-byte chunks and print the rate as JSON."""
    total, size = int(argv[0]), int(argv[1])
    result: dict[str, float] = {}

    async def bench() -> None:
        src, dst = Source(total, bytes(size)), Sink()
        finished = events.once(dst, "finish")
        t0 = time.perf_counter()
        src.pipe(dst)
        await finished
        secs = time.perf_counter() - t0
        if dst.written != total:
            raise SystemExit(f"wrote {dst.written} bytes, expected {total}")
        result.update(mb_per_s=total / 1e6 / secs, bytes=total, seconds=secs)

    nodish.run(bench)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
