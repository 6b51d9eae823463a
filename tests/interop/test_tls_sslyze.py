"""sslyze (PyPI) scans a nodish TLS server: nothing below TLS 1.2, no weak cipher, no
known vulnerability. sslyze lives in its own virtualenv (``make install`` makes
``.venv-sslyze``): it pins an older cryptography than nodish uses."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from tests.helpers import wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import tls

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]
SSLYZE = os.environ.get("NODISH_SSLYZE", str(ROOT / ".venv-sslyze" / "bin" / "sslyze"))
WEAK = ("CBC", "RC4", "3DES", "DES_", "NULL", "EXPORT", "MD5", "anon", "_SHA ")


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
async def test_sslyze_finds_nothing_weak(key_type: str, tmp_path: Path) -> None:
    assert os.access(SSLYZE, os.X_OK), f"sslyze is not installed at {SSLYZE}: run make install"
    p = pki()
    leaf = p.server if key_type == "ec" else p.rsa_server
    server = tls.create_server(lambda s: s.on("error", lambda e: None), **p.server_options(leaf))
    client_errors: list[BaseException] = []
    server.on("tlsClientError", lambda err, s: client_errors.append(err))
    await server.listen(0, "127.0.0.1")
    versions = ["--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3"]
    checks = ["--reneg", "--openssl_ccs", "--robot", "--heartbleed", "--compression"]
    commands = [*versions, *checks, "--fallback", "--ems", "--mozilla_config=disable"]
    proc = await asyncio.create_subprocess_exec(
        SSLYZE,
        *commands,
        f"--json_out={tmp_path / 'scan.json'}",
        "--quiet",
        f"127.0.0.1:{server.address().port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    scan = json.loads((tmp_path / "scan.json").read_text())["server_scan_results"][0]
    assert scan["scan_status"] == "COMPLETED", scan
    r = {k: v["result"] for k, v in scan["scan_result"].items() if v.get("status") == "COMPLETED"}
    for old in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        assert r[f"{old}_cipher_suites"]["accepted_cipher_suites"] == [], old
    accepted = [
        c["cipher_suite"]
        for v in ("tls_1_2", "tls_1_3")
        for c in r[f"{v}_cipher_suites"]["accepted_cipher_suites"]
    ]
    assert accepted and r["tls_1_3_cipher_suites"]["is_tls_version_supported"]
    for suite in accepted:
        assert suite["key_size"] >= 128 and not suite["is_anonymous"], suite
        assert not any(w in suite["name"] + " " for w in WEAK), suite["name"]
    assert r["heartbleed"]["is_vulnerable_to_heartbleed"] is False
    assert r["openssl_ccs_injection"]["is_vulnerable_to_ccs_injection"] is False
    assert r["robot"]["robot_result"].startswith("NOT_VULNERABLE")
    assert r["tls_compression"]["supports_compression"] is False
    assert r["session_renegotiation"]["is_vulnerable_to_client_renegotiation_dos"] is False
    assert r["session_renegotiation"]["supports_secure_renegotiation"] is True
    assert r["tls_fallback_scsv"]["supports_fallback_scsv"] is True
    assert r["tls_extended_master_secret"]["supports_ems_extension"] is True
    assert client_errors  # the refused probes were reported, and the server kept serving
    ca = p.ca if key_type == "ec" else p.rsa_ca
    sock = await tls.connect(server.address().port, "localhost", ca=ca.cert_pem)
    assert sock.authorized
    sock.destroy()
    server.close()
    await wait_event(server, "close")
