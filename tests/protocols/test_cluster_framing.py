"""The cluster IPC framing (Node's newline-delimited JSON), sans I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodish.cluster.framing import Decoder, encode
from nodish.errors import NodeError

MESSAGES: list[Any] = [
    {"cmd": "NODE_CLUSTER", "act": "online", "seq": 0},
    "hello",
    42,
    None,
    [1, 2, {"a": "line\nbreak"}],
    {"unicode": "héllo \u2028 世界 \U0001f600", "lone": "\ud800"},
    {"big": "x" * (200 * 1024)},
]


def _stream() -> bytes:
    return b"".join(encode(m) for m in MESSAGES)


def test_frame_is_compact_json_and_a_newline_as_node_writes() -> None:
    assert encode({"a": 1, "b": [1, 2]}) == b'{"a":1,"b":[1,2]}\n'
    # a newline inside a string is escaped, so the only raw newline ends the frame
    assert encode("a\nb").count(b"\n") == 1
    # Node's JSON.parse reads what we write
    assert json.loads(encode({"x": "y"})) == {"x": "y"}


def test_whole_stream_one_byte_at_a_time_and_in_two_pieces_give_the_same_messages() -> None:
    data = _stream()
    assert Decoder().feed(data) == MESSAGES
    d = Decoder()
    out: list[Any] = []
    for i in range(len(data)):
        out += d.feed(data[i : i + 1])
    assert out == MESSAGES
    for cut in (1, 37, len(data) // 2, len(data) - 1):
        d = Decoder()
        assert d.feed(data[:cut]) + d.feed(data[cut:]) == MESSAGES


def test_messages_over_64_kib_are_framed_right() -> None:
    big = {"payload": "z" * (300 * 1024), "n": 7}
    data = encode(big) + encode("after")
    d = Decoder()
    out: list[Any] = []
    for i in range(0, len(data), 4096):
        out += d.feed(data[i : i + 4096])
    assert out == [big, "after"]
    assert d.buffered == 0


def test_trailing_partial_frame_is_held_until_its_newline() -> None:
    d = Decoder()
    assert d.feed(b'{"a":1}\n{"b":') == [{"a": 1}]
    assert d.buffered == 5
    assert d.feed(b"2}\n") == [{"b": 2}]


@pytest.mark.parametrize("bad", [b"not json\n", b'{"a":\n', b"\n", b"\xff\xfe\n", b"[1,2\n"])
def test_malformed_frame_raises_err_ipc_bad_message(bad: bytes) -> None:
    with pytest.raises(NodeError) as info:
        Decoder().feed(b'{"ok":true}\n' + bad)
    assert info.value.code == "ERR_IPC_BAD_MESSAGE"


def test_oversize_frame_is_refused_before_its_newline_arrives() -> None:
    d = Decoder(max_message=1000)
    d.feed(b"[" + b"1," * 400)
    with pytest.raises(ValueError) as info:
        d.feed(b"1," * 200)
    assert getattr(info.value, "code", None) == "ERR_IPC_BAD_MESSAGE"
    with pytest.raises(ValueError):
        Decoder(max_message=10).feed(b'"' + b"a" * 20 + b'"\n')


def test_unserialisable_message_is_err_invalid_arg_type() -> None:
    for bad in ({1, 2}, object(), float("nan"), {"f": print}):
        with pytest.raises(TypeError) as info:
            encode(bad)
        assert getattr(info.value, "code", None) == "ERR_INVALID_ARG_TYPE"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=8), st.lists(st.integers(1, 50), max_size=20))
def test_round_trip_under_any_chunking(messages: list[Any], cuts: list[int]) -> None:
    data = b"".join(encode(m) for m in messages)
    d = Decoder()
    out: list[Any] = []
    pos = 0
    for c in cuts:
        out += d.feed(data[pos : pos + c])
        pos += c
    out += d.feed(data[pos:])
    assert out == messages


@given(st.binary(max_size=200))
def test_fuzz_accepts_or_raises_the_documented_error(data: bytes) -> None:
    try:
        Decoder(max_message=100).feed(data)
    except NodeError as exc:
        assert exc.code == "ERR_IPC_BAD_MESSAGE"


def test_messages_before_a_bad_frame_are_kept_on_the_error() -> None:
    with pytest.raises(NodeError) as info:
        Decoder().feed(b'{"a":1}\n[2]\n{oops}\n"never"\n')
    assert info.value.messages == [{"a": 1}, [2]]  # type: ignore[attr-defined]
