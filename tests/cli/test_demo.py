"""``nodish demo`` started as a user starts it, on free ports, driven by raw clients."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.proc import TIMEOUT, Tool, nodish

FREE = tuple(a for s in ("tcp", "udp", "http", "https") for a in (f"--{s}-port", "0"))


def started(tool: Tool) -> dict[str, tuple[str, int]]:
    """The banner's services: name -> (host, port), read up to the ``ready`` line."""
    found = {}
    for line in tool.lines_until("ready"):
        m = re.match(r"\s+(\w+)\s+(\w+)://([^\s/]+):(\d+)", line)
        if m:
            found[m.group(1)] = (m.group(3), int(m.group(4)))
    return found


@pytest.fixture(autouse=True)
def data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The development CA goes to a private data directory, not the user's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))


@pytest.fixture
def demo() -> Iterator[Tool]:
    with Tool("demo", *FREE) as tool:
        yield tool


def test_tcp_greets_answers_and_every_event_is_logged(demo: Tool) -> None:
    services = started(demo)
    with socket.create_connection(services["TCP"], timeout=TIMEOUT) as c:
        greeting = c.recv(100)
        assert greeting.decode() == "深入浅出Nodejs\n"
        peer = "{}:{}".format(*c.getsockname())
        assert demo.line().endswith(f"[tcp] connection from {peer}")
        c.sendall(b"hello\r\n")  # what telnet sends for a typed line
        answer = c.recv(100)
        assert answer.decode() == "你好"
        assert demo.line().endswith(f"[tcp] data from {peer}: 'hello\\r\\n' (7 bytes)")
        c.shutdown(socket.SHUT_WR)
        assert c.recv(100) == b""
    assert demo.line().endswith(f"[tcp] end from {peer}")
    assert demo.line().endswith(f"[tcp] close {peer}")


def test_udp_datagrams_are_logged_with_their_rinfo(demo: Tool) -> None:
    services = started(demo)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        c.sendto("深入浅出Nodejs".encode(), services["UDP"])
        sender = "{}:{}".format(*c.getsockname())
    line = demo.line()
    assert line.endswith(f"[udp] message '深入浅出Nodejs' (18 bytes) from {sender}")


def test_ctrl_c_with_a_client_connected_exits_0_without_a_traceback(demo: Tool) -> None:
    services = started(demo)
    with socket.create_connection(services["TCP"], timeout=TIMEOUT) as c:
        c.recv(100)
        demo.line()  # the connection is logged: it is open on the server's side
        status, err = demo.interrupt()
        assert c.recv(100) == b""  # the demo closed it
    assert status == 0
    assert err == ""


def free_offset() -> int:
    """An offset that puts every demo port on a free one (probed, then released)."""
    for offset in range(1000, 20000, 997):
        probes = []
        try:
            for port, kind in (
                (8124, socket.SOCK_STREAM),
                (41234, socket.SOCK_DGRAM),
                (8080, socket.SOCK_STREAM),
                (8443, socket.SOCK_STREAM),
            ):
                probe = socket.socket(socket.AF_INET, kind)
                probes.append(probe)
                probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return offset
    raise AssertionError("no free port offset")


def test_host_and_port_offset_move_every_service() -> None:
    offset = free_offset()
    with Tool("demo", "--host", "127.0.0.1", "--port-offset", str(offset)) as tool:
        services = started(tool)
        assert services == {
            "TCP": ("127.0.0.1", 8124 + offset),
            "UDP": ("127.0.0.1", 41234 + offset),
            "HTTP": ("127.0.0.1", 8080 + offset),
            "HTTPS": ("127.0.0.1", 8443 + offset),
        }
        assert tool.interrupt()[0] == 0


def test_no_tls_leaves_out_https_and_makes_no_ca(tmp_path: Path) -> None:
    with Tool("demo", "--no-tls", *FREE) as tool:
        assert set(started(tool)) == {"TCP", "UDP", "HTTP"}
        assert tool.interrupt()[0] == 0
    assert not (tmp_path / "nodish").exists()


def test_the_ca_is_made_on_first_run_and_reused_after(tmp_path: Path) -> None:
    ca = tmp_path / "nodish" / "demo" / "ca-cert.pem"
    for created in (True, False):
        with Tool("demo", *FREE) as tool:
            banner = tool.lines_until("ready")
            assert any(f"the development CA is {ca}" in line for line in banner)
            assert any("(created now)" in line for line in banner) is created
            assert tool.interrupt()[0] == 0


def test_a_taken_port_is_one_line_naming_the_port_and_the_option_exit_7() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = nodish("demo", *FREE, "--tcp-port", str(port))
    err = out.stderr.decode()
    assert out.returncode == 7
    assert err.count("\n") == 1, err
    assert f"TCP port {port}" in err and "EADDRINUSE" in err and "--port-offset" in err


def test_an_offset_past_the_last_port_is_a_usage_error() -> None:
    out = nodish("demo", "--port-offset", "30000")
    assert out.returncode == 2
    assert b"outside 0-65535" in out.stderr and b"Traceback" not in out.stderr


def test_a_host_that_does_not_resolve_names_the_host_option_exit_4() -> None:
    out = nodish("demo", "--host", "no-such-host.invalid", *FREE)
    err = out.stderr.decode()
    assert out.returncode == 4
    assert err.count("\n") == 1 and "ENOTFOUND" in err and "--host" in err


def test_the_page_is_served_requests_are_logged_and_bad_bytes_hurt_no_one(demo: Tool) -> None:
    import urllib.error
    import urllib.request

    services = started(demo)
    host, port = services["HTTP"]
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=TIMEOUT) as res:
        page = res.read().decode()
        assert res.status == 200 and res.headers["Content-Type"].startswith("text/html")
    https_port = services["HTTPS"][1]
    assert f"https://127.0.0.1:{https_port}/" in page and "ca-cert.pem" in page
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://{host}:{port}/nope", timeout=TIMEOUT)
    assert missing.value.code == 404
    missing.value.close()
    with socket.create_connection((host, port), timeout=TIMEOUT) as bad:
        bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert bad.recv(100).startswith(b"HTTP/1.1 400")
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=TIMEOUT) as res:
        assert res.status == 200  # still serving
    log = demo.lines_until("bad request")
    assert "[http] GET / 200 from 127.0.0.1:" in log[0]
    assert "[http] GET /nope 404 from 127.0.0.1:" in log[1]


def test_chat_over_a_websocket_library_and_bad_messages_drop_only_their_sender(
    demo: Tool,
) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    host, port = started(demo)["HTTP"]
    url = f"ws://{host}:{port}/chat"
    with connect(url, open_timeout=TIMEOUT) as alice:
        assert json.loads(alice.recv(TIMEOUT))["type"] == "welcome"
        assert json.loads(alice.recv(TIMEOUT)) == {"type": "join", "name": "guest-1", "count": 1}
        with connect(url, open_timeout=TIMEOUT) as mallory:
            mallory.recv(TIMEOUT)  # welcome
            assert json.loads(alice.recv(TIMEOUT))["count"] == 2
            mallory.send(b"\x00binary")  # the chat takes text only: RFC 6455 1003
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    mallory.recv(TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
        assert json.loads(alice.recv(TIMEOUT)) == {"type": "leave", "name": "guest-2", "count": 1}
        with connect(url, open_timeout=TIMEOUT, max_size=None) as bob:
            bob.recv(TIMEOUT)
            bob.send("x" * (64 * 1024 + 1))  # over the demo's max_payload: 1009
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    bob.recv(TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        alice.send("still here")
        while (msg := json.loads(alice.recv(TIMEOUT)))["type"] != "message":
            pass
        assert msg == {"type": "message", "name": "guest-1", "text": "still here"}


def test_ctrl_c_tells_websocket_clients_the_server_is_going_away(demo: Tool) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    host, port = started(demo)["HTTP"]
    with connect(f"ws://{host}:{port}/chat", open_timeout=TIMEOUT) as ws:
        ws.recv(TIMEOUT)
        demo.line()  # the open is logged
        status, err = demo.interrupt()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert (status, err) == (0, "")


def test_https_with_a_given_certificate(tmp_path: Path) -> None:
    import ssl
    import urllib.request

    from nodish import certs

    ca = certs.create_ca("my own CA")
    ca.issue_server("localhost").write(tmp_path / "site.pem", tmp_path / "site.key")
    args = ("--tls-cert", str(tmp_path / "site.pem"), "--tls-key", str(tmp_path / "site.key"))
    with Tool("demo", *FREE, *args) as tool:
        banner = tool.lines_until("ready")
        assert any(f"the certificate is {tmp_path / 'site.pem'}" in line for line in banner)
        port = next(
            int(m.group(1)) for x in banner if (m := re.search(r"HTTPS\s+https://[^:]+:(\d+)", x))
        )
        ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
        with urllib.request.urlopen(f"https://localhost:{port}/", context=ctx) as res:
            assert res.status == 200
        assert tool.interrupt()[0] == 0
    assert not (tmp_path / "nodish").exists()  # no development CA was made
    only_one = nodish("demo", *FREE, "--tls-cert", str(tmp_path / "site.pem"))
    assert only_one.returncode == 2


NODE_CHAT = r"""
const WebSocket = require(process.argv[1]);
const ws = new WebSocket(process.argv[2]);
const seen = [];
ws.on('message', (data) => {
  const msg = JSON.parse(data);
  seen.push(msg.type);
  if (msg.type === 'welcome') console.log(JSON.stringify({me: msg.name}));
  if (msg.type === 'join' && msg.count === 2) ws.send('hello from Node');
  if (msg.type === 'message' && msg.text === 'hello from Python') ws.close(1000);
});
ws.on('close', (code) => console.log(JSON.stringify({code, seen})));
"""


def test_nodes_ws_package_and_a_python_client_chat_through_the_demo(demo: Tool) -> None:
    import json
    import shutil

    from websockets.sync.client import connect

    host, port = started(demo)["HTTP"]
    url = f"ws://{host}:{port}/chat"
    ws_module = str(Path(__file__).resolve().parents[1] / "interop" / "node_modules" / "ws")
    node = subprocess.Popen(
        [shutil.which("node") or "node", "-e", NODE_CHAT, ws_module, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None
        node_name = json.loads(node.stdout.readline())["me"]
        with connect(url, open_timeout=TIMEOUT) as py:
            while (msg := json.loads(py.recv(TIMEOUT)))["type"] != "message":
                pass
            assert msg == {"type": "message", "name": node_name, "text": "hello from Node"}
            py.send("hello from Python")
            closing = json.loads(node.stdout.readline())
            assert closing["code"] == 1000
            assert closing["seen"][:3] == ["welcome", "join", "join"]
            while (msg := json.loads(py.recv(TIMEOUT)))["type"] != "leave":
                pass
            assert msg == {"type": "leave", "name": node_name, "count": 1}
    finally:
        node.kill()
        node.communicate()


def test_a_log_reader_that_goes_away_leaves_the_demo_serving() -> None:
    import sys

    demo = subprocess.Popen(
        [sys.executable, "-m", "nodish", "demo", *FREE, "--no-tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert demo.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith(b"ready"):
            lines.append(demo.stdout.readline())
        port = int(re.search(rb"tcp://[^:]+:(\d+)", b"".join(lines)).group(1))  # type: ignore[union-attr]
        demo.stdout.close()  # like `nodish demo | head`
        for _ in range(2):  # each connection is logged: the log's reader is gone
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
                assert c.recv(100).decode() == "深入浅出Nodejs\n"
        demo.send_signal(signal.SIGINT)
        assert demo.wait(TIMEOUT) == 0
        assert demo.stderr is not None and demo.stderr.read() == b""
    finally:
        demo.kill()
        demo.wait()
        if demo.stderr is not None:
            demo.stderr.close()
