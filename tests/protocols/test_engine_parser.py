"""Engine.IO v4 codec: packets, polling payloads, fed whole and one byte at a time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodish.socketio.engine_parser import (
    CLOSE,
    MESSAGE,
    NOOP,
    OPEN,
    PING,
    PONG,
    UPGRADE,
    EngineParseError,
    Packet,
    PayloadDecoder,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)

# (packet, websocket form, polling form): the forms engine.io-parser v5 produces
VECTORS = [
    (Packet(OPEN, '{"sid":"abc"}'), '0{"sid":"abc"}', '0{"sid":"abc"}'),
    (Packet(CLOSE), "1", "1"),
    (Packet(PING), "2", "2"),
    (Packet(PING, "probe"), "2probe", "2probe"),
    (Packet(PONG, "probe"), "3probe", "3probe"),
    (Packet(MESSAGE, "hello é€😀"), "4hello é€😀", "4hello é€😀"),
    (Packet(MESSAGE, b"\x01\x02\x03"), b"\x01\x02\x03", "bAQID"),
    (Packet(MESSAGE, b""), b"", "b"),
    (Packet(UPGRADE), "5", "5"),
    (Packet(NOOP), "6", "6"),
]


@pytest.mark.parametrize(("packet", "ws", "polling"), VECTORS)
def test_packet_vectors(packet: Packet, ws: str | bytes, polling: str) -> None:
    assert encode_packet(packet, True) == ws
    assert encode_packet(packet, False) == polling
    assert decode_packet(ws) == packet
    assert decode_packet(polling) == packet


def test_empty_message_text_decodes_without_data() -> None:
    # "4" alone: a message whose data is absent (the JS parser gives no data field)
    assert decode_packet("4") == Packet(MESSAGE)
    assert encode_packet(Packet(MESSAGE, "")) == "4"


def test_payload_vector() -> None:
    packets = [Packet(MESSAGE, "hello"), Packet(MESSAGE, b"\x01\x02\x03"), Packet(PING)]
    assert encode_payload(packets) == "4hello\x1ebAQID\x1e2"
    assert decode_payload("4hello\x1ebAQID\x1e2") == packets
    assert decode_payload(b"4hello\x1ebAQID\x1e2") == packets


@pytest.mark.parametrize(
    "bad",
    ["", "7", "9x", "x", "\x1e", "b!!!", "bAQI"],
)
def test_bad_packets_raise(bad: str) -> None:
    with pytest.raises(EngineParseError):
        decode_packet(bad)


@pytest.mark.parametrize("bad", [b"", b"4a\x1e", b"4a\x1e\x1e4b", b"8", b"4\xff\xfe", b"4a\x1e7"])
def test_bad_payloads_raise(bad: bytes) -> None:
    with pytest.raises(EngineParseError):
        decode_payload(bad)
    with pytest.raises(EngineParseError):
        _feed_bytewise(bad)


def _feed_bytewise(body: bytes, trailing_split: int = 1) -> list[Packet]:
    dec = PayloadDecoder()
    out: list[Packet] = []
    for i in range(0, len(body), trailing_split):
        out += dec.feed(body[i : i + trailing_split])
    return out + dec.end()


def test_payload_decoder_limits_size() -> None:
    dec = PayloadDecoder(max_size=10)
    assert dec.feed(b"4hello") == []
    with pytest.raises(EngineParseError, match="too large"):
        dec.feed(b"world")


def test_payload_decoder_refuses_data_after_end() -> None:
    dec = PayloadDecoder()
    dec.feed(b"4a")
    assert dec.end() == [Packet(MESSAGE, "a")]
    assert dec.end() == []
    with pytest.raises(EngineParseError):
        dec.feed(b"4b")


def test_multibyte_text_split_inside_a_character() -> None:
    body = "4€\x1e4😀".encode()
    for cut in range(len(body) + 1):
        dec = PayloadDecoder()
        out = dec.feed(body[:cut]) + dec.feed(body[cut:]) + dec.end()
        assert out == [Packet(MESSAGE, "€"), Packet(MESSAGE, "😀")]


packets_st = st.one_of(
    st.builds(
        Packet,
        st.sampled_from([OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP]),
        st.one_of(st.none(), st.text(min_size=1).filter(lambda s: "\x1e" not in s)),
    ),
    st.builds(Packet, st.just(MESSAGE), st.binary()),
)


@given(packets_st)
def test_packet_round_trip(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet, True)) == packet
    assert decode_packet(encode_packet(packet, False)) == packet


@given(st.lists(packets_st, min_size=1, max_size=8), st.integers(min_value=1, max_value=7))
def test_payload_round_trip_any_chunking(packets: list[Packet], step: int) -> None:
    text = encode_payload(packets)
    assert decode_payload(text) == packets
    body = text.encode()
    assert _feed_bytewise(body, 1) == packets
    assert _feed_bytewise(body, step) == packets


@given(st.binary(max_size=64))
def test_payload_fuzz_accepts_or_raises_documented_error(body: bytes) -> None:
    try:
        whole = decode_payload(body)
    except EngineParseError:
        with pytest.raises(EngineParseError):
            _feed_bytewise(body)
        return
    assert _feed_bytewise(body) == whole
