"""``nodish connect``: stdin to the socket, the socket to stdout, and each failure's
one-line error and exit status, run as a subprocess against local servers."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.cli.proc import TIMEOUT, Tool, listening_port, nodish


@contextmanager
def tcp_server(handler) -> Iterator[int]:
    """A one-connection raw TCP server running ``handler(conn)`` in a thread."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(TIMEOUT)
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                handler(conn)
        except BaseException as exc:
            failures.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        t.join(TIMEOUT)
        srv.close()
    assert not failures, failures


def read_to_eof(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_stdin_goes_out_eof_half_closes_and_the_rest_of_the_answer_is_printed() -> None:
    received: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"welcome\n")
        received.append(read_to_eof(conn))  # ends when the client half-closes
        conn.sendall(b"you said " + received[0])  # still readable by the client

    with tcp_server(handler) as port:
        out = nodish("connect", "127.0.0.1", str(port), input=b"hello\nworld\n")
    assert out.returncode == 0, out.stderr
    assert received == [b"hello\nworld\n"]
    assert out.stdout == b"welcome\nyou said hello\nworld\n"
    assert out.stderr == b""


def test_large_input_arrives_whole_and_in_order() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB
    got: list[bytes] = []
    with tcp_server(lambda conn: got.append(read_to_eof(conn))) as port:
        out = nodish("connect", "localhost", str(port), input=body)
    assert out.returncode == 0, out.stderr
    assert got == [body]


def test_the_server_closing_first_ends_the_tool_while_stdin_is_still_open() -> None:
    with tcp_server(lambda conn: conn.sendall(b"bye\n")) as port:
        tool = subprocess.Popen(
            [*nodish_cmd(), "connect", "127.0.0.1", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = tool.communicate(timeout=TIMEOUT)  # stdin never closed by us first
    assert tool.returncode == 0, err
    assert out == b"bye\n"


def nodish_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "nodish"]


def test_refused_is_one_line_with_econnrefused_exit_3() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        out = nodish("connect", "127.0.0.1", str(port))
    err = out.stderr.decode()
    assert out.returncode == 3
    assert (
        err
        == f"nodish connect: connect ECONNREFUSED 127.0.0.1:{port} (nothing is listening there)\n"
    )


def test_unknown_host_is_enotfound_exit_4() -> None:
    out = nodish("connect", "no-such-host.invalid", "80")
    assert out.returncode == 4
    assert out.stderr.decode().splitlines() == [
        "nodish connect: getaddrinfo ENOTFOUND no-such-host.invalid "
        "(that host name does not resolve)"
    ]


def test_a_server_that_never_accepts_times_out_with_etimedout_exit_5() -> None:
    # A listener with a full accept queue drops further SYNs: the connect hangs.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        fillers = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        try:
            out = nodish("connect", "127.0.0.1", str(port), "--timeout", "0.5")
        finally:
            for c in fillers:
                c.close()
    assert out.returncode == 5
    assert b"ETIMEDOUT" in out.stderr and out.stderr.count(b"\n") == 1


def test_bad_ports_are_usage_errors_exit_2() -> None:
    for port in ("0", "65536", "http"):
        out = nodish("connect", "127.0.0.1", port)
        assert out.returncode == 2, port
        assert b"usage" in out.stderr and b"Traceback" not in out.stderr


def test_udp_sends_each_line_as_a_datagram_and_prints_the_answers() -> None:
    with Tool("echo", "udp", "--port", "0") as echo:
        port = listening_port(echo.line())
        out = nodish("connect", "--udp", "localhost", str(port), input=b"one\ntwo\nthree")
        assert echo.interrupt()[0] == 0
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"one\ntwo\nthree"


def test_udp_waits_for_answers_after_end_of_input_then_exits() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        out = nodish(
            "connect",
            "--udp",
            "127.0.0.1",
            str(silent.getsockname()[1]),
            "--wait",
            "0.2",
            input=b"anyone?\n",
        )
        assert silent.recv(100) == b"anyone?\n"
    assert out.returncode == 0, out.stderr
    assert out.stdout == b""


def test_udp_to_a_closed_port_is_econnrefused_exit_3() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = nodish("connect", "--udp", "127.0.0.1", str(port), "--wait", "5", input=b"hi\n")
    assert out.returncode == 3
    assert b"ECONNREFUSED" in out.stderr and f"UDP 127.0.0.1:{port}".encode() in out.stderr


def test_a_reader_that_goes_away_stops_the_tool_quietly() -> None:
    import sys

    def handler(conn: socket.socket) -> None:
        try:
            while True:
                conn.sendall(b"line\n" * 1000)
        except OSError:
            pass  # the tool went away: what this test wants

    with tcp_server(handler) as port:
        tool = subprocess.Popen(
            [sys.executable, "-m", "nodish", "connect", "127.0.0.1", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert tool.stdout is not None and tool.stderr is not None
        assert tool.stdout.read(10) == b"line\nline\n"
        tool.stdout.close()  # like `nodish connect HOST PORT | head -2`
        assert tool.wait(TIMEOUT) == 0
        assert tool.stderr.read() == b""
        tool.stderr.close()
        if tool.stdin is not None:
            tool.stdin.close()


def test_bad_durations_are_usage_errors_for_every_client() -> None:
    for args in (
        ("connect", "127.0.0.1", "80", "--timeout", "-5"),
        ("connect", "--udp", "127.0.0.1", "80", "--wait", "nan"),
        ("get", "--timeout", "-1", "http://127.0.0.1:1/"),
        ("get", "-L", "--max-redirects", "-3", "http://127.0.0.1:1/"),
        ("ws", "--timeout", "soon", "ws://127.0.0.1:1/"),
    ):
        out = nodish(*args)
        assert out.returncode == 2, args
        assert b"usage" in out.stderr and b"Traceback" not in out.stderr, args
