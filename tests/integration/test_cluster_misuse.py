"""A careless user of nodish.cluster: each misuse raises at once with Node's code (or
reaches its callback), and the cluster carries on."""

from __future__ import annotations

from pathlib import Path

from tests.integration.cluster_harness import Primary

MISUSE = Path(__file__).parent / "cluster" / "misuse.py"


def test_misuse_raises_node_codes_and_the_cluster_carries_on() -> None:
    with Primary(script=MISUSE, env={"NODE_CLUSTER_SCHED_POLICY": "garbage"}) as p:
        checks = {}
        while "reload with no workers" not in checks:
            e = p.event(lambda e: "check" in e, timeout=20 * p.factor)
            checks[e["check"]] = e
        assert p.proc.wait(10 * p.factor) == 0
    codes = {k: v.get("code") for k, v in checks.items()}
    assert codes == {
        "policy from a garbage variable": 2,  # SCHED_RR
        "policy in force after a late assignment": 2,
        "process.send in the primary": "ERR_IPC_CHANNEL_CLOSED",
        "setup_primary(bogus=1)": "ERR_INVALID_ARG_VALUE",
        "fork(env='x')": "ERR_INVALID_ARG_TYPE",
        "fork(env={'A': None})": "ERR_INVALID_ARG_TYPE",
        "setup_primary(args='abc')": "ERR_INVALID_ARG_TYPE",
        "setup_primary(heartbeat=-1)": "ERR_OUT_OF_RANGE",
        "setup_primary(reload_signal='SIGBOGUS')": "ERR_UNKNOWN_SIGNAL",
        "scheduling_policy=7": "ERR_INVALID_ARG_VALUE",
        "disconnect(callback=5)": "ERR_INVALID_ARG_TYPE",
        "reload(timeout=-1)": "ERR_OUT_OF_RANGE",
        "send(a set)": "ERR_INVALID_ARG_TYPE",
        "send(callback=3)": "ERR_INVALID_ARG_TYPE",
        "send(handle='no')": "ERR_INVALID_HANDLE_TYPE",
        "kill('SIGBOGUS')": "ERR_UNKNOWN_SIGNAL",
        "kill(-1)": "ERR_UNKNOWN_SIGNAL",
        "process.kill(-1)": "ERR_UNKNOWN_SIGNAL",
        "process.kill(0)": None,
        "worker says": None,
        "fork from a thread": "ERR_INVALID_THREAD",
        "send from a thread": "ERR_INVALID_THREAD",
        "kill from a thread": "ERR_INVALID_THREAD",
        "reload from a thread": "ERR_INVALID_THREAD",
        "reload joins a running one": True,
        "reloaded": None,
        "disconnect twice": None,
        "exit": 0,
        "late send": "ERR_IPC_CHANNEL_CLOSED",
        "reload with no workers": None,
    }
    # the failed forks used no id: the first worker is 1, its replacement 2
    assert checks["reloaded"]["ids"] == [2]
    assert checks["worker says"]["msg"] == {
        "fork in a worker": "ERR_INVALID_STATE",
        "setup_primary in a worker": "ERR_INVALID_STATE",
        "reload in a worker": "ERR_INVALID_STATE",
        "process.send(a set)": "ERR_INVALID_ARG_TYPE",
        "process.send(callback='x')": "ERR_INVALID_ARG_TYPE",
        "process.send from a thread": "ERR_INVALID_THREAD",
        "env": ["1", "2.5"],
    }
