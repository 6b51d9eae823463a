"""nodish.certs: keys, CA, CSRs and certificates, checked with Python's strict ssl."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from nodish import certs


@pytest.fixture(scope="module")
def ca() -> certs.CA:
    return certs.create_ca("Unit CA")


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str) -> str:
    """A TLS handshake over memory BIOs; returns the negotiated version."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=host)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, obj, out, peer_in in (("c", client, c_out, s_in), ("s", server, s_out, c_in)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            return str(client.version())
    raise AssertionError("handshake did not finish")


def strict_client(ca: certs.CA) -> ssl.SSLContext:
    ctx = ca.client_context()
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


def test_rsa_2048_by_default_and_ec_on_request() -> None:
    key = certs.create_key()
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    eck = certs.create_key("ec", curve="P-384")
    assert isinstance(eck, ec.EllipticCurvePrivateKey) and eck.curve.name == "secp384r1"


def test_1024_bit_rsa_only_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="OpenSSL 3"):
        key = certs.create_key(bits=1024)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 1024


@pytest.mark.parametrize(
    ("kind", "kwargs"), [("dsa", {}), ("rsa", {"bits": 512}), ("ec", {"curve": "nope"})]
)
def test_bad_key_requests_are_refused(kind: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(certs.CertError):
        certs.create_key(kind, **kwargs)  # type: ignore[arg-type]


def test_encrypted_key_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    key = certs.create_key("ec")
    path = tmp_path / "key.pem"
    certs.write_private(path, certs.key_pem(key, "s3cret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in path.read_bytes()
    loaded = certs.load_key(path, "s3cret")
    assert loaded.public_key() == key.public_key()
    with pytest.raises(certs.CertError, match="wrong passphrase"):
        certs.load_key(path, "wrong")
    with pytest.raises(certs.CertError, match="passphrase is needed"):
        certs.load_key(path)
    with pytest.raises(certs.CertError, match="No such file"):
        certs.load_key(tmp_path / "missing.pem")
    with pytest.raises(certs.CertError, match="not a PEM private key"):
        certs.load_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_existing_key_file_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("old")
    path.chmod(0o644)
    certs.write_private(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b"new"


def test_ca_extensions(ca: certs.CA) -> None:
    bc = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert ca.cert.serial_number > 0 and ca.cert.serial_number.bit_length() <= 159


def test_server_certificate_passes_strict_verification(ca: certs.CA) -> None:
    leaf = ca.issue_server("localhost", "127.0.0.1", "::1")
    sans = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    for host in ("localhost", "127.0.0.1"):
        assert handshake(leaf.server_context(), strict_client(ca), host).startswith("TLSv1.")


def test_ec_and_intermediate_chains_verify(ca: certs.CA) -> None:
    ec_ca = certs.create_ca("EC CA", key=certs.create_key("ec"))
    handshake(ec_ca.issue_server("localhost").server_context(), strict_client(ec_ca), "localhost")
    inter = ca.create_intermediate("Unit Intermediate")
    leaf = inter.issue_server("localhost")
    assert leaf.chain == (inter.cert,)
    assert leaf.chain_pem.count(b"BEGIN CERTIFICATE") == 2
    handshake(leaf.server_context(), strict_client(ca), "localhost")


def test_wrong_host_fails_python_verification(ca: certs.CA) -> None:
    leaf = ca.issue_server("localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(leaf.server_context(), strict_client(ca), "example.com")


def test_client_certificate_for_mutual_tls(ca: certs.CA) -> None:
    client = ca.issue_client("alice")
    eku = client.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.5.5.7.3.2"]
    assert client.common_name == "alice"
    server_ctx = ca.issue_server("localhost").server_context()
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cadata=ca.cert_pem.decode())
    server_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    client_ctx = strict_client(ca)
    client.load_into(client_ctx)
    handshake(server_ctx, client_ctx, "localhost")


def test_sign_keeps_csr_subject_and_sans(ca: certs.CA) -> None:
    key = certs.create_key("ec")
    csr = certs.create_csr(key, "api.test", hosts=["api.test", "10.0.0.1"])
    cert = ca.sign(csr, hosts=["extra.test"])
    assert cert.subject == csr.subject
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.test", "extra.test"]
    assert certs.verify_signature(cert, ca.cert)


def test_cn_only_csr_gives_cn_only_certificate(ca: certs.CA) -> None:
    csr = certs.create_csr(certs.create_key(), "localhost")
    cert = ca.sign(csr)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_tampered_csr_is_refused(ca: certs.CA) -> None:
    der = certs.create_csr(certs.create_key("ec"), "victim").public_bytes(Encoding.DER)
    forged = x509.load_der_x509_csr(der.replace(b"victim", b"mallet"))
    assert forged.subject.rfc4514_string() == "CN=mallet"
    with pytest.raises(certs.CertError, match="does not match"):
        ca.sign(forged)


def test_ca_key_must_match(ca: certs.CA) -> None:
    with pytest.raises(certs.CertError, match="does not match"):
        certs.load_ca(ca.cert_pem, certs.key_pem(certs.create_key()))
    leaf = ca.issue_server("leaf.test")  # a server's certificate given for the CA's
    with pytest.raises(certs.CertError, match=r"'leaf\.test' is not a CA's"):
        certs.load_ca(leaf.cert_pem, leaf.key_pem())
    inter = ca.create_intermediate("Intermediate")
    assert certs.load_ca(inter.cert_pem, inter.key_pem()).common_name == "Intermediate"


def test_bad_names_are_refused(ca: certs.CA) -> None:
    with pytest.raises(certs.CertError):
        ca.issue_server()
    with pytest.raises(certs.CertError):
        ca.issue_server("")
    with pytest.raises(certs.CertError):
        certs.create_ca("")
    with pytest.raises(certs.CertError):
        ca.issue_server("localhost", days=0)
    # limits that cryptography or datetime would raise on with a traceback
    with pytest.raises(certs.CertError, match="before the year 10000"):
        ca.issue_server("localhost", days=10**8)
    with pytest.raises(certs.CertError, match="not a valid name"):
        certs.create_ca("x" * 65)
    with pytest.raises(certs.CertError, match="at most 16384 bits"):
        certs.create_key(bits=100_000)  # would run for hours; OpenSSL would not use it
    assert certs.create_key("ec", curve="p-384").curve.name == "secp384r1"
    # names no certificate can match: a comma-joined list, blanks, empty labels
    for host in ("localhost,127.0.0.1", "bad host", "a..b", ".", "**.x", "x.*.y"):
        with pytest.raises(certs.CertError, match="not a valid host name"):
            ca.issue_server(host)
    with pytest.raises(certs.CertError, match="give each separately"):
        certs.create_csr(certs.create_key("ec"), "x", hosts=["a.test,b.test"])
    sans = ca.issue_server("*.b.test", "_srv.test", "example.com.", "bücher.test").cert
    names = sans.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "*.b.test",
        "_srv.test",
        "example.com",
        "xn--bcher-kva.test",
    ]
