"""Socket.IO v5 codec: packets, namespaces, ack ids, binary attachments."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodish.socketio import parser
from nodish.socketio.parser import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    Decoder,
    Packet,
    SocketIOParseError,
    encode,
)

# (packet, messages): the forms socket.io-parser v4 produces (checked against it in
# tests/interop/test_socketio_parsers_node.py)
VECTORS: list[tuple[Packet, list[Any]]] = [
    (Packet(CONNECT), ["0"]),
    (Packet(CONNECT, {"token": "abc"}), ['0{"token":"abc"}']),
    (Packet(CONNECT, {"sid": "xyz"}, "/admin"), ['0/admin,{"sid":"xyz"}']),
    (Packet(DISCONNECT, nsp="/admin"), ["1/admin,"]),
    (Packet(DISCONNECT), ["1"]),
    (Packet(EVENT, ["hello", 1, {"a": [True, None]}]), ['2["hello",1,{"a":[true,null]}]']),
    (Packet(EVENT, ["hé€😀"], id=12), ['212["hé€😀"]']),
    (Packet(EVENT, ["x"], "/chat", 7), ['2/chat,7["x"]']),
    (Packet(ACK, [], id=3), ["33[]"]),
    (Packet(ACK, ["ok", 2], "/chat", 0), ['3/chat,0["ok",2]']),
    (Packet(CONNECT_ERROR, {"message": "Not authorized"}), ['4{"message":"Not authorized"}']),
    (Packet(CONNECT_ERROR, "Invalid namespace", "/x"), ['4/x,"Invalid namespace"']),
    (
        Packet(EVENT, ["up", b"\x01\x02", {"f": b"\xff"}], id=1),
        [
            '51-1["up",{"_placeholder":true,"num":0},{"f":{"_placeholder":true,"num":1}}]'.replace(
                "51-", "52-"
            ),
            b"\x01\x02",
            b"\xff",
        ],
    ),
    (
        Packet(ACK, [b"abc"], "/bin", 4),
        ['61-/bin,4[{"_placeholder":true,"num":0}]', b"abc"],
    ),
]


@pytest.mark.parametrize(("packet", "messages"), VECTORS)
def test_vectors(packet: Packet, messages: list[Any]) -> None:
    assert encode(packet) == messages
    dec = Decoder()
    outs = [dec.add(m) for m in messages]
    assert outs[:-1] == [None] * (len(messages) - 1)
    assert outs[-1] == packet
    assert not dec.reconstructing


def test_binary_types_fold_to_plain_when_no_binary() -> None:
    assert encode(Packet(BINARY_EVENT, ["a"])) == ['2["a"]']
    assert encode(Packet(BINARY_ACK, [1], id=2)) == ["32[1]"]


def test_tuples_and_bytearray_encode_like_lists_and_buffers() -> None:
    assert encode(Packet(EVENT, ("a", (1, 2), bytearray(b"z")))) == [
        '51-["a",[1,2],{"_placeholder":true,"num":0}]',
        b"z",
    ]


def test_non_finite_numbers_become_null_as_in_json_stringify() -> None:
    assert encode(Packet(EVENT, ["n", float("nan"), [float("inf")]])) == ['2["n",null,[null]]']


def test_placeholder_in_a_non_binary_packet_stays_an_object() -> None:
    pkt = Decoder().add('2["a",{"_placeholder":true,"num":0}]')
    assert pkt == Packet(EVENT, ["a", {"_placeholder": True, "num": 0}])


BAD_TEXT = [
    "",
    "7",
    "a",
    "2",  # EVENT without data
    "3",  # ACK without data
    "2{}",
    "2[]",
    '2["connect"]',
    '2["disconnecting"]',
    "2[true]",
    "2[null]",
    "3{}",
    '0"x"',
    "0[]",
    '1{"a":1}',
    "4[1]",
    "2[1,",
    '2["a"]x',
    "5-[]",
    '5x-["a"]',
    '50-["a"]',
    '5-1-["a"]',
    '511-["a"]',  # more than 10 attachments
    '5["a"]',
    '2/nsp,["a"',
]


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_bad_text_raises(bad: str) -> None:
    with pytest.raises(SocketIOParseError):
        Decoder().add(bad)


def test_event_name_may_be_a_number() -> None:
    assert Decoder().add("2[5,1]") == Packet(EVENT, [5, 1])


@pytest.mark.parametrize(
    ("text", "attachments"),
    [
        ('51-["a",{"_placeholder":true,"num":1}]', [b"x"]),  # num out of range
        ('51-["a",{"_placeholder":true,"num":"0"}]', [b"x"]),  # num not a number
        ('51-["a",{"_placeholder":true,"num":true}]', [b"x"]),
        ('52-["a",{"_placeholder":true,"num":0}]', [b"x", b"y"]),  # count mismatch
        ('51-["a",{"_placeholder":true,"num":-1}]', [b"x"]),
    ],
)
def test_attachment_mismatch_raises(text: str, attachments: list[bytes]) -> None:
    dec = Decoder()
    assert dec.add(text) is None
    with pytest.raises(SocketIOParseError, match="illegal attachments"):
        for a in attachments:
            dec.add(a)


def test_text_while_waiting_for_attachments_raises() -> None:
    dec = Decoder()
    dec.add('52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    assert dec.add(b"1") is None
    with pytest.raises(SocketIOParseError, match="plaintext"):
        dec.add('2["b"]')


def test_binary_without_a_binary_packet_raises() -> None:
    with pytest.raises(SocketIOParseError, match="not reconstructing"):
        Decoder().add(b"x")


def test_destroy_drops_a_half_received_packet() -> None:
    dec = Decoder()
    dec.add('51-["a",{"_placeholder":true,"num":0}]')
    dec.destroy()
    assert not dec.reconstructing
    assert dec.add('2["b"]') == Packet(EVENT, ["b"])


def test_max_attachments_is_configurable() -> None:
    text = '52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
    with pytest.raises(SocketIOParseError, match="too many"):
        Decoder(max_attachments=1).add(text)


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
data_with_binary = st.recursive(
    st.one_of(json_leaf, st.binary(max_size=8)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=5).filter(lambda k: k != "_placeholder"), inner, max_size=4
        )
    ),
    max_leaves=12,
)
event_name = st.text(min_size=1, max_size=10).filter(
    lambda s: (
        s
        not in (
            "connect",
            "connect_error",
            "disconnect",
            "disconnecting",
            "newListener",
            "removeListener",
        )
    )
)
nsp_st = st.one_of(
    st.just("/"), st.text(alphabet="abcxyz-_/é", min_size=1, max_size=6).map(lambda s: "/" + s)
)
ack_id = st.one_of(st.none(), st.integers(min_value=0, max_value=2**31))


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, dict):
        return "_placeholder" in value or any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(v) for v in value)
    return False


def _round_trip(packet: Packet) -> Packet:
    messages = encode(packet)
    dec = Decoder(max_attachments=10_000)
    out = None
    for m in messages:
        assert out is None
        out = dec.add(m)
    assert out is not None
    return out


@given(
    st.one_of(
        st.builds(
            Packet,
            st.just(CONNECT),
            st.none() | st.dictionaries(st.text(max_size=5), json_value, max_size=3),
            nsp_st,
        ),
        st.builds(Packet, st.just(DISCONNECT), st.none(), nsp_st),
        st.builds(
            Packet,
            st.just(CONNECT_ERROR),
            st.text() | st.fixed_dictionaries({"message": st.text()}),
            nsp_st,
        ),
        st.builds(
            Packet,
            st.just(EVENT),
            st.tuples(event_name, st.lists(data_with_binary, max_size=4)).map(
                lambda t: [t[0], *t[1]]
            ),
            nsp_st,
            ack_id,
        ),
        st.builds(
            Packet,
            st.just(ACK),
            st.lists(data_with_binary, max_size=4),
            nsp_st,
            st.integers(min_value=0, max_value=2**31),
        ),
    )
)
def test_round_trip(packet: Packet) -> None:
    if _has_placeholder(packet.data):
        return
    assert _round_trip(packet) == packet


@given(st.text(max_size=40))
def test_fuzz_text_accepts_or_raises_documented_error(text: str) -> None:
    dec = Decoder()
    try:
        dec.add(text)
    except SocketIOParseError:
        pass


# The common packets (EVENT and ACK on "/") are decoded with json's C scanner and
# encoded with its C encoder, made once; anything they refuse takes the careful path.
# Both paths must give the same packets, texts and errors.
def _decode_both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    def outcome() -> Any:
        try:
            return Decoder().add(text)
        except SocketIOParseError as exc:
            return ("error", str(exc))

    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(parser, "_c_scanner", None)
        careful = outcome()
    return fast, careful


@pytest.mark.parametrize(
    "text",
    [
        '2["a",1]',
        '212["a",{"b":[1.5,null]}]',
        "30[]",
        '3 ["x"]',
        '2 ["x"]',
        '21 ["x"]',
        '2["x"] ',
        '2["x"]]',
        '2["x"',
        '2["connect"]',
        "2[]",
        "2[1]",
        "2[true]",
        '2["a",NaN]',
        '2१["a"]',  # a digit, but not an ASCII one
        "3[]x",
        '2/chat,["a"]',
        '2{"a":["b"]}',
        '2["\\ud800"]',
    ],
)
def test_fast_and_careful_decoding_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, careful = _decode_both(text, monkeypatch)
    assert fast == careful


@given(
    st.sampled_from(["2", "3", "212", "30", "2 ", "3/a,"]),
    st.one_of(
        json_value.map(lambda v: json.dumps([v])),
        st.text(alphabet='[]{}",:0123456789 aNtrue', max_size=12),
    ),
)
def test_fast_and_careful_decoding_agree_generated(head: str, body: str) -> None:
    with pytest.MonkeyPatch.context() as m:
        fast, careful = _decode_both(head + body, m)
    assert fast == careful


@given(data_with_binary, st.sampled_from([EVENT, ACK]), nsp_st, ack_id)
def test_fast_and_careful_encoding_agree(data: Any, type_: int, nsp: str, id: Any) -> None:
    packet = Packet(type_, ["e", data], nsp, id)
    fast = encode(packet)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(parser, "_c_encoder", None)
        assert encode(packet) == fast


def test_encoder_recovers_after_a_refused_value() -> None:
    inner: list[Any] = [1, object()]
    data = ["a", inner]
    with pytest.raises(TypeError):
        encode(Packet(EVENT, data))
    inner.pop()
    # the failed call left no trace in the C encoder (its circular-reference check
    # would otherwise refuse the same lists now)
    assert parser._c_json(data) == '["a",[1]]'
    assert encode(Packet(EVENT, data)) == ['2["a",[1]]']
    assert encode(Packet(ACK, [[1, math.nan]], id=3)) == ["33[[1,null]]"]
