"""``nodish echo http|ws`` and ``nodish ws``: as subprocesses, with curl, urllib and the
``websockets`` library as the peers, and each failure's exit status."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.proc import TIMEOUT, Tool, listening_port, nodish


@pytest.fixture
def data_home(tmp_path: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path)}


def start(proto: str, env: dict[str, str], *extra: str) -> Tool:
    return Tool("echo", proto, "--port", "0", *extra, env=env)


def test_echo_http_answers_with_the_request(data_home: dict[str, str]) -> None:
    import http.client

    with start("http", data_home) as tool:
        port = listening_port(tool.line())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        try:
            conn.request("POST", "/path?q=1", body=b"the body", headers={"X-Test": "yes"})
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        assert text.startswith("POST /path?q=1 HTTP/1.1\r\n")
        assert "\r\nX-Test: yes\r\n" in text and text.endswith("\r\n\r\nthe body")
        assert tool.interrupt()[0] == 0


def test_echo_https_is_trusted_by_curl_with_the_development_ca(
    data_home: dict[str, str], tmp_path: Path
) -> None:
    with start("http", data_home, "--tls") as tool:
        assert "--ca" in tool.line("stderr")
        port = listening_port(tool.line())
        ca = tmp_path / "nodish" / "demo" / "ca-cert.pem"
        out = subprocess.run(
            ["curl", "-sS", "--cacert", str(ca), f"https://localhost:{port}/secure"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(b"GET /secure HTTP/1.1\r\n")
        assert tool.interrupt()[0] == 0


def ws_roundtrip(url: str, ssl_ctx: ssl.SSLContext | None = None) -> list[object]:
    from websockets.sync.client import connect

    with connect(url, ssl=ssl_ctx, open_timeout=TIMEOUT) as ws:
        ws.send("text 你好")
        ws.send(b"\x00\x01\xff")
        return [ws.recv(TIMEOUT), ws.recv(TIMEOUT)]


def test_echo_ws_and_wss_send_each_message_back_as_it_came(
    data_home: dict[str, str], tmp_path: Path
) -> None:
    with start("ws", data_home) as tool:
        port = listening_port(tool.line())
        assert ws_roundtrip(f"ws://127.0.0.1:{port}/") == ["text 你好", b"\x00\x01\xff"]
        assert tool.interrupt()[0] == 0
    with start("ws", data_home, "--tls") as tool:
        tool.line("stderr")
        port = listening_port(tool.line())
        ctx = ssl.create_default_context(cafile=tmp_path / "nodish" / "demo" / "ca-cert.pem")
        assert ws_roundtrip(f"wss://localhost:{port}/", ctx) == ["text 你好", b"\x00\x01\xff"]
        assert tool.interrupt()[0] == 0


def test_nodish_ws_sends_lines_prints_messages_and_closes_at_end_of_input(
    data_home: dict[str, str], tmp_path: Path
) -> None:
    with start("ws", data_home, "--tls") as tool:
        tool.line("stderr")
        port = listening_port(tool.line())
        ca = str(tmp_path / "nodish" / "demo" / "ca-cert.pem")
        out = nodish("ws", "-v", "--ca", ca, f"wss://localhost:{port}/", input=b"one\ntwo\n")
        assert out.returncode == 0, out.stderr
        assert out.stdout == b"one\ntwo\n"
        assert out.stderr.decode().splitlines()[-1] == "closed: 1000"
        untrusted = nodish("ws", f"wss://localhost:{port}/", input=b"x\n")
        assert untrusted.returncode == 6 and b"UNABLE_TO_VERIFY_LEAF_SIGNATURE" in untrusted.stderr
        assert tool.interrupt()[0] == 0


@pytest.fixture
def websockets_server() -> Iterator[int]:
    """A ``websockets`` server: greets, pushes a binary message, closes with 4000."""
    from websockets.asyncio.server import serve

    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Future[None]] = []

    async def handler(ws) -> None:  # type: ignore[no-untyped-def]
        await ws.send(json.dumps({"hello": "from websockets"}))
        await ws.send(b"\x01\x02\x03")
        await ws.recv()
        await ws.close(4000, "done here")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port.append(server.sockets[0].getsockname()[1])
            stop.append(asyncio.get_running_loop().create_future())
            ready.set()
            await stop[0]

    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_until_complete, args=(main(),))
    t.start()
    assert ready.wait(TIMEOUT)
    yield port[0]
    loop.call_soon_threadsafe(stop[0].set_result, None)
    t.join(TIMEOUT)
    loop.close()


def test_nodish_ws_prints_binary_as_hex_and_an_unusual_close_is_exit_8(
    websockets_server: int,
) -> None:
    import sys

    # stdin stays open: the server, not the end of input, ends the connection
    tool = subprocess.Popen(
        [sys.executable, "-m", "nodish", "ws", f"ws://127.0.0.1:{websockets_server}/"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tool.stdin is not None
    tool.stdin.write(b"bye\n")
    tool.stdin.flush()
    try:
        tool.wait(TIMEOUT)  # not communicate(): it would close stdin
    finally:
        tool.kill()
        out, err = tool.communicate()
    assert out == b'{"hello": "from websockets"}\n<binary: 3 bytes> 010203\n'
    assert tool.returncode == 8
    assert err == b"nodish ws: the connection closed with 4000 done here\n"


def test_nodish_ws_refused_handshake_and_connection(data_home: dict[str, str]) -> None:
    with start("http", data_home) as tool:  # an HTTP server that does not upgrade
        port = listening_port(tool.line())
        out = nodish("ws", f"ws://127.0.0.1:{port}/", input=b"")
        assert out.returncode == 8
        assert b"WS_ERR_UNEXPECTED_RESPONSE" in out.stderr and out.stderr.count(b"\n") == 1
        assert tool.interrupt()[0] == 0
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
        refused = nodish("ws", f"ws://127.0.0.1:{closed}/", input=b"")
    assert refused.returncode == 3 and b"ECONNREFUSED" in refused.stderr


def test_nodish_ws_unknown_host_exit_4_and_silent_server_exit_5() -> None:
    import socket

    missing = nodish("ws", "ws://no-such-host.invalid/", input=b"")
    assert missing.returncode == 4 and b"ENOTFOUND" in missing.stderr
    with socket.create_server(("127.0.0.1", 0)) as mute:  # accepts, never answers
        port = mute.getsockname()[1]
        out = nodish("ws", "--timeout", "0.5", f"ws://127.0.0.1:{port}/", input=b"")
    assert out.returncode == 5
    assert out.stderr.decode() == (
        f"nodish ws: connect ETIMEDOUT 127.0.0.1:{port} (no answer in time)\n"
    )
