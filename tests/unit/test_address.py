"""Node's address helpers: net.isIP rules, validatePort, address()/rinfo objects."""

from __future__ import annotations

import pytest

from nodish._address import (
    IPV4,
    IPV6,
    AddressInfo,
    RemoteInfo,
    family_name,
    is_ip,
    is_ipv4,
    is_ipv6,
    validate_port,
)
from nodish.errors import NodeError


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("127.0.0.1", 4),
        ("0.0.0.0", 4),
        ("255.255.255.255", 4),
        ("::1", 6),
        ("::", 6),
        ("fe80::1%eth0", 6),
        ("::ffff:127.0.0.1", 6),
        ("2001:db8::ff00:42:8329", 6),
        ("01.2.3.4", 0),  # Node: no leading zeros
        ("127.1", 0),  # Node: no shortened forms
        ("256.0.0.1", 0),
        ("1.2.3.4 ", 0),
        ("fe80::1%", 0),
        ("localhost", 0),
        ("", 0),
        (":::", 0),
        ("x" * 100, 0),
    ],
)
def test_is_ip_follows_node_net_isIP(text: str, kind: int) -> None:
    assert is_ip(text) == kind
    assert is_ipv4(text) is (kind == 4)
    assert is_ipv6(text) is (kind == 6)


@pytest.mark.parametrize("value", [None, 4, b"127.0.0.1", ["::1"], {"a": 1}])
def test_is_ip_of_a_non_string_is_zero(value: object) -> None:
    assert is_ip(value) == 0
    assert not is_ipv4(value)
    assert not is_ipv6(value)


def test_family_names_are_node_strings() -> None:
    assert (IPV4, IPV6) == ("IPv4", "IPv6")
    assert family_name("127.0.0.1") == "IPv4"
    assert family_name("::ffff:127.0.0.1") == "IPv6"


@pytest.mark.parametrize(
    ("port", "expected"),
    [(0, 0), (1, 1), (65535, 65535), ("80", 80), (" 8080 ", 8080), (80.0, 80), ("80.0", 80)],
)
def test_validate_port_accepts_what_node_accepts(port: object, expected: int) -> None:
    assert validate_port(port) == expected


@pytest.mark.parametrize(
    "port",
    [-1, 65536, 1.5, float("nan"), float("inf"), "", "  ", "x", "inf", True, False, None, [80]],
)
def test_validate_port_bad_port_raises_ERR_SOCKET_BAD_PORT(port: object) -> None:
    with pytest.raises(NodeError) as info:
        validate_port(port)
    assert info.value.code == "ERR_SOCKET_BAD_PORT"
    assert isinstance(info.value, ValueError)


def test_validate_port_zero_refused_when_not_allowed() -> None:
    with pytest.raises(NodeError) as info:
        validate_port(0, "Port", allow_zero=False)
    assert info.value.code == "ERR_SOCKET_BAD_PORT"
    assert validate_port(1, "Port", allow_zero=False) == 1


def test_address_info_reads_as_attribute_and_item() -> None:
    info = AddressInfo("127.0.0.1", "IPv4", 8124)
    assert info.port == info["port"] == 8124
    assert info.address == info["address"] == "127.0.0.1"
    assert info.family == info["family"] == "IPv4"
    assert dict(info) == {"address": "127.0.0.1", "family": "IPv4", "port": 8124}
    assert info == {"address": "127.0.0.1", "family": "IPv4", "port": 8124}
    assert info != {"address": "127.0.0.1", "family": "IPv4", "port": 1}
    host, family, port = info
    assert (host, family, port) == ("127.0.0.1", "IPv4", 8124)
    assert info.get("nope") is None
    assert info.to_dict()["port"] == 8124
    with pytest.raises(KeyError):
        info["nope"]


def test_address_info_is_read_only() -> None:
    info = AddressInfo("::1", "IPv6", 1)
    with pytest.raises(AttributeError):
        info.port = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        info["port"] = 2  # type: ignore[index]


def test_remote_info_has_size_and_hashes_like_a_tuple() -> None:
    rinfo = RemoteInfo("127.0.0.1", "IPv4", 5353, 12)
    assert rinfo.size == rinfo["size"] == 12
    assert rinfo == ("127.0.0.1", "IPv4", 5353, 12)
    assert hash(rinfo) == hash(("127.0.0.1", "IPv4", 5353, 12))
    assert "size=12" in repr(rinfo)
    assert list(rinfo.keys()) == ["address", "family", "port", "size"]
