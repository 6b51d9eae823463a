"""``nodish cert`` and nodish.certs against the openssl CLI: the seed's five steps."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from nodish import certs

pytestmark = pytest.mark.interop
OPENSSL = shutil.which("openssl") or "openssl"


def nodish_cert(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodish", "cert", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def openssl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_seed_steps_with_nodish_cert_read_by_openssl(tmp_path: Path) -> None:
    ok(nodish_cert(tmp_path, "key", "-o", "server-key.pem"))
    assert stat.S_IMODE((tmp_path / "server-key.pem").stat().st_mode) == 0o600
    assert "Private-Key: (2048 bit" in ok(
        openssl(tmp_path, "rsa", "-in", "server-key.pem", "-noout", "-text")
    )
    # step 2: the public key, byte for byte what openssl derives
    ok(nodish_cert(tmp_path, "pubkey", "server-key.pem", "-o", "pub.pem"))
    theirs = ok(openssl(tmp_path, "rsa", "-in", "server-key.pem", "-pubout"))
    assert (tmp_path / "pub.pem").read_text() == theirs
    # step 3: a CA with an encrypted key
    ok(nodish_cert(tmp_path, "ca", "--cn", "Seed CA", "--passout", "pw"))
    ok(openssl(tmp_path, "rsa", "-in", "ca-key.pem", "-passin", "pass:pw", "-check", "-noout"))
    ok(openssl(tmp_path, "verify", "-x509_strict", "-CAfile", "ca-cert.pem", "ca-cert.pem"))
    # step 4: a CSR with SANs, verified by openssl
    ok(
        nodish_cert(
            tmp_path,
            "csr",
            "--key",
            "server-key.pem",
            "--cn",
            "localhost",
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
            "-o",
            "server.csr",
        )
    )
    assert "verify OK" in (
        openssl(tmp_path, "req", "-in", "server.csr", "-verify", "-noout").stderr
        + openssl(tmp_path, "req", "-in", "server.csr", "-verify", "-noout").stdout
    )
    # step 5: signed by the CA; strict verification for a TLS server
    ok(
        nodish_cert(
            tmp_path,
            "sign",
            "server.csr",
            "--ca",
            "ca-cert.pem",
            "--ca-key",
            "ca-key.pem",
            "--ca-passin",
            "pw",
            "-o",
            "server-cert.pem",
        )
    )
    out = ok(
        openssl(
            tmp_path,
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            "ca-cert.pem",
            "server-cert.pem",
        )
    )
    assert "server-cert.pem: OK" in out
    text = ok(
        openssl(tmp_path, "x509", "-in", "server-cert.pem", "-noout", "-ext", "subjectAltName")
    )
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    ok(openssl(tmp_path, "x509", "-in", "server-cert.pem", "-noout", "-checkhost", "localhost"))


def test_one_shot_server_and_client_certificates(tmp_path: Path) -> None:
    ok(nodish_cert(tmp_path, "ca", "--type", "ec"))
    ok(
        nodish_cert(
            tmp_path, "server", "localhost", "::1", "--ca", "ca-cert.pem", "--ca-key", "ca-key.pem"
        )
    )
    ok(nodish_cert(tmp_path, "client", "alice", "--ca", "ca-cert.pem", "--ca-key", "ca-key.pem"))
    for name, purpose in (("server", "sslserver"), ("client", "sslclient")):
        assert stat.S_IMODE((tmp_path / f"{name}-key.pem").stat().st_mode) == 0o600
        ok(
            openssl(
                tmp_path,
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                "ca-cert.pem",
                f"{name}-cert.pem",
            )
        )
        # the key belongs to the certificate
        pub_cert = ok(openssl(tmp_path, "x509", "-in", f"{name}-cert.pem", "-noout", "-pubkey"))
        pub_key = ok(openssl(tmp_path, "pkey", "-in", f"{name}-key.pem", "-pubout"))
        assert pub_cert == pub_key


def test_openssl_made_csr_signed_by_nodish(tmp_path: Path) -> None:
    ok(openssl(tmp_path, "genrsa", "-out", "key.pem", "2048"))
    ok(
        openssl(
            tmp_path, "req", "-new", "-key", "key.pem", "-subj", "/CN=localhost", "-out", "s.csr"
        )
    )
    ok(nodish_cert(tmp_path, "ca"))
    ok(
        nodish_cert(
            tmp_path,
            "sign",
            "s.csr",
            "--ca",
            "ca-cert.pem",
            "--ca-key",
            "ca-key.pem",
            "-o",
            "s.pem",
        )
    )
    ok(openssl(tmp_path, "verify", "-x509_strict", "-CAfile", "ca-cert.pem", "s.pem"))
    subject = ok(openssl(tmp_path, "x509", "-in", "s.pem", "-noout", "-subject"))
    assert "CN = localhost" in subject


def test_openssl_made_ca_and_encrypted_key_are_read(tmp_path: Path) -> None:
    ok(openssl(tmp_path, "genrsa", "-aes256", "-passout", "pass:pw", "-out", "ca-key.pem", "2048"))
    ok(
        openssl(
            tmp_path,
            "req",
            "-x509",
            "-new",
            "-key",
            "ca-key.pem",
            "-passin",
            "pass:pw",
            "-days",
            "30",
            "-subj",
            "/CN=OpenSSL CA",
            "-out",
            "ca.pem",
        )
    )
    ca = certs.load_ca(tmp_path / "ca.pem", tmp_path / "ca-key.pem", "pw")
    ca.issue_server("localhost").write(tmp_path / "s.pem", tmp_path / "s-key.pem")
    ok(openssl(tmp_path, "verify", "-CAfile", "ca.pem", "s.pem"))


CA_ARGS = "--ca ca-cert.pem --ca-key ca-key.pem"


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA with an encrypted key, a server certificate, another key, a CSR and a forged
    CSR (read only)."""
    d = tmp_path_factory.mktemp("bad")
    ok(nodish_cert(d, "ca", "--passout", "pw"))
    ok(nodish_cert(d, "key", "-o", "other-key.pem"))
    leaf = ("--cert-out", "leaf-cert.pem", "--key-out", "leaf-key.pem")
    ok(nodish_cert(d, "server", "leaf.test", *CA_ARGS.split(), "--ca-passin", "pw", *leaf))
    ok(nodish_cert(d, "csr", "--key", "other-key.pem", "--cn", "victim", "-o", "s.csr"))
    der = ok(openssl(d, "req", "-in", "s.csr", "-outform", "PEM"))
    forged = certs.load_csr(der.encode()).public_bytes(Encoding.DER)
    forged_csr = x509.load_der_x509_csr(forged.replace(b"victim", b"mallet"))
    (d / "forged.csr").write_bytes(certs.csr_pem(forged_csr))
    return d


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (f"sign s.csr {CA_ARGS} --ca-passin bad", "wrong passphrase"),
        (f"sign s.csr {CA_ARGS}", "passphrase is needed"),
        (f"sign missing.csr {CA_ARGS} --ca-passin pw", "missing.csr: No such file"),
        ("sign s.csr --ca ca-cert.pem --ca-key other-key.pem", "does not match"),
        (f"sign forged.csr {CA_ARGS} --ca-passin pw", "does not match its public key"),
        ("pubkey ca-cert.pem", "not a PEM private key"),
        (f"server localhost {CA_ARGS} --ca-passin env:NO_SUCH_VAR_X", "NO_SUCH_VAR_X is not set"),
        ("pubkey .", ".: Is a directory"),
        ("sign s.csr --ca . --ca-key ca-key.pem --ca-passin pw", ".: Is a directory"),
        ("key -o .", ".: Is a directory"),
        ("key -o other-key.pem/k.pem", "other-key.pem/k.pem: Not a directory"),
        ("key -o /proc/nodish-key.pem", "/proc/nodish-key.pem: "),  # unwritable, even for root
        # an existing file is kept (openssl would overwrite it): a step writes nothing
        ("key -o other-key.pem", "other-key.pem: already exists (--force overwrites it)"),
        (f"server localhost {CA_ARGS} --ca-passin pw --key-out s.csr", "s.csr: already exists"),
        (f"server localhost,::1 {CA_ARGS} --ca-passin pw", "give each separately"),
        ("sign s.csr --ca leaf-cert.pem --ca-key leaf-key.pem", "'leaf.test' is not a CA's"),
        ("key -o new-key.pem --passout=", "an empty passphrase cannot encrypt a key"),
        ("key -o new-key.pem --bits 100000", "at most 16384 bits"),
    ],
)
def test_cli_failures_are_one_line_and_exit_1(bad_inputs: Path, args: str, message: str) -> None:
    before = {p.name: p.read_bytes() for p in bad_inputs.iterdir()}
    out = nodish_cert(bad_inputs, *args.split())
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert {p.name: p.read_bytes() for p in bad_inputs.iterdir()} == before  # nothing written


def test_force_overwrites_and_a_second_ca_keeps_the_first_key(tmp_path: Path) -> None:
    ok(nodish_cert(tmp_path, "ca", "--cn", "First"))
    first = (tmp_path / "ca-key.pem").read_bytes()
    again = nodish_cert(tmp_path, "ca", "--cn", "Second")
    assert again.returncode == 1 and "ca-cert.pem: already exists" in again.stderr
    assert (tmp_path / "ca-key.pem").read_bytes() == first
    ok(nodish_cert(tmp_path, "ca", "--cn", "Second", "--force"))
    assert (tmp_path / "ca-key.pem").read_bytes() != first
    assert stat.S_IMODE((tmp_path / "ca-key.pem").stat().st_mode) == 0o600
    assert certs.load_ca(tmp_path / "ca-cert.pem", tmp_path / "ca-key.pem").common_name == "Second"


def test_ctrl_c_ends_a_long_key_generation_at_once(tmp_path: Path) -> None:
    """As openssl does: no traceback, no key file, and no wait for the generation."""
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "nodish", "cert", "key", "--bits", "16384", "-o", "big.pem"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        deadline = time.monotonic() + 60
        while cpu_seconds() < 1.0:  # past the imports: generating the key
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGINT
    assert "Traceback" not in err
    assert not (tmp_path / "big.pem").exists()
