"""``nodish echo tcp|udp``: run as a subprocess, driven by raw sockets."""

from __future__ import annotations

import socket

from tests.cli.proc import TIMEOUT, Tool, listening_port, nodish


def test_echo_tcp_echoes_and_half_closes_then_ctrl_c_exits_0() -> None:
    with Tool("echo", "tcp", "--port", "0") as tool:
        port = listening_port(tool.line())
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
            c.sendall(b"hello\n")
            got = b""
            while len(got) < 6:
                got += c.recv(100)
            assert got == b"hello\n"
            c.sendall(b"bye")
            c.shutdown(socket.SHUT_WR)  # half-close: the echo ends after echoing
            rest = b""
            while chunk := c.recv(100):
                rest += chunk
            assert rest == b"bye"
        status, err = tool.interrupt()
    assert status == 0
    assert "Traceback" not in err


def test_echo_udp_sends_each_datagram_back_to_its_sender() -> None:
    with Tool("echo", "udp", "--port", "0", "-v") as tool:
        port = listening_port(tool.line())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(TIMEOUT)
            for msg in (b"one", b"", b"x" * 1200):
                c.sendto(msg, ("127.0.0.1", port))
                data, addr = c.recvfrom(2000)
                assert (data, addr) == (msg, ("127.0.0.1", port))
            assert tool.line("stderr") == f"3 bytes from 127.0.0.1:{c.getsockname()[1]}"
        status, err = tool.interrupt()
    assert status == 0
    assert "Traceback" not in err


def test_echo_defaults_to_tcp_on_the_chapter_port_and_lists_protocols_in_help() -> None:
    out = nodish("echo", "--help")
    assert out.returncode == 0
    assert b"{http,tcp,udp,ws}" in out.stdout and b"8124" in out.stdout


def test_echo_tcp_on_a_taken_port_is_one_line_naming_the_option_exit_7() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = nodish("echo", "tcp", "--port", str(port))
    err = out.stderr.decode()
    assert out.returncode == 7
    assert err.count("\n") == 1, err
    assert "EADDRINUSE" in err and f":{port}" in err and "--port" in err


def test_echo_udp_on_a_taken_port_exits_7() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        out = nodish("echo", "udp", "--port", str(taken.getsockname()[1]))
    assert out.returncode == 7
    assert b"EADDRINUSE" in out.stderr and b"Traceback" not in out.stderr


def test_echo_rejects_a_bad_port_or_protocol_with_usage_exit_2() -> None:
    for args in (("tcp", "--port", "70000"), ("tcp", "--port", "http"), ("smtp",)):
        out = nodish("echo", *args)
        assert out.returncode == 2, args
        assert b"usage" in out.stderr
