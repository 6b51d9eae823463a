"""``nodish.certs``: keys, certificate authorities, CSRs and certificates, on cryptography.

    from nodish import certs

    ca = certs.create_ca("My Dev CA")
    server = ca.issue_server("localhost", "127.0.0.1")
    server.write("server-cert.pem", "server-key.pem")
    ca.write("ca-cert.pem", "ca-key.pem", passphrase="secret")

The seed's five OpenSSL steps, one function each::

    openssl genrsa -out key.pem 2048              create_key()
    openssl rsa -in key.pem -pubout               public_key_pem(key)
    openssl req -x509 -new -key ca-key.pem ...    create_ca(name, key=key)
    openssl req -new -key key.pem -subj ...       create_csr(key, common_name, hosts=...)
    openssl x509 -req -in x.csr -CA ... -CAkey    ca.sign(csr)

Theory of operation
-------------------
What we issue passes strict verification (OpenSSL's ``X509_V_FLAG_X509_STRICT``, Python's
``ssl.VERIFY_X509_STRICT``, ``openssl verify -x509_strict``): version 3, a random positive
serial of at most 159 bits, a CA with a *critical* BasicConstraints(ca=True) and a
KeyUsage with keyCertSign/cRLSign, a SubjectKeyIdentifier on every certificate and an
AuthorityKeyIdentifier on every certificate the CA signs, and leaves with
BasicConstraints(ca=False), KeyUsage and ExtendedKeyUsage matching their role. Host names
go into the SubjectAlternativeName as DNS names, IP literals as IP addresses (RFC 6125:
an IP in a DNS name never matches). Validity starts one minute in the past, so clocks a
little apart still agree.

A CSR signed by :meth:`CA.sign` keeps its subject and its requested SANs; a CSR made by
the openssl CLI with only a CN (the seed's) gives a certificate with a CN and no SAN,
which Node's ``checkServerIdentity`` accepts (it falls back to the CN) and Python's
``ssl`` rejects: ``nodish.tls`` follows Node.

Private keys are written with mode 0600 (created so, never widened), encrypted with the
best available scheme when a passphrase is given (PKCS#8, AES-256-CBC, the same
openssl's ``-aes256`` writes). RSA keys are 2048 bits unless asked; 1024 bits is allowed
with a warning, since OpenSSL 3 at its default security level refuses such keys.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
import ssl
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA",
    "CertError",
    "Certificate",
    "PrivateKey",
    "create_ca",
    "create_csr",
    "create_key",
    "csr_pem",
    "key_pem",
    "load_ca",
    "load_cert",
    "load_csr",
    "load_key",
    "public_key_pem",
    "verify_signature",
    "write_private",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_PathOrData = str | bytes | os.PathLike[str]

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "prime256v1": ec.SECP256R1,
    "secp256r1": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "secp384r1": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "secp521r1": ec.SECP521R1,
}

# Clocks a little apart must still agree that a fresh certificate is valid.
_BACKDATE = _dt.timedelta(minutes=1)


class CertError(ValueError):
    """A key, CSR or certificate that cannot be used: wrong passphrase, not PEM, a
    signature or key that does not match. ``str(err)`` is one line for a user."""


# ----------------------------------------------------------------------------- keys


def create_key(kind: str = "rsa", *, bits: int = 2048, curve: str = "P-256") -> PrivateKey:
    """A new private key: RSA (``bits``, 2048 by default) or EC (``curve``, P-256).

    1024-bit RSA is made only when asked, with a warning: OpenSSL 3 refuses it at its
    default security level (``ee key too small``).
    """
    if kind == "rsa":
        if not isinstance(bits, int) or bits < 1024:
            raise CertError(f"RSA keys must be at least 1024 bits, not {bits!r}")
        if bits > 16384:  # OpenSSL's OPENSSL_RSA_MAX_MODULUS_BITS: it would never use it
            raise CertError(f"RSA keys must be at most 16384 bits, not {bits!r}")
        if bits < 2048:
            warnings.warn(
                f"a {bits}-bit RSA key is refused by OpenSSL 3 at its default security "
                "level; use 2048 bits or more",
                stacklevel=2,
            )
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ec":
        try:
            curve_class = (
                _CURVES.get(curve) or {k.lower(): v for k, v in _CURVES.items()}[str(curve).lower()]
            )
            return ec.generate_private_key(curve_class())
        except KeyError:
            names = ", ".join(sorted(_CURVES))
            raise CertError(f"unknown curve {curve!r} (one of {names})") from None
    raise CertError(f"unknown key type {kind!r} (rsa or ec)")


def key_pem(key: PrivateKey, passphrase: str | bytes | None = None) -> bytes:
    """The key as PEM (PKCS#8), encrypted when ``passphrase`` is given."""
    enc: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if passphrase:
        enc = serialization.BestAvailableEncryption(_bytes(passphrase))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def public_key_pem(key: PrivateKey | x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo), what ``openssl rsa -pubout`` prints."""
    pub = key.public_key()
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_key(source: _PathOrData, passphrase: str | bytes | None = None) -> PrivateKey:
    """A private key from PEM bytes or a file (PKCS#1, PKCS#8 or SEC1, maybe encrypted).

    Raises:
        CertError: missing file, not a key, wrong or missing passphrase.
    """
    data, where = _read(source)
    try:
        key = serialization.load_pem_private_key(
            data, password=_bytes(passphrase) if passphrase else None
        )
    except TypeError as exc:
        if "encrypted" in str(exc) and "not encrypted" not in str(exc):
            raise CertError(f"{where}: the key is encrypted, a passphrase is needed") from None
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        if passphrase and b"ENCRYPTED" in data:
            raise CertError(f"{where}: wrong passphrase") from None
        raise CertError(f"{where}: not a PEM private key ({exc})") from None
    except UnsupportedAlgorithm as exc:
        raise CertError(f"{where}: unsupported key ({exc})") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CertError(f"{where}: only RSA and EC keys are supported")
    return key


def load_cert(source: _PathOrData) -> x509.Certificate:
    """The first certificate of a PEM file or bytes."""
    data, where = _read(source)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertError(f"{where}: not a PEM certificate") from None


def load_csr(source: _PathOrData) -> x509.CertificateSigningRequest:
    """A certificate signing request from PEM bytes or a file."""
    data, where = _read(source)
    try:
        return x509.load_pem_x509_csr(data)
    except ValueError:
        raise CertError(f"{where}: not a PEM certificate signing request") from None


def write_private(path: str | os.PathLike[str], data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` readable by its owner alone (mode 0600).

    The file is created with that mode (an existing file is narrowed first), so the
    key is never readable by others, not even for a moment. With ``exclusive`` an
    existing file is left alone and ``FileExistsError`` raised.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- CSRs


def create_csr(
    key: PrivateKey,
    common_name: str,
    *,
    hosts: Iterable[str] = (),
    organization: str | None = None,
) -> x509.CertificateSigningRequest:
    """A CSR for ``common_name``, requesting ``hosts`` (DNS names and IPs) as SANs."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name, organization))
    sans = _sans(hosts)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, _digest(key))


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    """The CSR as PEM."""
    return csr.public_bytes(serialization.Encoding.PEM)


# ----------------------------------------------------------------------------- certs


@dataclass(frozen=True)
class Certificate:
    """A certificate with its private key (and the chain above it, without the root).

    ``cert_pem`` / ``key_pem()`` / ``chain_pem`` give PEM bytes for ``tls.create_server``
    (``key=``, ``cert=``); :meth:`write` writes them to files openssl reads.
    """

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = field(default=())

    @property
    def cert_pem(self) -> bytes:
        """This certificate alone, PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """This certificate followed by its intermediates, PEM: what a server sends."""
        return self.cert_pem + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in self.chain
        )

    def key_pem(self, passphrase: str | bytes | None = None) -> bytes:
        """The private key, PEM, encrypted when ``passphrase`` is given."""
        return key_pem(self.key, passphrase)

    @property
    def common_name(self) -> str:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else ""

    def write(
        self,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
        *,
        passphrase: str | bytes | None = None,
    ) -> None:
        """Write the certificate (with its chain) and, if ``key_path``, the key (0600)."""
        Path(cert_path).write_bytes(self.chain_pem)
        if key_path is not None:
            write_private(key_path, self.key_pem(passphrase))

    def server_context(self) -> ssl.SSLContext:
        """A ready server ``ssl.SSLContext`` presenting this certificate (for tests)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.load_into(ctx)
        return ctx

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """Load this certificate and key into ``ctx`` (through a private temp dir)."""
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            self.write(cert_file, key_file)
            ctx.load_cert_chain(cert_file, key_file)


@dataclass(frozen=True)
class CA(Certificate):
    """A certificate authority: issues server and client certificates, signs CSRs."""

    def issue_server(
        self, *hosts: str, common_name: str | None = None, days: int = 825
    ) -> Certificate:
        """A server certificate for ``hosts`` (DNS names, IP literals; ``*.`` wildcards)."""
        if not hosts:
            raise CertError("a server certificate needs at least one host name or IP")
        key = create_key(*_key_kind(self.key))
        cn = common_name or hosts[0]
        return self._issue(key, _name(cn), _sans(hosts), "server", days)

    def issue_client(
        self, common_name: str, *, hosts: Sequence[str] = (), days: int = 825
    ) -> Certificate:
        """A client certificate (for mutual TLS) naming ``common_name``."""
        key = create_key(*_key_kind(self.key))
        return self._issue(key, _name(common_name), _sans(hosts), "client", days)

    def sign(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        usage: str = "server",
        days: int = 825,
        hosts: Sequence[str] = (),
    ) -> x509.Certificate:
        """Sign a CSR: its subject and requested SANs (plus ``hosts``), for ``usage``
        (``'server'``, ``'client'`` or ``'both'``).

        Raises:
            CertError: the CSR's signature does not match its public key.
        """
        if not csr.is_signature_valid:
            raise CertError("the CSR's signature does not match its public key")
        sans: list[x509.GeneralName] = []
        try:
            ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            sans.extend(ext.value)
        except x509.ExtensionNotFound:
            pass
        sans.extend(n for n in _sans(hosts) if n not in sans)
        pub = csr.public_key()
        if not isinstance(pub, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
            raise CertError("only RSA and EC keys are supported")
        return self._build(pub, csr.subject, sans, usage, days)

    def client_context(self) -> ssl.SSLContext:
        """A client ``ssl.SSLContext`` trusting this CA alone (for tests)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=self.cert_pem.decode())
        return ctx

    def _issue(
        self,
        key: PrivateKey,
        subject: x509.Name,
        sans: list[x509.GeneralName],
        usage: str,
        days: int,
    ) -> Certificate:
        cert = self._build(key.public_key(), subject, sans, usage, days)
        return Certificate(cert, key, (self.cert, *self.chain) if self._is_intermediate else ())

    @property
    def _is_intermediate(self) -> bool:
        return self.cert.issuer != self.cert.subject

    def _build(
        self,
        pub: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        subject: x509.Name,
        sans: list[x509.GeneralName],
        usage: str,
        days: int,
    ) -> x509.Certificate:
        if usage not in ("server", "client", "both"):
            raise CertError(f"usage must be 'server', 'client' or 'both', not {usage!r}")
        # RSA keys also encipher (TLS 1.2 RSA key exchange); ECDSA keys only sign.
        ku = _key_usage(digital_signature=True, key_encipherment=isinstance(pub, rsa.RSAPublicKey))
        ekus = {
            "server": [ExtendedKeyUsageOID.SERVER_AUTH],
            "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
            "both": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        }[usage]
        builder = (
            _base_builder(subject, self.cert.subject, pub, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(ku, critical=True)
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if sans:
            # RFC 5280 4.2.1.6: critical when the subject is empty.
            builder = builder.add_extension(
                x509.SubjectAlternativeName(sans), critical=len(subject) == 0
            )
        return builder.sign(self.key, _digest(self.key))

    def create_intermediate(self, common_name: str, *, days: int = 1825) -> CA:
        """An intermediate CA signed by this one (its ``chain`` holds it for leaves)."""
        key = create_key(*_key_kind(self.key))
        cert = (
            _ca_builder(_name(common_name), self.cert.subject, key, days, path_length=0)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, _digest(self.key))
        )
        return CA(cert, key, (self.cert, *self.chain) if self._is_intermediate else ())

    def __post_init__(self) -> None:
        if self.cert.public_key() != self.key.public_key():
            raise CertError("the CA key does not match the CA certificate")
        # What it signed would never verify (openssl signs it anyway): a server's own
        # certificate given for the CA's is the usual slip. A v1 certificate, without
        # extensions, may still act as a CA, as OpenSSL allows.
        exts = self.cert.extensions
        try:
            is_ca = exts.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = True
        try:
            is_ca = is_ca and exts.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        except x509.ExtensionNotFound:
            pass
        if not is_ca:
            raise CertError(
                f"the certificate of {self.common_name!r} is not a CA's "
                "(it may not sign certificates): give the CA certificate"
            )


def create_ca(
    common_name: str = "nodish Development CA",
    *,
    key: PrivateKey | None = None,
    days: int = 3650,
    organization: str | None = None,
) -> CA:
    """A new self-signed certificate authority (a fresh RSA-2048 key unless ``key``)."""
    key = key if key is not None else create_key()
    name = _name(common_name, organization)
    cert = _ca_builder(name, name, key, days, path_length=None).sign(key, _digest(key))
    return CA(cert, key)


def load_ca(cert: _PathOrData, key: _PathOrData, passphrase: str | bytes | None = None) -> CA:
    """A CA from its certificate and key (PEM data or files).

    Raises:
        CertError: unreadable files, wrong passphrase, or a key that does not match.
    """
    return CA(load_cert(cert), load_key(key, passphrase))


# ----------------------------------------------------------------------------- helpers


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    days: int,
    *,
    path_length: int | None,
) -> x509.CertificateBuilder:
    return (
        _base_builder(subject, issuer, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True
        )
    )


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    pub: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    days: int,
) -> x509.CertificateBuilder:
    if not isinstance(days, int) or days < 1:
        raise CertError(f"days must be a positive integer, not {days!r}")
    now = _dt.datetime.now(_dt.timezone.utc)
    try:
        now + _dt.timedelta(days=days)
    except OverflowError:
        raise CertError(f"days must end before the year 10000, not {days!r}") from None
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )


_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(**bits: bool) -> x509.KeyUsage:
    return x509.KeyUsage(**{n: bits.get(n, False) for n in _KEY_USAGES})


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    if not isinstance(common_name, str) or not common_name:
        raise CertError(f"a common name must be a non-empty string, not {common_name!r}")
    attrs = []
    try:
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    except ValueError as exc:  # RFC 5280's upper bound: 64 characters for a CN
        raise CertError(f"not a valid name: {exc}") from None
    return x509.Name(attrs)


# A DNS name in a SAN: labels of letters, digits, '-' and '_' (seen in the wild), the
# left-most possibly with one '*' (RFC 6125 6.4.3).
_DNS_NAME = re.compile(
    r"(?:[A-Za-z0-9_-]+|[A-Za-z0-9_-]*\*[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)*", re.ASCII
)


def _sans(hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in hosts:
        if not isinstance(host, str) or not host:
            raise CertError(f"a host must be a non-empty string, not {host!r}")
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            try:
                dns = host.encode("idna").decode("ascii") if "*" not in host else host
            except UnicodeError:
                dns = ""
            dns = dns[:-1] if dns.endswith(".") else dns  # a SAN holds no root dot
            if not _DNS_NAME.fullmatch(dns):
                # 'localhost,127.0.0.1' would make one name that matches nothing
                hint = " (one host per name: give each separately)" if "," in host else ""
                raise CertError(f"not a valid host name: {host!r}{hint}") from None
            name = x509.DNSName(dns)
        if name not in out:
            out.append(name)
    return out


def _digest(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _key_kind(key: PrivateKey) -> tuple[str]:
    return ("ec",) if isinstance(key, ec.EllipticCurvePrivateKey) else ("rsa",)


def _bytes(s: str | bytes) -> bytes:
    return s.encode() if isinstance(s, str) else bytes(s)


def _read(source: _PathOrData) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "PEM data"
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode(), "PEM data"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected PEM bytes or a path, not {type(source).__name__}")
    try:
        return Path(source).read_bytes(), os.fspath(source)
    except OSError as exc:
        raise CertError(f"{os.fspath(source)}: {exc.strerror or exc}") from None


def verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert``."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
