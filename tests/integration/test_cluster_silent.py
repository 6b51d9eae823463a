"""``setup_primary(silent=True)``: a worker's stdout and stderr read in the primary as
Readables (``worker.process.stdout``/``.stderr``); a worker never blocks on output
nobody reads. The primary (``cluster/silent.py``) reports what it read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import DEFAULT_TIMEOUT

from nodish.cluster.output import UNREAD_LIMIT

SILENT = Path(__file__).parent / "cluster" / "silent.py"
LOOPS = ["uvloop", "asyncio"]


def run(scenario: str, loop: str) -> tuple[dict[str, Any], list[str], str]:
    """The primary's report, the lines before it on its stdout, and its stderr."""
    done = subprocess.run(
        [sys.executable, str(SILENT), scenario],
        capture_output=True,
        timeout=2 * DEFAULT_TIMEOUT,
        env={**os.environ, "NODISH_LOOP": loop},
    )
    assert done.returncode == 0, done.stderr.decode()
    *before, last = done.stdout.decode().splitlines()
    return json.loads(last), before, done.stderr.decode()


@pytest.mark.parametrize("loop", LOOPS)
def test_stdout_and_stderr_are_read_apart_and_in_order(loop: str) -> None:
    report, before, _ = run("order", loop)
    assert report["types"] == ["bytes"]
    assert report["stdout"] == "".join(f"out {i}\n" for i in range(1000))
    assert report["stderr"] == "".join(f"err {i}\n" for i in range(0, 1000, 10))
    assert report["ended"] == ["stderr", "stdout"]
    assert report["code"] == 0
    assert before == []  # nothing reached the primary's own stdout
    # its three pipes (and channel, pidfd) are closed once the worker is gone
    assert report["fds_now"] == report["fds_left"]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_worker_crashing_at_start_up_leaves_its_traceback_on_stderr(loop: str) -> None:
    report, _, primary_err = run("crash", loop)
    assert report["code"] == 1
    assert report["stderr"].startswith("Traceback (most recent call last):\n")
    assert report["stderr"].endswith("RuntimeError: this worker cannot start\n")
    assert report["stdout"] == ""
    assert "Traceback" not in primary_err  # the primary only logs the exit


@pytest.mark.parametrize("loop", LOOPS)
def test_output_nobody_reads_never_blocks_the_worker_and_is_held_up_to_the_limit(
    loop: str,
) -> None:
    # 3 MiB written while the primary reads nothing: the worker exits all the same (a
    # pipe holds 64 KiB), the primary keeps the first UNREAD_LIMIT bytes for a reader
    # that comes later, and says once what it dropped
    report, _, primary_err = run("flood", loop)
    written = b"".join(b"%07d\n" % i for i in range(3 * 1024 * 1024 // 8))
    assert report["code"] == 0
    assert report["held"] == UNREAD_LIMIT
    assert report["discarded"] == len(written) - UNREAD_LIMIT
    assert report["stdout"].encode("latin-1") == written[:UNREAD_LIMIT]
    assert report["stderr"] == "flood done\n"
    assert report["ended"] == ["stderr", "stdout"]
    assert primary_err.count("worker 1's stdout is not read") == 1, primary_err


def test_a_paused_consumer_holds_the_worker_back_as_in_node_and_loses_nothing() -> None:
    report, _, _ = run("paused", "uvloop")
    written = b"".join(b"%07d\n" % i for i in range(3 * 1024 * 1024 // 8))
    paused = report["while_paused"]
    assert not paused["exited"] and paused["discarded"] == 0, paused
    assert 0 < paused["held"] < 1024 * 1024, paused  # a pipe's worth or so, not 3 MiB
    assert report["stdout"].encode("latin-1") == written
    assert report["code"] == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_stdin_is_a_writable_pipe_to_the_worker_and_end_gives_it_eof(loop: str) -> None:
    report, _, _ = run("stdin", loop)
    assert report["stdout"] == "HELLO WORLD\n" + "X" * 200_000
    assert report["write"] is True and report["finished"] is True
    assert report["code"] == 0


def test_stdin_of_a_worker_that_closed_it_is_epipe_and_destroyed_once_it_exits() -> None:
    report, _, _ = run("epipe", "uvloop")
    assert report["code"] == ["EPIPE", "ERR_STREAM_DESTROYED"]
    assert report["destroyed"] is True


def test_without_silent_the_worker_shares_the_primarys_stdio() -> None:
    report, before, primary_err = run("loud", "uvloop")
    assert report["streams"] == [None, None, None]
    assert before == [f"out {i}" for i in range(1000)]
    assert [line for line in primary_err.splitlines() if line.startswith("err")] == [
        f"err {i}" for i in range(0, 1000, 10)
    ]
