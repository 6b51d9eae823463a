"""``nodish get``: run as a subprocess against Python's own http.server (and its ssl),
for the body, -v, -o with a progress bar, redirects, and each failure's exit status."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nodish import certs
from tests.cli.proc import TIMEOUT, nodish

BIG = bytes(range(256)) * (3 * 4096)  # 3 MiB


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/":
            self.send(200, b"hello\n", Content_Type="text/plain")
        elif self.path == "/big":
            self.send(200, BIG)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one ", b"two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/moved":
            self.send(302, b"go away\n", Location="/")
        elif self.path == "/loop":
            self.send(301, b"", Location="/loop")
        elif self.path.startswith("/echo"):
            self.send(200, f"{self.path}\n".encode())
        elif self.path == "/headers":
            self.send(200, f"{self.headers['X-Test']}\n".encode())
        else:
            self.send(404, b"no such page\n")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server (Python's ssl) with a certificate for localhost: (URL, CA file)."""
    tmp = tmp_path_factory.mktemp("tls")
    ca = certs.create_ca("get test CA")
    ca.issue_server("localhost", "127.0.0.1").write(tmp / "cert.pem", tmp / "key.pem")
    (tmp / "ca.pem").write_bytes(ca.cert_pem)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://localhost:{httpd.server_address[1]}", tmp / "ca.pem"
    httpd.shutdown()
    httpd.server_close()


def test_the_body_goes_to_stdout(server: str) -> None:
    out = nodish("get", f"{server}/")
    assert (out.returncode, out.stdout, out.stderr) == (0, b"hello\n", b"")
    chunked = nodish("get", f"{server}/chunked")
    assert chunked.stdout == b"one two\n"


def test_a_non_ascii_url_is_sent_percent_encoded_as_node_does(server: str) -> None:
    out = nodish("get", f"{server}/echo/café?q=é b#frag")
    assert (out.returncode, out.stdout) == (0, b"/echo/caf%C3%A9?q=%C3%A9%20b\n")


def test_verbose_prints_both_heads_on_stderr(server: str) -> None:
    out = nodish("get", "-v", "-H", "X-Test: 42", f"{server}/headers")
    err = out.stderr.decode().splitlines()
    assert out.stdout == b"42\n"
    assert err[0] == "> GET /headers HTTP/1.1"
    assert "> X-Test: 42" in err
    assert "< HTTP/1.1 200 OK" in err and "< Content-Length: 3" in err


def test_output_to_a_file_with_a_progress_bar(server: str, tmp_path: Path) -> None:
    out = nodish("get", "-o", str(tmp_path / "big.bin"), f"{server}/big")
    assert out.returncode == 0
    assert (tmp_path / "big.bin").read_bytes() == BIG
    assert out.stdout == b""
    last = out.stderr.decode().split("\r")[-1]
    assert "100.0%" in last and "of 3.1 MB" in last
    quiet = nodish("get", "-s", "-o", str(tmp_path / "again.bin"), f"{server}/big")
    assert quiet.stderr == b""


def test_redirects_are_followed_with_L_and_noted_without(server: str) -> None:
    out = nodish("get", "-L", f"{server}/moved")
    assert (out.returncode, out.stdout) == (0, b"hello\n")
    plain = nodish("get", f"{server}/moved")
    assert (plain.returncode, plain.stdout) == (0, b"go away\n")
    assert plain.stderr == b"nodish get: 302 redirect to / (follow it with -L)\n"
    loop = nodish("get", "-L", "--max-redirects", "3", f"{server}/loop")
    assert loop.returncode == 8
    assert loop.stderr == b"nodish get: more than 3 redirects\n"


def test_an_error_status_prints_the_body_and_exits_8(server: str) -> None:
    out = nodish("get", f"{server}/missing")
    assert out.returncode == 8
    assert out.stdout == b"no such page\n"
    assert out.stderr == b"nodish get: HTTP 404 Not Found\n"


def test_refused_not_found_and_bad_urls() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        refused = nodish("get", f"http://127.0.0.1:{port}/")
    assert refused.returncode == 3 and b"ECONNREFUSED" in refused.stderr
    missing = nodish("get", "http://no-such-host.invalid/")
    assert missing.returncode == 4 and b"ENOTFOUND" in missing.stderr
    for bad in ("ftp://example.com/", "http://", "http://host:port/"):
        out = nodish("get", bad)
        assert out.returncode == 2, bad
        assert out.stderr.count(b"\n") == 1 and b"Traceback" not in out.stderr


def test_a_server_that_never_answers_times_out_exit_5() -> None:
    with socket.create_server(("127.0.0.1", 0)) as mute:
        out = nodish("get", "--timeout", "0.5", f"http://127.0.0.1:{mute.getsockname()[1]}/")
    assert out.returncode == 5
    assert b"ETIMEDOUT" in out.stderr and out.stderr.count(b"\n") == 1


def test_https_checks_the_certificate(tls_server: tuple[str, Path]) -> None:
    url, ca = tls_server
    untrusted = nodish("get", f"{url}/")
    assert untrusted.returncode == 6
    assert b"UNABLE_TO_VERIFY_LEAF_SIGNATURE" in untrusted.stderr
    trusted = nodish("get", "--ca", str(ca), f"{url}/")
    assert (trusted.returncode, trusted.stdout) == (0, b"hello\n")
    insecure = nodish("get", "-k", f"{url}/")
    assert (insecure.returncode, insecure.stdout) == (0, b"hello\n")
    by_ip = nodish("get", "--ca", str(ca), url.replace("localhost", "127.0.0.1") + "/")
    assert by_ip.returncode == 0


def test_a_reader_that_goes_away_stops_the_tool_quietly(server: str) -> None:
    import sys

    get = subprocess.Popen(
        [sys.executable, "-m", "nodish", "get", f"{server}/big"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert get.stdout is not None and get.stderr is not None
    assert len(get.stdout.read(1000)) == 1000
    get.stdout.close()  # like `nodish get URL | head -c 1000`
    assert get.wait(TIMEOUT) == 0
    assert get.stderr.read() == b""
    get.stderr.close()
