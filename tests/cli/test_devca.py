"""The demo's development CA: made once in the user's data directory, then reused; the
server certificates it issues pass ``openssl verify -x509_strict``."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from nodish.demo.devca import DevCA, data_dir


def test_the_ca_is_created_once_then_reused_with_a_private_key(tmp_path: Path) -> None:
    first = DevCA(tmp_path / "demo")
    assert first.created
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    again = DevCA(tmp_path / "demo")
    assert not again.created
    assert again.cert_path.read_bytes() == first.cert_path.read_bytes()
    assert "(created now)" not in again.how_to_trust()[0]


def test_server_certificates_verify_strictly_for_every_loopback_name(tmp_path: Path) -> None:
    ca = DevCA(tmp_path)
    leaf = ca.server_certificate("192.0.2.7")
    (tmp_path / "server.pem").write_bytes(leaf.cert_pem)
    for host in ("localhost", "127.0.0.1", "::1", "192.0.2.7"):
        flag = "-verify_ip" if host[0].isdigit() or ":" in host else "-verify_hostname"
        out = subprocess.run(
            [
                "openssl",
                "verify",
                "-x509_strict",
                "-CAfile",
                str(ca.cert_path),
                flag,
                host,
                str(tmp_path / "server.pem"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, (host, out.stdout, out.stderr)


def test_the_data_directory_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert data_dir() == tmp_path / "nodish" / "demo"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data_dir() == Path.home() / ".local" / "share" / "nodish" / "demo"
