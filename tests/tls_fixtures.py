"""Certificates for the TLS tests, made once per run by nodish.certs (no keys on disk)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from nodish import certs


class PKI:
    """A CA with server and client certificates, plus a second, untrusted CA."""

    def __init__(self) -> None:
        self.ca = certs.create_ca("nodish Test CA", key=certs.create_key("ec"))
        self.other_ca = certs.create_ca("Other CA", key=certs.create_key("ec"))
        self.server = self.ca.issue_server("localhost", "127.0.0.1", "::1")
        self.server_b = self.ca.issue_server("b.test", "*.b.test")
        self.rsa_ca = certs.create_ca("nodish RSA Test CA")  # RSA-2048, as the seed's
        self.rsa_server = self.rsa_ca.issue_server("localhost", "127.0.0.1")
        self.client = self.ca.issue_client("alice")
        self.stranger = self.other_ca.issue_client("mallory")
        self.foreign_server = self.other_ca.issue_server("localhost", "127.0.0.1")
        self.self_signed = certs.create_ca("localhost", key=certs.create_key("ec"))
        self.expired = self._expired()

    def _expired(self) -> certs.Certificate:
        key = certs.create_key("ec")
        csr = certs.create_csr(key, "localhost", hosts=["localhost"])
        good = self.ca.sign(csr)
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
        builder = x509.CertificateBuilder(
            issuer_name=good.issuer,
            subject_name=good.subject,
            public_key=good.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=past - dt.timedelta(days=1),
            not_valid_after=past,
            extensions=list(good.extensions),
        )
        return certs.Certificate(builder.sign(self.ca.key, hashes.SHA256()), key)

    def server_options(self, leaf: certs.Certificate | None = None) -> dict[str, object]:
        leaf = leaf or self.server
        return {"key": leaf.key_pem(), "cert": leaf.chain_pem}

    def client_options(self, leaf: certs.Certificate | None = None) -> dict[str, object]:
        opts: dict[str, object] = {"ca": self.ca.cert_pem}
        if leaf is not None:
            opts.update(key=leaf.key_pem(), cert=leaf.chain_pem)
        return opts


@lru_cache(maxsize=1)
def pki() -> PKI:
    return PKI()
