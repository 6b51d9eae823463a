"""``nodish echo tcp --tls`` and ``nodish connect --tls``: each other, openssl as the
real peer on either side, and each certificate failure's one line and exit status 6."""

from __future__ import annotations

import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.proc import TIMEOUT, Tool, listening_port, nodish


@pytest.fixture
def data_home(tmp_path: Path) -> dict[str, str]:
    """A private user data directory: the development CA is made there."""
    return {"XDG_DATA_HOME": str(tmp_path)}


@pytest.fixture
def tls_echo(data_home: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A ``nodish echo tcp --tls`` server: (port, the CA file to trust)."""
    with Tool("echo", "tcp", "--tls", "--port", "0", env=data_home) as tool:
        hint = tool.line("stderr")
        ca = str(tmp_path / "nodish" / "demo" / "ca-cert.pem")
        assert hint.endswith(f"clients trust it with --ca {ca}")
        yield listening_port(tool.line()), ca
        status, err = tool.interrupt()
        assert status == 0 and "Traceback" not in err


def test_connect_over_tls_trusting_the_development_ca(tls_echo: tuple[int, str]) -> None:
    port, ca = tls_echo
    out = nodish("connect", "localhost", str(port), "--tls", "--ca", ca, input=b"secret\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"secret\n"


def test_openssl_s_client_is_echoed_by_the_tls_echo(tls_echo: tuple[int, str]) -> None:
    port, ca = tls_echo
    client = subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-CAfile",
            ca,
            "-verify_hostname",
            "localhost",
            "-connect",
            f"127.0.0.1:{port}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(b"through openssl\n")
        client.stdin.flush()
        ready, _, _ = select.select([client.stdout], [], [], TIMEOUT)
        assert ready, "no echo from the TLS echo server"
        assert client.stdout.readline() == b"through openssl\n"
    finally:
        client.kill()
        client.communicate()


def test_an_untrusted_certificate_is_one_line_with_its_code_exit_6(
    tls_echo: tuple[int, str],
) -> None:
    port, _ = tls_echo
    out = nodish("connect", "localhost", str(port), "--tls", input=b"x")
    err = out.stderr.decode()
    assert out.returncode == 6
    assert err.count("\n") == 1 and "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in err and "--ca" in err
    insecure = nodish("connect", "localhost", str(port), "--tls", "--insecure", input=b"x")
    assert (insecure.returncode, insecure.stdout) == (0, b"x")


def test_a_certificate_for_another_name_is_altname_invalid_exit_6(
    tls_echo: tuple[int, str],
) -> None:
    port, ca = tls_echo
    out = nodish(
        "connect", "localhost", str(port), "--tls", "--ca", ca, "--servername", "example.com"
    )
    assert out.returncode == 6
    assert b"ERR_TLS_CERT_ALTNAME_INVALID" in out.stderr and b"--servername" in out.stderr


def test_a_missing_ca_file_is_enoent_exit_1() -> None:
    out = nodish("connect", "localhost", "1", "--tls", "--ca", "/no/such/ca.pem")
    assert out.returncode == 1
    assert out.stderr.decode() == "nodish connect: open ENOENT /no/such/ca.pem (no such file)\n"


def test_connect_tls_talks_to_openssl_s_server_with_given_cert_files(
    data_home: dict[str, str], tmp_path: Path
) -> None:
    from nodish import certs

    ca = certs.create_ca("test CA")
    ca.issue_server("localhost").write(tmp_path / "cert.pem", tmp_path / "key.pem")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-quiet",
            "-accept",
            f"127.0.0.1:{port}",
            "-naccept",
            "1",
            "-cert",
            str(tmp_path / "cert.pem"),
            "-key",
            str(tmp_path / "key.pem"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = None
        for _ in range(50):  # until s_server listens (it prints nothing with -quiet)
            out = nodish(
                "connect",
                "localhost",
                str(port),
                "--tls",
                "--ca",
                str(tmp_path / "ca.pem"),
                input=b"to openssl\n",
            )
            if out.returncode != 3:
                break
        assert out is not None and out.returncode == 0, out and out.stderr
        got = server.stdout.read(len(b"to openssl\n")) if server.stdout else b""
        assert got == b"to openssl\n"
    finally:
        server.kill()
        server.communicate()


def test_tls_echo_with_only_a_cert_is_a_usage_error(data_home: dict[str, str]) -> None:
    out = nodish("echo", "tcp", "--tls", "--cert", "x.pem", env=data_home)
    assert out.returncode == 2 and b"--cert and --key go together" in out.stderr
    out = nodish("echo", "udp", "--tls", env=data_home)
    assert out.returncode == 2
