"""Streams under ``nodish.run()``: pending stream work keeps the process alive, as in Node."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import asyncio
import nodish
from nodish.stream import Readable, Writable, pipeline

async def numbers():
    for i in range(3):
        await asyncio.sleep(0.01)  # nothing nodish knows about is pending meanwhile
        yield b"%d" % i

got = []
sink = Writable(write=lambda self, c, e, cb: (got.append(c), cb()))
sink.on("finish", lambda: print("finish", b",".join(got).decode(), flush=True))
pipeline(Readable.from_(numbers()), sink, callback=lambda err: print("done", err, flush=True))
nodish.run()
print("exit", flush=True)
"""


def test_top_level_pipeline_runs_to_completion_under_run() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.splitlines() == ["finish 0,1,2", "done None", "exit"]
    assert out.stderr == ""
