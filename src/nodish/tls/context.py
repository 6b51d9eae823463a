"""Secure contexts (Node's ``tls.createSecureContext``) and OpenSSL error translation.

A :class:`SecureContext` holds one OpenSSL ``SSL_CTX`` (pyOpenSSL ``Context``) built
from Node's options. Everything that can be wrong with the options (a wrong
passphrase, a key that does not match its certificate, an unknown protocol version or
cipher) raises here, when the context is made, never at the first connection.

This module is also the one place where OpenSSL's failures become Node's errors:
:func:`ssl_error` turns an ``OpenSSL.SSL.Error`` into ``ERR_SSL_<REASON>`` (Node's rule:
the library's reason string, upper-cased, spaces to underscores, so
``wrong version number`` is ``ERR_SSL_WRONG_VERSION_NUMBER``), and :func:`verify_error`
turns an X.509 verification result into its Node code (``DEPTH_ZERO_SELF_SIGNED_CERT``
...), which are OpenSSL's ``X509_V_ERR_*`` names.
"""

from __future__ import annotations

import ssl as _stdssl
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import pkcs12
from OpenSSL import SSL, crypto

from .. import certs
from ..errors import (
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_METHOD_NOT_IMPLEMENTED,
    ERR_OUT_OF_RANGE,
    ERR_TLS_INVALID_PROTOCOL_VERSION,
    ERR_TLS_PROTOCOL_VERSION_CONFLICT,
    NodeError,
)
from . import _openssl

__all__ = [
    "CONTEXT_OPTIONS",
    "DEFAULT_CIPHERS",
    "DEFAULT_MAX_VERSION",
    "DEFAULT_MIN_VERSION",
    "SecureContext",
    "TLSError",
    "create_secure_context",
]

DEFAULT_MIN_VERSION = "TLSv1.2"
DEFAULT_MAX_VERSION = "TLSv1.3"
# TLS 1.2 suites: forward secrecy and AEAD only (Node's default list also allows CBC
# and DHE suites; a scanner rightly calls those weak). TLS 1.3 suites are OpenSSL's.
DEFAULT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!SHA1"

# The options a SecureContext is made from (tls.create_server passes these on).
CONTEXT_OPTIONS = (
    "key",
    "cert",
    "ca",
    "passphrase",
    "pfx",
    "ciphers",
    "min_version",
    "max_version",
    "session_timeout",
    "session_id_context",
    "ticket_keys",
)

_VERSIONS = {
    "TLSv1": SSL.TLS1_VERSION,
    "TLSv1.1": SSL.TLS1_1_VERSION,
    "TLSv1.2": SSL.TLS1_2_VERSION,
    "TLSv1.3": SSL.TLS1_3_VERSION,
}

# OpenSSL's X509_V_ERR_* numbers → Node's authorizationError codes and messages.
_X509_ERRORS: dict[int, tuple[str, str]] = {
    2: ("UNABLE_TO_GET_ISSUER_CERT", "unable to get issuer certificate"),
    3: ("UNABLE_TO_GET_CRL", "unable to get certificate CRL"),
    4: ("UNABLE_TO_DECRYPT_CERT_SIGNATURE", "unable to decrypt certificate's signature"),
    6: ("UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY", "unable to decode issuer public key"),
    7: ("CERT_SIGNATURE_FAILURE", "certificate signature failure"),
    9: ("CERT_NOT_YET_VALID", "certificate is not yet valid"),
    10: ("CERT_HAS_EXPIRED", "certificate has expired"),
    13: ("ERROR_IN_CERT_NOT_BEFORE_FIELD", "format error in certificate's notBefore field"),
    14: ("ERROR_IN_CERT_NOT_AFTER_FIELD", "format error in certificate's notAfter field"),
    18: ("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"),
    19: ("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
    20: ("UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "unable to get local issuer certificate"),
    21: ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
    22: ("CERT_CHAIN_TOO_LONG", "certificate chain too long"),
    23: ("CERT_REVOKED", "certificate revoked"),
    24: ("INVALID_CA", "invalid CA certificate"),
    25: ("PATH_LENGTH_EXCEEDED", "path length constraint exceeded"),
    26: ("INVALID_PURPOSE", "unsupported certificate purpose"),
    27: ("CERT_UNTRUSTED", "certificate not trusted"),
    28: ("CERT_REJECTED", "certificate rejected"),
    62: ("HOSTNAME_MISMATCH", "Hostname mismatch"),
}


class TLSError(NodeError):
    """A TLS failure with Node's code: ``ERR_SSL_*`` from OpenSSL, or a certificate
    verification code (``DEPTH_ZERO_SELF_SIGNED_CERT``, ``CERT_HAS_EXPIRED`` ...)."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message=message)
        self.code = code
        for k, v in fields.items():
            setattr(self, k, v)


def verify_error(errno: int) -> TLSError:
    """The Node error for OpenSSL verification result ``errno``."""
    code, message = _X509_ERRORS.get(errno, ("UNSPECIFIED", f"certificate verify error {errno}"))
    return TLSError(code, message)


def ssl_error(exc: BaseException) -> TLSError:
    """Node's error for an ``OpenSSL.SSL.Error`` (``ERR_SSL_WRONG_VERSION_NUMBER`` ...)."""
    items = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    for item in items:
        if isinstance(item, tuple) and len(item) == 3:
            lib, _func, reason = item
            prefix = "ERR_SSL_" if lib == "SSL routines" else "ERR_OSSL_"
            code = prefix + str(reason).upper().replace(" ", "_").replace("-", "_")
            return TLSError(code, f"{lib}::{reason}", library=lib, reason=reason)
    return TLSError("ERR_SSL_ERROR", str(exc) or type(exc).__name__)


# ----------------------------------------------------------------------------- options


def _pem_list(value: Any, name: str) -> list[bytes]:
    """Node accepts a string, a Buffer or an array of them (each possibly a bundle)."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[bytes] = []
    for item in items:
        if isinstance(item, str):
            out.append(item.encode())
        elif isinstance(item, (bytes, bytearray, memoryview)):
            out.append(bytes(item))
        else:
            raise ERR_INVALID_ARG_TYPE(
                f"options.{name}", "of type str or bytes, or a list of them", type(item).__name__
            )
    return out


def _certs_from(pems: list[bytes], name: str) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for pem in pems:
        try:
            out.extend(x509.load_pem_x509_certificates(pem))
        except ValueError:
            raise TLSError(
                "ERR_OSSL_PEM_NO_START_LINE",
                f"options.{name}: no PEM certificate{_path_hint(pem, name)}",
            ) from None
    return out


def _path_hint(data: bytes, name: str) -> str:
    """A hint for the common slip of passing a file name where PEM data is expected
    (Node's options take the file's contents too; its error says only 'no start line')."""
    if b"-----BEGIN" in data or len(data) > 4096 or b"\n" in data:
        return ""
    return f" (options.{name} is the PEM data itself, not a file name: read the file first)"


def alpn_list(value: Any, name: str) -> list[bytes] | None:
    """Node's ``ALPNProtocols``: a list of protocol names (str or bytes), or None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ERR_INVALID_ARG_TYPE(name, "a list of str", type(value).__name__)
    out = []
    for item in value:
        raw = item.encode() if isinstance(item, str) else item
        if not isinstance(raw, bytes) or not 0 < len(raw) < 256:
            raise ERR_INVALID_ARG_TYPE(name, "a list of non-empty str", repr(item))
        out.append(raw)
    return out


def check_ticket_keys(value: Any, name: str) -> bytes:
    """Node's ``ticketKeys`` rule: a bytes-like object of exactly 48 bytes, else
    ``ERR_INVALID_ARG_TYPE`` / ``ERR_INVALID_ARG_VALUE``, raised at once."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ERR_INVALID_ARG_TYPE(
            name, "an instance of bytes, bytearray or memoryview", type(value).__name__
        )
    keys = bytes(value)
    if len(keys) != 48:
        kind = "property" if "." in name else "argument"
        raise ERR_INVALID_ARG_VALUE(
            message=f"The {kind} '{name}' must be exactly 48 bytes. Received {len(keys)}"
        )
    return keys


def ticket_keys_unavailable() -> BaseException | None:
    """``ERR_METHOD_NOT_IMPLEMENTED`` with the reason ticket keys cannot be set here."""
    why = _openssl.reason(_openssl.TICKET_FUNCTION)
    return None if why is None else _no_ticket_keys(why)


def _no_ticket_keys(why: str) -> BaseException:
    return ERR_METHOD_NOT_IMPLEMENTED(message=f"Ticket keys are not implemented here: {why}")


def openssl_ticket_keys(keys: bytes) -> bytes:
    """OpenSSL's 80 bytes of ticket keys from Node's 48: the key name is the first 16
    bytes (as in Node), the HMAC-SHA256 secret and the AES-256 key are HKDF-SHA256 of
    the other 32 (OpenSSL wants 32 bytes each where Node's layout has 16). The same 48
    bytes give the same 80 everywhere, so nodish servers given the same ``ticket_keys``
    resume each other's sessions."""
    secret = HKDF(hashes.SHA256(), 64, salt=None, info=b"nodish ticket keys").derive(keys[16:])
    return keys[:16] + secret


def _session_timeout(value: Any) -> int:
    """Node's ``sessionTimeout`` rule (an int32 >= 0), in seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ERR_INVALID_ARG_TYPE(
            "options.session_timeout", "of type int or float", type(value).__name__
        )
    if not 0 <= value <= 2**31 - 1:
        raise ERR_OUT_OF_RANGE("options.session_timeout", ">= 0 && <= 2147483647", value)
    return int(value)


def _version(value: str | None, which: str, default: str) -> int:
    name = default if value is None else value
    if name not in _VERSIONS:
        raise ERR_TLS_INVALID_PROTOCOL_VERSION(repr(name), which)
    return _VERSIONS[name]


class SecureContext:
    """Node's ``SecureContext``: certificate, key, trusted CAs and protocol settings.

    ``context`` is the pyOpenSSL ``Context``; :func:`create_secure_context` builds one.
    """

    __slots__ = (
        "alpn",
        "ca_certs",
        "cert_chain",
        "context",
        "is_server",
        "key",
        "options",
        "ticket_keys",
    )

    def __init__(self, options: dict[str, Any], *, is_server: bool) -> None:
        self.options = options
        self.is_server = is_server
        self.key: Any = None
        self.cert_chain: list[x509.Certificate] = []
        self.ca_certs: list[x509.Certificate] | None = None
        self.alpn: list[bytes] | None = None
        self.ticket_keys: bytes | None = None
        keys = options.get("ticket_keys")
        if keys is not None:
            keys = check_ticket_keys(keys, "options.ticket_keys")
            missing = ticket_keys_unavailable()
            if missing is not None:
                raise missing
        self.context = self._build(options)
        if keys is not None:
            self.use_ticket_keys(keys)

    def use_ticket_keys(self, keys: bytes) -> None:
        """Encrypt and accept session tickets with Node-style 48-byte ``keys`` from now
        on (tickets made under other keys are no longer resumed). Raises
        ``ERR_METHOD_NOT_IMPLEMENTED`` when OpenSSL's call cannot be reached here."""
        try:
            _openssl.set_ticket_keys(self.context, openssl_ticket_keys(keys))
        except _openssl.UnavailableError as exc:
            raise _no_ticket_keys(str(exc)) from None
        self.ticket_keys = keys

    def _build(self, o: dict[str, Any]) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD if self.is_server else SSL.TLS_CLIENT_METHOD)
        lowest = _version(o.get("min_version"), "minimum", DEFAULT_MIN_VERSION)
        highest = _version(o.get("max_version"), "maximum", DEFAULT_MAX_VERSION)
        if lowest > highest:
            # Node accepts this and fails every connection; here it fails at once
            raise ERR_TLS_PROTOCOL_VERSION_CONFLICT(
                o.get("min_version") or DEFAULT_MIN_VERSION,
                o.get("max_version") or DEFAULT_MAX_VERSION,
            )
        ctx.set_min_proto_version(lowest)
        ctx.set_max_proto_version(highest)
        # No renegotiation (TLS 1.2 client-initiated renegotiation is a DoS vector).
        ctx.set_options(SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_COMPRESSION)
        ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)
        ciphers = o.get("ciphers") or DEFAULT_CIPHERS
        if not isinstance(ciphers, str):
            raise ERR_INVALID_ARG_TYPE("options.ciphers", "of type str", type(ciphers).__name__)
        tls12 = ":".join(c for c in ciphers.split(":") if not c.startswith("TLS_"))
        tls13 = ":".join(c for c in ciphers.split(":") if c.startswith("TLS_"))
        try:
            if tls12:
                ctx.set_cipher_list(tls12.encode())
            if tls13:
                ctx.set_tls13_ciphersuites(tls13.encode())
        except SSL.Error as exc:
            raise ssl_error(exc) from None
        self._load_identity(ctx, o)
        self._load_ca(ctx, o.get("ca"))
        timeout = o.get("session_timeout")
        if timeout is not None:
            ctx.set_timeout(_session_timeout(timeout))
        if self.is_server:
            # Node's sessionIdContext: a session resumes only where it is the same. By
            # default one value for every nodish server (Node hashes its command line),
            # so servers given the same ticket keys resume each other's sessions.
            sid = o.get("session_id_context") or "nodish"
            if not isinstance(sid, str):
                raise ERR_INVALID_ARG_TYPE(
                    "options.session_id_context", "of type str", type(sid).__name__
                )
            try:
                ctx.set_session_id(sid.encode())
            except SSL.Error as exc:  # more than 32 bytes
                raise ssl_error(exc) from None
        else:
            ctx.set_session_cache_mode(SSL.SESS_CACHE_CLIENT)
        return ctx

    def _load_identity(self, ctx: SSL.Context, o: dict[str, Any]) -> None:
        passphrase = o.get("passphrase")
        if passphrase is not None and not isinstance(passphrase, (str, bytes)):
            raise ERR_INVALID_ARG_TYPE(
                "options.passphrase", "of type str or bytes", type(passphrase).__name__
            )
        key: Any = None
        chain: list[x509.Certificate] = []
        pfx = o.get("pfx")
        if pfx is not None:
            if not isinstance(pfx, (bytes, bytearray)):
                raise ERR_INVALID_ARG_TYPE("options.pfx", "of type bytes", type(pfx).__name__)
            try:
                k, c, extra = pkcs12.load_key_and_certificates(
                    bytes(pfx), passphrase.encode() if isinstance(passphrase, str) else passphrase
                )
            except ValueError:
                raise TLSError(
                    "ERR_CRYPTO_OPERATION_FAILED", "Unable to load PFX certificate"
                ) from None
            key, chain = k, ([c] if c is not None else []) + list(extra)
        keys = _pem_list(o.get("key"), "key")
        if keys:
            try:
                key = certs.load_key(keys[0], passphrase)
            except certs.CertError as exc:
                message = str(exc).replace("PEM data: ", "")
                if "passphrase" in message:
                    raise TLSError("ERR_OSSL_BAD_DECRYPT", message) from None
                hint = _path_hint(keys[0], "key")
                if hint:  # cryptography's own words on PEM framing would only confuse
                    message = "options.key: not a PEM private key" + hint
                raise TLSError("ERR_OSSL_UNSUPPORTED", message) from None
        cert_pems = _pem_list(o.get("cert"), "cert")
        if cert_pems:
            chain = _certs_from(cert_pems, "cert")
        if key is None and not chain:
            return
        if key is None or not chain:
            missing = "key" if key is None else "cert"
            raise TLSError("ERR_OSSL_NO_" + missing.upper(), f"options.{missing} is missing")
        ctx.use_certificate(chain[0])
        for extra_cert in chain[1:]:
            ctx.add_extra_chain_cert(extra_cert)
        try:
            ctx.use_privatekey(key)
            ctx.check_privatekey()
        except SSL.Error:
            raise TLSError(
                "ERR_OSSL_X509_KEY_VALUES_MISMATCH",
                "key values mismatch: the key is not the certificate's",
            ) from None
        self.key, self.cert_chain = key, chain

    def _load_ca(self, ctx: SSL.Context, ca: Any) -> None:
        pems = _pem_list(ca, "ca")
        # Node: any list replaces the default roots, an empty one too (a filter that
        # kept no CA must not fall back to trusting every public one).
        if not pems and not isinstance(ca, (list, tuple)):
            paths = _stdssl.get_default_verify_paths()
            ctx.load_verify_locations(paths.cafile, paths.capath)
            return
        store = ctx.get_cert_store()
        assert store is not None
        self.ca_certs = _certs_from(pems, "ca")
        for cert in self.ca_certs:
            store.add_cert(crypto.X509.from_cryptography(cert))


def create_secure_context(options: dict[str, Any] | None = None, **kwargs: Any) -> SecureContext:
    """Node's ``tls.createSecureContext``: ``key``, ``cert``, ``ca``, ``passphrase``,
    ``pfx``, ``ciphers``, ``min_version``, ``max_version``, ``session_timeout``,
    ``ticket_keys`` (48 bytes), ``session_id_context`` (up to 32 bytes; ``'nodish'``).

    The context works for servers and clients alike (``is_server=False`` for a client-
    only context). Bad options raise here: ``ERR_OSSL_BAD_DECRYPT`` (wrong passphrase),
    ``ERR_OSSL_X509_KEY_VALUES_MISMATCH``, ``ERR_TLS_INVALID_PROTOCOL_VERSION``.
    """
    if options is not None and not isinstance(options, dict):
        raise ERR_INVALID_ARG_TYPE("options", "of type dict", type(options).__name__)
    opts = dict(options or {}, **kwargs)
    is_server = bool(opts.pop("is_server", True))
    # A misspelt option (min_verison=) would otherwise leave the default in force.
    unknown = sorted(set(opts) - set(CONTEXT_OPTIONS))
    if unknown:
        raise TypeError(f"create_secure_context got unknown options: {', '.join(unknown)}")
    return SecureContext(opts, is_server=is_server)


def as_context(value: Any, name: str, *, is_server: bool) -> SecureContext:
    """A SecureContext from a context or an options dict (``sni_callback`` results)."""
    if isinstance(value, SecureContext):
        return value
    if isinstance(value, dict):
        return SecureContext(value, is_server=is_server)
    from ..errors import ERR_TLS_INVALID_CONTEXT

    raise ERR_TLS_INVALID_CONTEXT(name)


def root_certificates() -> list[str]:
    """The PEM certificates of the default trust store (Node's ``tls.rootCertificates``)."""
    ctx = _stdssl.create_default_context()
    return [
        _stdssl.DER_cert_to_PEM_cert(der)
        for der in ctx.get_ca_certs(binary_form=True)  # type: ignore[union-attr]
    ]


Callback = Callable[..., Any]
Strings = Sequence[str]
