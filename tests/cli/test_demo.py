"""``nodish demo`` started as a user starts it, on free ports, driven by raw clients."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from tests.cli.proc import TIMEOUT, Tool, nodish

FREE = ("--tcp-port", "0", "--udp-port", "0")


def started(tool: Tool) -> dict[str, tuple[str, int]]:
    """The banner's services: name -> (host, port), read up to the ``ready`` line."""
    found = {}
    for line in tool.lines_until("ready"):
        m = re.match(r"\s+(\w+)\s+(\w+)://([^\s/]+):(\d+)", line)
        if m:
            found[m.group(1)] = (m.group(3), int(m.group(4)))
    return found


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


def test_host_and_port_offset_move_every_service() -> None:
    # An offset whose TCP and UDP ports are both free (probe, then release).
    for offset in range(1000, 20000, 997):
        tcp, udp = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind(("127.0.0.1", 8124 + offset))
            udp.bind(("127.0.0.1", 41234 + offset))
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()
        break
    with Tool("demo", "--host", "127.0.0.1", "--port-offset", str(offset)) as tool:
        services = started(tool)
        assert services["TCP"] == ("127.0.0.1", 8124 + offset)
        assert services["UDP"] == ("127.0.0.1", 41234 + offset)
        assert tool.interrupt()[0] == 0


def test_a_taken_port_is_one_line_naming_the_port_and_the_option_exit_7() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = nodish("demo", "--tcp-port", str(port), "--udp-port", "0")
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
