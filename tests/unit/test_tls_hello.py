"""The ClientHello reader behind an asynchronous ``sni_callback``, on its own: real
ClientHellos made by OpenSSL (a client over memory BIOs, no network), fed whole, byte
by byte, re-wrapped across records; no SNI; garbage."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from nodish.tls._hello import HelloError, HelloReader


def client_hello(servername: bytes | None) -> bytes:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    conn = SSL.Connection(ctx, None)
    if servername is not None:
        conn.set_tlsext_host_name(servername)
    conn.set_connect_state()
    with pytest.raises(SSL.WantReadError):
        conn.do_handshake()
    return conn.bio_read(65536)


def split_records(hello: bytes, cut: int) -> bytes:
    """The same handshake message in two records, cut ``cut`` bytes into it."""
    msg = hello[5:]
    head = hello[:3]
    return b"".join(head + len(part).to_bytes(2, "big") + part for part in (msg[:cut], msg[cut:]))


def test_whole_and_byte_by_byte() -> None:
    hello = client_hello(b"www.example.test")
    reader = HelloReader()
    assert reader.feed(hello) is True
    assert reader.servername == "www.example.test"
    reader = HelloReader()
    results = [reader.feed(hello[i : i + 1]) for i in range(len(hello))]
    assert results[-1] is True and not any(results[:-1])
    assert reader.servername == "www.example.test"


@pytest.mark.parametrize("cut", [1, 3, 4, 40, 100])
def test_a_hello_split_across_records(cut: int) -> None:
    wire = split_records(client_hello(b"b.test"), cut)
    reader = HelloReader()
    assert reader.feed(wire[:7]) is False
    assert reader.feed(wire[7:]) is True
    assert reader.servername == "b.test"


def test_no_sni() -> None:
    reader = HelloReader()
    assert reader.feed(client_hello(None)) is True
    assert reader.servername is None


def test_bytes_after_the_hello_are_left_alone() -> None:
    reader = HelloReader()
    assert reader.feed(client_hello(b"a.test") + b"\x17\x03\x03\x00\x05hello") is True
    assert reader.servername == "a.test"
    assert reader.feed(b"more") is True


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G",  # one byte is enough to know
        b"\x80\x2e\x01\x03\x01",  # an SSLv2-format hello
        b"\x16\x03\x01\x00\x00",  # an empty record
        b"\x16\x03\x01\x50\x00",  # a record longer than TLS allows
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a ServerHello first
        b"\x16\x03\x01\x00\x04\x01\xff\xff\xff",  # a 16 MB ClientHello announced
    ],
)
def test_garbage_is_an_error(garbage: bytes) -> None:
    with pytest.raises(HelloError):
        HelloReader().feed(garbage)


def test_lengths_that_overrun_the_hello_are_errors() -> None:
    hello = bytearray(client_hello(b"x.test"))
    body = 5 + 4
    sid = body + 2 + 32
    bad = bytearray(hello)
    bad[sid] = 0xFF  # a session id longer than what follows
    bad[sid + 1 :] = bad[sid + 1 : sid + 40]
    size = len(bad) - body
    bad[3:5] = (size + 4).to_bytes(2, "big")
    bad[6:9] = size.to_bytes(3, "big")
    with pytest.raises(HelloError):
        HelloReader().feed(bytes(bad))


HELLO = client_hello(b"split.example.test")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(HELLO) - 1), max_size=12))
def test_any_split_reads_the_same_name(cuts: list[int]) -> None:
    reader = HelloReader()
    edges = [0, *sorted(set(cuts)), len(HELLO)]
    results = [reader.feed(HELLO[a:b]) for a, b in itertools.pairwise(edges)]
    assert results[-1] is True and not any(results[:-1])
    assert reader.servername == "split.example.test"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=len(HELLO)))
def test_corrupt_input_is_a_hello_error_or_a_result(noise: bytes, at: int) -> None:
    """Bytes of a real hello overwritten from ``at`` on: a HelloError, a wait for more
    or a result, never another exception."""
    data = HELLO[:at] + noise
    reader = HelloReader()
    try:
        done = reader.feed(data)
    except HelloError:
        return
    assert done in (True, False)
    if done:
        assert reader.servername is None or isinstance(reader.servername, str)
