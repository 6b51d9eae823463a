"""``nodish cert``: keys, a CA, CSRs and certificates, as files openssl reads.

The seed chapter's five OpenSSL steps, then two one-shot commands::

    nodish cert key -o key.pem                      openssl genrsa -out key.pem 2048
    nodish cert pubkey key.pem -o pub.pem           openssl rsa -in key.pem -pubout
    nodish cert ca --cn "Dev CA"                    openssl req -x509 -new ...
    nodish cert csr --key key.pem --cn localhost    openssl req -new -key key.pem ...
    nodish cert sign server.csr --ca ca-cert.pem --ca-key ca-key.pem -o server-cert.pem
    nodish cert server localhost 127.0.0.1 --ca ca-cert.pem --ca-key ca-key.pem
    nodish cert client alice --ca ca-cert.pem --ca-key ca-key.pem

Every failure (missing file, wrong passphrase, a CSR or key that does not match) is one
line on stderr and exit status 1. Private keys are written with mode 0600. An existing
file is never overwritten without ``--force`` (openssl overwrites; a CA key replaced by
mistake orphans every certificate it signed), and a step writes none of its files when
one of them exists.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

_PASS_HELP = "passphrase (or env:VAR to read it from the environment variable VAR)"


def _passphrase(value: str | None, *, new: bool = False) -> str | None:
    if value and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise _UsageError(f"environment variable {name} is not set")
        value = os.environ[name]
    if new and value == "":  # it would write the key unencrypted, unasked
        raise _UsageError("an empty passphrase cannot encrypt a key")
    return value


class _UsageError(Exception):
    pass


def _check_outputs(args: argparse.Namespace, *paths: str) -> None:
    """Refuse, before any work, when an output file exists and ``--force`` is not given."""
    for path in paths:
        if path == "-":
            continue
        if os.path.isdir(path):
            raise _UsageError(f"{path}: Is a directory")
        if not args.force and os.path.lexists(path):
            raise _UsageError(f"{path}: already exists (--force overwrites it)")


def _out(args: argparse.Namespace, path: str, data: bytes, *, private: bool = False) -> None:
    from .. import certs

    if path == "-":
        sys.stdout.write(data.decode())
        sys.stdout.flush()
    elif private:
        certs.write_private(path, data, exclusive=not args.force)
    else:
        with open(path, "wb" if args.force else "xb") as f:
            f.write(data)


def _load_ca(args: argparse.Namespace) -> Any:
    from .. import certs

    return certs.load_ca(args.ca, args.ca_key, _passphrase(args.ca_passin))


def _cmd_key(args: argparse.Namespace) -> None:
    import warnings

    from .. import certs

    _check_outputs(args, args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        key = certs.create_key(args.type, bits=args.bits, curve=args.curve)
    for w in caught:
        print(f"nodish cert: warning: {w.message}", file=sys.stderr)
    _out(args, args.out, certs.key_pem(key, _passphrase(args.passout, new=True)), private=True)


def _cmd_pubkey(args: argparse.Namespace) -> None:
    from .. import certs

    _check_outputs(args, args.out)
    key = certs.load_key(args.key, _passphrase(args.passin))
    _out(args, args.out, certs.public_key_pem(key))


def _cmd_ca(args: argparse.Namespace) -> None:
    from .. import certs

    _check_outputs(args, args.out, *(() if args.key else (args.key_out,)))
    if args.key:
        key = certs.load_key(args.key, _passphrase(args.passin))
    else:
        key = certs.create_key(args.type)
    ca = certs.create_ca(args.cn, key=key, days=args.days, organization=args.org)
    if not args.key:  # the key first: a CA certificate without its key is no use
        _out(args, args.key_out, ca.key_pem(_passphrase(args.passout, new=True)), private=True)
    _out(args, args.out, ca.cert_pem)


def _cmd_csr(args: argparse.Namespace) -> None:
    from .. import certs

    _check_outputs(args, args.out)
    key = certs.load_key(args.key, _passphrase(args.passin))
    csr = certs.create_csr(key, args.cn, hosts=args.san, organization=args.org)
    _out(args, args.out, certs.csr_pem(csr))


def _cmd_sign(args: argparse.Namespace) -> None:
    from cryptography.hazmat.primitives import serialization

    from .. import certs

    _check_outputs(args, args.out)
    csr = certs.load_csr(args.csr)
    ca = _load_ca(args)
    cert = ca.sign(csr, usage=args.usage, days=args.days, hosts=args.san)
    _out(args, args.out, cert.public_bytes(serialization.Encoding.PEM))


def _cmd_leaf(args: argparse.Namespace) -> None:
    _check_outputs(args, args.cert_out, args.key_out)
    ca = _load_ca(args)
    if args.command_name == "server":
        issued = ca.issue_server(*args.hosts, days=args.days)
    else:
        issued = ca.issue_client(args.cn, hosts=args.san, days=args.days)
    _out(args, args.key_out, issued.key_pem(_passphrase(args.passout, new=True)), private=True)
    _out(args, args.cert_out, issued.chain_pem)


def _run(args: argparse.Namespace) -> int:
    from .. import certs

    # Ctrl-C ends the command at once, as it ends openssl: a KeyboardInterrupt would wait
    # for a key generation that does not look at signals, then print a traceback.
    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        if getattr(args, "passout", None) is not None:
            _passphrase(args.passout, new=True)  # before any work: a key takes seconds
        args.handler(args)
    except (certs.CertError, _UsageError) as exc:
        print(f"nodish cert {args.cert_command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nodish cert {args.cert_command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        if restore is not None:
            signal.signal(signal.SIGINT, restore)
    return 0


def _add_ca_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ca", required=True, help="CA certificate (PEM)")
    p.add_argument("--ca-key", required=True, help="CA private key (PEM)")
    p.add_argument("--ca-passin", metavar="PASS", help="CA key " + _PASS_HELP)
    p.add_argument("--days", type=int, default=825, help="validity in days (default 825)")


def register(sub: Any) -> None:
    """Add ``nodish cert`` and its sub-commands to the command line."""
    cert = sub.add_parser(
        "cert",
        help="make keys, a CA, CSRs and certificates (files openssl reads)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    cmds = cert.add_subparsers(dest="cert_command", metavar="STEP", required=True)
    cert.set_defaults(func=_run)

    def step(name: str, handler: Any, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cmds.add_parser(name, help=help_)
        p.set_defaults(handler=handler, command_name=name)
        p.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
        return p

    p = step("key", _cmd_key, "a new private key (openssl genrsa)")
    p.add_argument("-o", "--out", default="-", help="output file (default: stdout)")
    p.add_argument("--type", choices=("rsa", "ec"), default="rsa", help="key type (rsa)")
    p.add_argument("--bits", type=int, default=2048, help="RSA key size (2048)")
    p.add_argument("--curve", default="P-256", help="EC curve (P-256, P-384, P-521)")
    p.add_argument("--passout", metavar="PASS", help="encrypt the key; " + _PASS_HELP)

    p = step("pubkey", _cmd_pubkey, "the public key of a private key (openssl rsa -pubout)")
    p.add_argument("key", help="private key file (PEM)")
    p.add_argument("-o", "--out", default="-", help="output file (default: stdout)")
    p.add_argument("--passin", metavar="PASS", help="key " + _PASS_HELP)

    p = step("ca", _cmd_ca, "a self-signed certificate authority (openssl req -x509 -new)")
    p.add_argument("--cn", default="nodish Development CA", help="the CA's common name")
    p.add_argument("--org", help="organization name")
    p.add_argument("--key", help="use this existing key instead of making one")
    p.add_argument("--passin", metavar="PASS", help="--key " + _PASS_HELP)
    p.add_argument("--type", choices=("rsa", "ec"), default="rsa", help="new key type (rsa)")
    p.add_argument("-o", "--out", default="ca-cert.pem", help="certificate (ca-cert.pem)")
    p.add_argument("--key-out", default="ca-key.pem", help="new key file (ca-key.pem)")
    p.add_argument("--passout", metavar="PASS", help="encrypt the new key; " + _PASS_HELP)
    p.add_argument("--days", type=int, default=3650, help="validity in days (3650)")

    p = step("csr", _cmd_csr, "a certificate signing request (openssl req -new)")
    p.add_argument("--key", required=True, help="private key file (PEM)")
    p.add_argument("--passin", metavar="PASS", help="key " + _PASS_HELP)
    p.add_argument("--cn", required=True, help="subject common name")
    p.add_argument("--org", help="organization name")
    p.add_argument("--san", action="append", default=[], help="DNS name or IP (repeat)")
    p.add_argument("-o", "--out", default="-", help="output file (default: stdout)")

    p = step("sign", _cmd_sign, "sign a CSR with the CA (openssl x509 -req -CA)")
    p.add_argument("csr", help="CSR file (PEM)")
    _add_ca_args(p)
    p.add_argument(
        "--usage", choices=("server", "client", "both"), default="server", help="(server)"
    )
    p.add_argument("--san", action="append", default=[], help="add a DNS name or IP (repeat)")
    p.add_argument("-o", "--out", default="-", help="certificate file (default: stdout)")

    p = step("server", _cmd_leaf, "a key and a server certificate issued by the CA")
    p.add_argument("hosts", nargs="+", help="DNS names and IP addresses")
    _add_ca_args(p)
    p.add_argument("--cert-out", default="server-cert.pem", help="(server-cert.pem)")
    p.add_argument("--key-out", default="server-key.pem", help="(server-key.pem)")
    p.add_argument("--passout", metavar="PASS", help="encrypt the key; " + _PASS_HELP)

    p = step("client", _cmd_leaf, "a key and a client certificate issued by the CA")
    p.add_argument("cn", help="the client's common name")
    p.add_argument("--san", action="append", default=[], help="DNS name or IP (repeat)")
    _add_ca_args(p)
    p.add_argument("--cert-out", default="client-cert.pem", help="(client-cert.pem)")
    p.add_argument("--key-out", default="client-key.pem", help="(client-key.pem)")
    p.add_argument("--passout", metavar="PASS", help="encrypt the key; " + _PASS_HELP)
