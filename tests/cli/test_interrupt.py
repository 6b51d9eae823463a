"""Ctrl-C on each client tool, while it waits on a server that never answers: exit 130
(an interrupted program's status), nothing on stderr."""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest

from tests.cli.proc import TIMEOUT, Tool


@pytest.mark.parametrize(
    "tool",
    [
        ("connect", "127.0.0.1", "{port}"),
        ("get", "http://127.0.0.1:{port}/"),
        ("ws", "ws://127.0.0.1:{port}/"),
    ],
    ids=lambda t: t[0],
)
def test_ctrl_c_on_a_tcp_client_exits_130_quietly(tool: tuple[str, ...]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as mute:
        port = str(mute.getsockname()[1])
        mute.settimeout(TIMEOUT)
        with Tool(*(a.format(port=port) for a in tool), stdin=subprocess.PIPE) as running:
            conn, _ = mute.accept()  # connected: the tool is in its loop, waiting on us
            with conn:
                running.proc.send_signal(signal.SIGINT)
                status, err = running.wait()
    assert (status, err) == (130, "")


def test_ctrl_c_on_the_udp_client_exits_130_quietly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))
        mute.settimeout(TIMEOUT)
        port = str(mute.getsockname()[1])
        with Tool("connect", "--udp", "127.0.0.1", port, stdin=subprocess.PIPE) as running:
            assert running.proc.stdin is not None
            running.proc.stdin.write(b"anyone?\n")
            running.proc.stdin.flush()
            assert mute.recv(100) == b"anyone?\n"  # the tool is in its loop
            running.proc.send_signal(signal.SIGINT)
            status, err = running.wait()
    assert (status, err) == (130, "")
