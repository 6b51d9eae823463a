"""tls.check_server_identity: Node v20's rules, case by case (from Node's own tests)."""

from __future__ import annotations

import pytest

from nodish import tls


def cert(cn=None, san=None):
    out = {"subject": {"CN": cn} if cn is not None else {}}
    if san is not None:
        out["subjectaltname"] = san
    return out


@pytest.mark.parametrize(
    ("host", "c", "ok"),
    [
        ("a.com", cert("a.com"), True),  # CN fallback: no SAN at all
        ("a.com", cert("A.COM"), True),
        ("a.com.", cert("a.com"), True),  # trailing dot
        ("a.com", cert("b.com"), False),
        ("localhost", cert("localhost", "IP Address:127.0.0.1"), True),  # IP SAN only: CN counts
        ("localhost", cert("localhost", "DNS:other"), False),  # a DNS SAN hides the CN
        ("b.a.com", cert(san="DNS:*.a.com"), True),
        ("a.com", cert(san="DNS:*.a.com"), False),
        ("c.b.a.com", cert(san="DNS:*.a.com"), False),  # one label only
        ("b.a.com", cert(san="DNS:b*.a.com"), True),
        ("ba.a.com", cert(san="DNS:*a.a.com"), True),
        ("a.com", cert(san="DNS:*.com"), False),  # *.tld is refused
        ("xn--bcher-kva.example", cert(san="DNS:xn--*.example"), False),
        ("a.b.a.com", cert(san="DNS:a.*.a.com"), False),
        ("127.0.0.1", cert("127.0.0.1"), False),  # an IP never matches a CN
        ("127.0.0.1", cert(san="IP Address:127.0.0.1"), True),
        ("::1", cert(san="IP Address:0:0:0:0:0:0:0:1"), True),
        ("127.0.0.1", cert(san="DNS:127.0.0.1"), False),  # nor a DNS name
        ("a.com", cert(), False),
        ("a.com", cert(san="DNS:a.com, DNS:b.com"), True),
        ("b.com", cert(san="DNS:a.com, DNS:b.com"), True),
    ],
)
def test_node_rules(host, c, ok) -> None:
    err = tls.check_server_identity(host, c)
    if ok:
        assert err is None
    else:
        assert err is not None and err.code == "ERR_TLS_CERT_ALTNAME_INVALID"
        assert err.host == host.rstrip(".") and err.cert is c and err.reason


def test_reasons_are_nodes() -> None:
    assert tls.check_server_identity("a.com", cert()).reason == "Cert does not contain a DNS name"
    err = tls.check_server_identity("x.com", cert(san="DNS:a.com"))
    assert err.reason == "Host: x.com. is not in the cert's altnames: DNS:a.com"
    err = tls.check_server_identity("1.2.3.4", cert(san="IP Address:5.6.7.8"))
    assert err.reason == "IP: 1.2.3.4 is not in the cert's list: 5.6.7.8"
    err = tls.check_server_identity("x.com", cert("a.com"))
    assert err.reason == "Host: x.com. is not cert's CN: a.com"
