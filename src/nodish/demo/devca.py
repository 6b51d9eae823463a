"""The demo's development CA: made on first run, kept in the user's data directory.

``ca-cert.pem`` and ``ca-key.pem`` (mode 0600) live in ``nodish/demo`` under the user's
data directory (``$XDG_DATA_HOME`` or ``~/.local/share`` on Linux,
``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows). Trusting
that CA once (in the browser, or the system store) makes every later run's HTTPS page
trusted: the server certificate is issued afresh by the same CA at each start, for
``localhost``, ``127.0.0.1``, ``::1`` and the ``--host`` address.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

CA_NAME = "nodish demo development CA"


def data_dir() -> Path:
    """Where the demo keeps its CA (created if needed, private to the user)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "nodish" / "demo"


class DevCA:
    """The demo CA in ``directory``, created there on first use."""

    def __init__(self, directory: Path) -> None:
        from .. import certs

        self.directory = directory
        self.cert_path = directory / "ca-cert.pem"
        self.key_path = directory / "ca-key.pem"
        self.created = not (self.cert_path.exists() and self.key_path.exists())
        if self.created:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.ca = certs.create_ca(CA_NAME)
            self.ca.write(self.cert_path, self.key_path)
        else:
            self.ca = certs.load_ca(self.cert_path, self.key_path)

    def server_certificate(self, host: str) -> Any:
        """A fresh server certificate for the loopback names and ``host``."""
        hosts = ["localhost", "127.0.0.1", "::1"]
        if host not in hosts and host not in ("0.0.0.0", "::", ""):
            hosts.append(host)
        return self.ca.issue_server(*hosts, common_name="localhost", days=30)

    def how_to_trust(self) -> list[str]:
        """What to tell the user: how each kind of client comes to trust the CA."""
        ca = str(self.cert_path)
        return [
            f"the development CA is {ca}" + (" (created now)" if self.created else ""),
            "trust it in a browser: Settings > Privacy and security > Security > Manage "
            "certificates > Authorities > Import (Firefox: Settings > Certificates > "
            "View Certificates > Authorities > Import)",
            "or on Linux for Chromium: certutil -d sql:$HOME/.pki/nssdb -A -t C,, "
            f"-n nodish-demo -i {ca}",
            f"command line: curl --cacert {ca} ...; NODE_EXTRA_CA_CERTS={ca} node ...;"
            f" SSL_CERT_FILE={ca} python ...",
            f"issue certificates for your own servers from it: nodish cert server NAME "
            f"--ca {ca} --ca-key {self.key_path}",
        ]


class _PemPair:
    """A certificate chain and its key as PEM, shaped like :class:`certs.Certificate`."""

    def __init__(self, chain_pem: bytes, key: bytes) -> None:
        self.chain_pem = chain_pem
        self._key = key

    def key_pem(self) -> bytes:
        return self._key


class GivenCertificate:
    """A certificate and key the user gave (``--tls-cert``/``--tls-key``), in place of
    the development CA: the same interface, nothing to create."""

    cert_path = None  # no CA of ours to trust

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        from .. import certs

        self.cert_file = cert_file
        certs.load_cert(cert_file)  # a clear error now rather than at the first handshake
        certs.load_key(key_file)
        self.pair = _PemPair(cert_file.read_bytes(), key_file.read_bytes())

    def server_certificate(self, host: str) -> _PemPair:
        """The given certificate, whatever the host."""
        return self.pair

    def how_to_trust(self) -> list[str]:
        """Where the certificate came from."""
        return [f"the certificate is {self.cert_file} (--tls-cert)"]
