"""Node's ``cluster`` as the oracle: the same script, the same events per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import DEFAULT_TIMEOUT, NODE

HERE = Path(__file__).parent / "cluster"


def _run(cmd: list[str], env: dict[str, str] | None = None) -> list[list[Any]]:
    out = subprocess.run(
        cmd,
        capture_output=True,
        timeout=3 * DEFAULT_TIMEOUT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return [json.loads(line) for line in out.stdout.splitlines()]


def _per_worker(trace: list[list[Any]], wid: int) -> list[list[Any]]:
    # events of one worker, in order (the two workers interleave differently each run)
    return [e for e in trace if e[0] in ("cluster", "worker") and len(e) > 2 and e[2] == wid]


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_fork_listen_message_disconnect_trace_matches_node(loop: str) -> None:
    node = _run([NODE, str(HERE / "trace.js")])
    ours = _run([sys.executable, str(HERE / "trace.py")], {"NODISH_LOOP": loop})
    for wid in (1, 2):
        assert _per_worker(ours, wid) == _per_worker(node, wid)
    # the primary-wide events: 'setup' before each 'fork', one "all disconnected", and
    # both workers shared one port (listen(0))
    for trace in (node, ours):
        heads = [e[:3] for e in trace if e[1] in ("setup", "fork")]
        assert heads == [
            ["cluster", "setup"],
            ["cluster", "fork", 1],
            ["cluster", "setup"],
            ["cluster", "fork", 2],
        ]
        done = [e for e in trace if e[0] == "primary"]
        assert done == [["primary", "all disconnected", True]]
        # (where it falls among the last events varies from run to run in Node too: a
        # worker leaves cluster.workers once both disconnected and exited)
        first_disconnect = min(i for i, e in enumerate(trace) if e[1] == "disconnect")
        assert trace.index(done[0]) > first_disconnect


def test_sigkilled_worker_and_port_in_use_traces_match_node() -> None:
    node = _run([NODE, str(HERE / "faults.js")])
    ours = _run([sys.executable, str(HERE / "faults.py")])
    for wid in (1, 2):
        mine = [e for e in ours if e[1] == wid]
        assert mine == [e for e in node if e[1] == wid]
    # the killed worker: disconnect, then exit with the signal and not asked for; the
    # other: EADDRINUSE from 'bind' with the port, then a clean asked-for exit
    assert [e for e in ours if e[1] == 1][-1] == ["exit", 1, None, "SIGKILL", False, True, False]
    assert ["message", 2, {"code": "EADDRINUSE", "syscall": "bind", "port": True}] in ours


@pytest.mark.parametrize("policy", ["rr", "none"])
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_socket_closed_in_its_listening_callback_then_disconnect_matches_node(
    loop: str, policy: str
) -> None:
    # Closed before cluster reports it: no 'listening' reaches the primary, and the
    # disconnect does not close it a second time (a UDP socket would raise
    # ERR_SOCKET_DGRAM_NOT_RUNNING and the worker die with code 1)
    node = _run([NODE, str(HERE / "closed.js")], {"POLICY": policy})
    ours = _run([sys.executable, str(HERE / "closed.py")], {"POLICY": policy, "NODISH_LOOP": loop})
    assert (
        sorted(ours)
        == sorted(node)
        == [
            ["done"],
            ["exit", 1, 0, None, True],
            ["exit", 2, 0, None, True],
        ]
    )
