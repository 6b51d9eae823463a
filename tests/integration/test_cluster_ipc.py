"""Cluster IPC end to end: ordering under load, big messages, a live connection
handed between processes, and 100 workers that leave no fd or zombie behind."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.cluster_harness import Primary

IPC = Path(__file__).parent / "cluster" / "ipc.py"


def _recv_until(s: socket.socket, want: bytes) -> bytes:
    data = b""
    while want not in data:
        chunk = s.recv(100)
        assert chunk, f"closed before {want!r}; got {data!r}"
        data += chunk
    return data


def test_10000_messages_each_way_arrive_in_order_and_300_kib_is_framed_right() -> None:
    with Primary("flood", script=IPC) as p:
        got = p.event(lambda e: e.get("check") == "primary received")
        assert got == {"check": "primary received", "count": 10_000, "in_order": True}
        assert p.event(lambda e: e.get("check") == "primary big")["ok"] is True
        back = p.event(lambda e: e.get("check") == "worker received")
        assert back == {"check": "worker received", "count": 10_000, "in_order": True, "big": True}
        assert p.proc.wait(10 * p.factor) == 0


def test_a_live_connection_handed_from_one_worker_to_another_keeps_talking() -> None:
    with Primary("handover", script=IPC) as p:
        port = p.event(lambda e: e.get("check") == "listening")["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10 * p.factor) as s:
            # worker 1 accepted it and greeted, then sent it (through the primary) to
            # worker 2, which greets on the same connection and echoes from then on
            assert _recv_until(s, b"w2\n") == b"w1\nw2\n"
            s.sendall(b"ping")
            assert _recv_until(s, b"w2:ping") == b"w2:ping"
            s.sendall(b"pong")
            assert _recv_until(s, b"w2:pong") == b"w2:pong"
        forwarded = p.event(lambda e: e.get("check") == "primary got")
        assert forwarded == {"check": "primary got", "msg": "here", "handle": "Socket"}
        done = p.event(lambda e: e.get("check") == "worker 2")
        assert done["msg"] == {"peer": "127.0.0.1"}
        assert p.proc.wait(10 * p.factor) == 0


def test_100_workers_forked_and_exited_leave_the_primarys_fds_and_no_zombies() -> None:
    with Primary("forks", "100", script=IPC) as p:
        res = p.event(lambda e: e.get("check") in ("forks", "bad exit"), timeout=60 * p.factor)
        assert res["check"] == "forks", res
        assert res["exited"] == 100
        assert res["now"] == res["base"]
        assert res["zombies"] == []
        assert p.proc.wait(10 * p.factor) == 0


def test_a_worker_that_imports_only_nodish_still_comes_online(tmp_path: Path) -> None:
    # Node's workers connect at bootstrap; ours when `import nodish` runs
    script = tmp_path / "only_nodish.py"
    script.write_text(
        "import os, nodish\n"
        "if 'NODISH_UNIQUE_ID' not in os.environ:\n"
        "    from nodish import cluster\n"
        "    w = cluster.fork()\n"
        "    w.on('online', lambda: print('online', flush=True))\n"
        "    w.on('exit', lambda code, sig: print('exit', code, sig, flush=True))\n"
        "nodish.run()\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, timeout=30, check=False
    )
    assert out.stdout.split(b"\n")[:2] == [b"online", b"exit 0 None"], out.stderr


def test_fork_without_a_script_to_rerun_is_a_clear_error() -> None:
    code = (
        "from nodish import cluster\n"
        "try:\n    cluster.fork()\nexcept ValueError as e:\n    print(e.code)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False)
    assert out.stdout.strip() == b"ERR_INVALID_ARG_VALUE", out.stderr


def test_a_primary_run_with_dash_m_forks_workers_that_run_the_same_module(
    tmp_path: Path,
) -> None:
    pkg = tmp_path / "clusterapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text(
        "import sys, nodish\n"
        "from nodish import cluster\n"
        "if cluster.is_primary:\n"
        "    w = cluster.fork()\n"
        "    w.on('message', lambda m, h: (print(m, flush=True), w.disconnect()))\n"
        "else:\n"
        "    nodish.process.send(f'{__name__} {__spec__.name} {sys.argv[1:]}')\n"
        "nodish.run()\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "clusterapp.main", "--flag", "x"],
        cwd=tmp_path,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert out.stdout == b"__main__ clusterapp.main ['--flag', 'x']\n", out.stderr


def test_a_listening_server_and_a_bound_udp_socket_sent_to_a_worker_serve_there() -> None:
    with Primary("servers", script=IPC) as p:
        ready = p.event(lambda e: e.get("check") == "ready")
        # the primary closed its copies once sent: every answer is the worker's
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", ready["port"]), timeout=10) as s:
                assert _recv_until(s, b"\n") == b"worker\n"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(10)
            for _ in range(5):
                u.sendto(b"ping", ("127.0.0.1", ready["udp_port"]))
                assert u.recvfrom(100)[0] == b"worker"
        p.command(cmd="stop")
        types = p.event(lambda e: e.get("check") == "worker")["msg"]["types"]
        assert types == ["nodish.dgram.socket.Socket", "nodish.net.server.Server"]
        assert p.proc.wait(10 * p.factor) == 0


def test_a_worker_that_runs_its_own_asyncio_loop_still_gets_connections_and_messages() -> None:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "cluster" / "asyncio_worker.py")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert out.stdout.decode().splitlines() == [
        "listening",
        "primary got served b'hi\\n'",
        "worker got bye",
        "exit 0 None",
    ], out.stderr


def test_setup_primary_settings_reach_the_worker(tmp_path: Path) -> None:
    script = tmp_path / "settings.py"
    script.write_text(
        "import os, sys, nodish\n"
        "from nodish import cluster\n"
        "if cluster.is_primary:\n"
        "    seen = []\n"
        "    cluster.on('setup', lambda s: seen.append(sorted(s)))\n"
        f"    cluster.setup_primary(exec={str(script)!r}, args=['a', 'b'], cwd={str(tmp_path)!r},\n"
        "                          silent=True, env={'FROM_SETUP': '1'})\n"
        "    w = cluster.fork({'FROM_FORK': '2'})\n"
        "    def on_message(m, h):\n"
        "        print(m, seen[0] == sorted(cluster.settings), flush=True)\n"
        "        w.disconnect()\n"
        "    w.on('message', on_message)\n"
        "else:\n"
        "    print('this line is silenced', flush=True)\n"
        "    nodish.process.send([os.getcwd(), sys.argv[1:], os.environ.get('FROM_SETUP'),\n"
        "                         os.environ.get('FROM_FORK'), cluster.worker.id])\n"
        "nodish.run()\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], cwd="/", capture_output=True, timeout=30, check=False
    )
    expected = f"{[str(tmp_path), ['a', 'b'], '1', '2', 1]} True\n"
    assert out.stdout.decode() == expected, out.stderr
