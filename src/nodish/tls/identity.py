"""Node's ``checkServerIdentity`` and ``getPeerCertificate()`` objects.

``check_server_identity`` is Node v20's ``tls.checkServerIdentity`` rule for rule, not
Python's ``ssl.match_hostname``: an IP host matches only an IP SAN; a name host
matches the SAN's DNS names, and only when the SAN has no DNS name at all, the
subject's CN (RFC 6125 6.4.4; certificates made with ``openssl req -subj /CN=...``
have no SAN, and Node accepts them when the CN matches, as we do); one ``*`` in the
left-most label, never in a ``xn--`` label, never ``*.tld``; case-insensitive; a
trailing dot ignored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .._address import is_ip
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_TLS_CERT_ALTNAME_INVALID,
    NodeError,
)

__all__ = ["PeerCertificate", "ascii_host", "check_server_identity", "peer_certificate"]

_BAD = re.compile(r"[^\x21-\x7f]")

# OpenSSL's short names for subject fields, as Node prints them.
_SHORT = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.DOMAIN_COMPONENT: "DC",
}


class PeerCertificate(Mapping[str, Any]):
    """A read-only record of Node's certificate fields: ``cert.subject`` and
    ``cert['subject']`` both work. Empty (and falsy) when the peer sent none."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        object.__setattr__(self, "_fields", fields)

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._fields[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("a PeerCertificate is read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        subject = self._fields.get("subject")
        return f"<PeerCertificate subject={dict(subject) if subject else None}>"


def _name_dict(name: x509.Name) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in name:
        key = _SHORT.get(attr.oid, attr.oid.dotted_string)
        value = attr.value if isinstance(attr.value, str) else attr.value.hex()
        if key in out:  # repeated fields become lists, as in Node
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _colon_hex(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data)


def _time(value: Any) -> str:
    # Node prints OpenSSL's ASN1_TIME form: 'Nov 30 07:46:42 2026 GMT'
    return f"{value:%b} {value.day:2d} {value:%H:%M:%S %Y} GMT"


def subjectaltname(cert: x509.Certificate) -> str | None:
    """The SAN in Node's string form: ``'DNS:localhost, IP Address:127.0.0.1'``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    parts = []
    for name in san:
        if isinstance(name, x509.DNSName):
            parts.append(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            ip = name.value
            if isinstance(ip, ipaddress.IPv6Address):  # OpenSSL's form: 0:0:0:0:0:0:0:1
                text = ":".join(
                    f"{int.from_bytes(ip.packed[i : i + 2], 'big'):X}" for i in range(0, 16, 2)
                )
            else:
                text = str(ip)
            parts.append(f"IP Address:{text}")
        elif isinstance(name, x509.RFC822Name):
            parts.append(f"email:{name.value}")
        elif isinstance(name, x509.UniformResourceIdentifier):
            parts.append(f"URI:{name.value}")
    return ", ".join(parts)


def peer_certificate(
    chain: list[x509.Certificate], detailed: bool = False, index: int = 0
) -> PeerCertificate:
    """Node's certificate object for ``chain[index]`` (issuers linked when detailed)."""
    if index >= len(chain):
        return PeerCertificate({})
    cert = chain[index]
    der = cert.public_bytes(serialization.Encoding.DER)
    pub = cert.public_key()
    f: dict[str, Any] = {
        "subject": _name_dict(cert.subject),
        "issuer": _name_dict(cert.issuer),
    }
    san = subjectaltname(cert)
    if san is not None:
        f["subjectaltname"] = san
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        f["ca"] = bc.ca
    except x509.ExtensionNotFound:
        f["ca"] = False
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        f["modulus"] = f"{nums.n:X}"
        f["bits"] = pub.key_size
        f["exponent"] = hex(nums.e)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        f["bits"] = pub.curve.key_size
        f["asn1_curve"] = pub.curve.name
        f["nist_curve"] = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            pub.curve.name
        )
    f["pubkey"] = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    f["valid_from"] = _time(cert.not_valid_before_utc)
    f["valid_to"] = _time(cert.not_valid_after_utc)
    f["fingerprint"] = _colon_hex(hashlib.sha1(der).digest())
    f["fingerprint256"] = _colon_hex(hashlib.sha256(der).digest())
    f["fingerprint512"] = _colon_hex(hashlib.sha512(der).digest())
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        f["ext_key_usage"] = [o.dotted_string for o in eku]
    except x509.ExtensionNotFound:
        pass
    serial = f"{cert.serial_number:X}"
    f["serial_number"] = serial if len(serial) % 2 == 0 else "0" + serial
    f["raw"] = der
    if detailed:
        if cert.issuer == cert.subject:
            f["issuer_certificate"] = None  # a root: Node links it to itself
        elif index + 1 < len(chain):
            f["issuer_certificate"] = peer_certificate(chain, True, index + 1)
    return PeerCertificate(f)


def ascii_host(name: Any, what: str = "options.servername") -> str:
    """A host name as it goes into SNI and the identity check: ASCII names as they are,
    non-ASCII ones as IDNA A-labels (``bücher.test`` -> ``xn--bcher-kva.test``, what
    a URL parser and a certificate hold). ``ERR_INVALID_ARG_TYPE`` for a non-str,
    ``ERR_INVALID_ARG_VALUE`` for a name IDNA cannot encode."""
    if not isinstance(name, str):
        raise ERR_INVALID_ARG_TYPE(what, "of type str", type(name).__name__)
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ERR_INVALID_ARG_VALUE(what, f"{name!r} (not a valid host name)") from None


def _canonical_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _split_host(host: str) -> list[str]:
    return re.sub(r"\.$", "", host).lower().split(".")


def _check(host_parts: list[str], pattern: str, wildcards: bool) -> bool:
    if not pattern:
        return False
    parts = _split_host(pattern)
    if len(host_parts) != len(parts) or "" in parts:
        return False
    if any(_BAD.search(p) for p in parts):
        return False
    for i in range(len(host_parts) - 1, 0, -1):
        if host_parts[i] != parts[i]:
            return False
    host_sub, pattern_sub = host_parts[0], parts[0]
    pieces = pattern_sub.split("*")
    if len(pieces) == 1 or "xn--" in pattern_sub:
        return host_sub == pattern_sub
    if not wildcards or len(pieces) > 2 or len(parts) <= 2:
        return False
    prefix, suffix = pieces
    if len(prefix) + len(suffix) > len(host_sub):
        return False
    return host_sub.startswith(prefix) and host_sub.endswith(suffix)


def check_server_identity(hostname: str, cert: Mapping[str, Any]) -> NodeError | None:
    """Node's ``tls.checkServerIdentity(hostname, cert)``: ``None`` when ``cert`` (a
    :class:`PeerCertificate` or a dict with ``subject`` and ``subjectaltname``) is
    valid for ``hostname``, else an ``ERR_TLS_CERT_ALTNAME_INVALID`` error (returned,
    not raised) with ``reason``, ``host`` and ``cert``."""
    subject = cert.get("subject") or {}
    alt_names = cert.get("subjectaltname")
    dns_names: list[str] = []
    ips: list[str] = []
    if alt_names:
        for name in alt_names.split(", "):
            if name.startswith("DNS:"):
                dns_names.append(name[4:])
            elif name.startswith("IP Address:"):
                ips.append(_canonical_ip(name[11:]))
    hostname = re.sub(r"\.$", "", str(hostname))
    valid = False
    reason = "Unknown reason"
    if is_ip(hostname):
        valid = _canonical_ip(hostname) in ips
        if not valid:
            reason = f"IP: {hostname} is not in the cert's list: " + ", ".join(ips)
    elif dns_names or subject.get("CN"):
        host_parts = _split_host(hostname)
        if dns_names:
            valid = any(_check(host_parts, n, True) for n in dns_names)
            if not valid:
                reason = f"Host: {hostname}. is not in the cert's altnames: {alt_names}"
        else:
            cn = subject.get("CN")
            cns = cn if isinstance(cn, list) else [cn]
            valid = any(_check(host_parts, str(c or ""), True) for c in cns)
            if not valid:
                reason = f"Host: {hostname}. is not cert's CN: {cn}"
    else:
        reason = "Cert does not contain a DNS name"
    if valid:
        return None
    err = ERR_TLS_CERT_ALTNAME_INVALID(reason)
    err.reason = reason  # type: ignore[attr-defined]
    err.host = hostname  # type: ignore[attr-defined]
    err.cert = cert  # type: ignore[attr-defined]
    return err
