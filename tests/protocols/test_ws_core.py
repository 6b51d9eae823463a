"""The sans-I/O WebSocket core: frames, receiver, handshake, permessage-deflate.

Every stream is fed whole, one byte at a time and in random chunks, and must give the
same events; each bad-input rule gives its RFC close code and ``ws``'s error code.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nodish.ws.deflate import (
    DeflateOptions,
    PerMessageDeflate,
    accept_offer,
    client_offer,
    parse_extensions,
    parse_response,
)
from nodish.ws.frames import apply_mask, close_payload, encode_frame, is_valid_close_code
from nodish.ws.handshake import (
    HandshakeError,
    accept_key,
    accept_response,
    check_request,
    check_response,
    parse_protocols,
)
from nodish.ws.receiver import Receiver


def frame(
    op: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: int | None = None,
) -> bytes:
    """A frame built by hand (independent of encode_frame), any field forgeable."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | op
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return head + key + masked
    return head + payload


def recording(events: list[tuple[Any, ...]], **kw: Any) -> Receiver:
    """A receiver that appends what it reports to ``events``."""
    return Receiver(
        on_message=lambda d, b: events.append(("message", d, b)),
        on_close=lambda c, why: events.append(("close", c, why)),
        on_fail=lambda c, msg, code: events.append(("fail", c, code)),
        on_ping=lambda p: events.append(("ping", p)),
        on_pong=lambda p: events.append(("pong", p)),
        **kw,
    )


def run(
    stream: bytes, chunks: str = "whole", *, client: bool = False, **kw: Any
) -> list[tuple[Any, ...]]:
    events: list[tuple[Any, ...]] = []
    r = recording(events, client=client, **kw)
    if chunks == "whole":
        r.feed(stream)
    elif chunks == "bytes":
        for i in range(len(stream)):
            r.feed(stream[i : i + 1])
    else:
        rnd = __import__("random").Random(len(stream))
        i = 0
        while i < len(stream):
            n = rnd.randint(1, 300)
            r.feed(memoryview(stream)[i : i + n])
            i += n
    return events


def same_every_way(stream: bytes, **kw: Any) -> list[tuple[Any, ...]]:
    whole = run(stream, "whole", **kw)
    assert run(stream, "bytes", **kw) == whole
    assert run(stream, "random", **kw) == whole
    assert run(stream + b"\x81\x85trailing", "whole", **kw)[: len(whole)] == whole
    return whole


# ---------------------------------------------------------------------------- masking


@given(st.binary(max_size=300), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_the_rfc_definition(data: bytes, key: bytes) -> None:
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert apply_mask(data, key) == expected
    assert apply_mask(expected, key) == data


def test_encode_frame_lengths_7_16_64_bits() -> None:
    for n, head_len in ((0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)):
        raw = b"".join(encode_frame(2, b"x" * n))
        assert len(raw) == head_len + n
        assert run(raw, client=True) == [("message", b"x" * n, True)]


# ---------------------------------------------------------------------------- good streams

messages = st.lists(
    st.one_of(
        st.tuples(st.just(1), st.text(max_size=200)),
        st.tuples(st.just(2), st.binary(max_size=200)),
        st.tuples(st.just(9), st.binary(max_size=125)),
        st.tuples(st.just(10), st.binary(max_size=125)),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(messages, st.integers(min_value=1, max_value=50), st.booleans())
def test_messages_round_trip_whole_and_byte_by_byte(
    msgs: list[tuple[int, Any]], frag: int, client: bool
) -> None:
    stream = b""
    expected: list[tuple[Any, ...]] = []
    for op, value in msgs:
        payload = value.encode() if op == 1 else value
        if op >= 9:
            stream += frame(op, payload, mask=not client)
            expected.append(("ping" if op == 9 else "pong", payload))
            continue
        pieces = [payload[i : i + frag] for i in range(0, len(payload), frag)] or [b""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            stream += frame(op if i == 0 else 0, piece, fin=last, mask=not client)
            if i == 0 and not last:
                stream += frame(9, b"interleaved", mask=not client)  # control in between
        if len(pieces) > 1:
            # the interleaved ping is delivered before the message it interrupted
            expected.append(("ping", b"interleaved"))
        expected.append(("message", value, op == 2))
    stream += frame(8, close_payload(1000, b"done"), mask=not client)
    expected.append(("close", 1000, "done"))
    assert same_every_way(stream, client=client) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([0, 1, 2, 3, 8, 9, 10]),
    st.one_of(st.binary(max_size=140), st.text(max_size=60).map(str.encode)),
    st.booleans(),
    st.sampled_from([0, 0x40, 0x20]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([4, 125, 1000]),
)
@example(1, b"over four", True, 0, True, False, 4)  # 1009 before any payload is taken
@example(2, b"masked", True, 0, True, True, 1000)  # a client refuses a masked frame
@example(1, b"\xc3(", True, 0, True, False, 1000)  # 1007
def test_one_frame_per_chunk_gives_what_the_careful_path_gives(
    op: int, payload: bytes, fin: bool, rsv: int, mask: bool, client: bool, max_payload: int
) -> None:
    # a server reads most messages as one whole small frame per chunk (the receiver's
    # short path): fed whole, byte by byte, in random chunks and with trailing bytes, a
    # frame of any kind, right or wrong, gives the same events
    stream = frame(op, payload, fin=fin, rsv=rsv, mask=mask)
    events = same_every_way(stream, client=client, max_payload=max_payload)
    if op in (1, 2) and fin and not rsv and mask and not client and len(payload) <= max_payload:
        if op == 2:
            assert events == [("message", payload, True)]
        else:
            try:
                assert events == [("message", payload.decode(), False)]
            except UnicodeDecodeError:
                assert events == [("fail", 1007, "WS_ERR_INVALID_UTF8")]


def test_messages_each_in_its_own_chunk_then_split_ones() -> None:
    msgs = [frame(1, b"x" * n) for n in range(0, 130, 7)] + [frame(2, bytes(range(125)))]
    expected = run(b"".join(msgs), "bytes")
    events: list[tuple[Any, ...]] = []
    r = recording(events, client=False)
    for m in msgs:
        r.feed(m)  # whole: the short path
    for m in msgs:
        r.feed(m[:3])  # split: the short path must not take a piece
        r.feed(m[3:])
    assert events == expected + expected and len(expected) == len(msgs)


def test_text_split_inside_a_utf8_sequence_across_fragments() -> None:
    data = "é€😀".encode()
    stream = b"".join(
        frame(1 if i == 0 else 0, data[i : i + 1], fin=i == len(data) - 1) for i in range(len(data))
    )
    assert same_every_way(stream) == [("message", "é€😀", False)]


def test_4_mib_in_64_byte_fragments_passes_the_fragment_cap() -> None:
    data = os.urandom(4 * 1024 * 1024)
    parts = [data[i : i + 64] for i in range(0, len(data), 64)]
    stream = b"".join(
        b"".join(encode_frame(2 if i == 0 else 0, p, fin=i == len(parts) - 1))
        for i, p in enumerate(parts)
    )
    assert run(stream, client=True) == [("message", data, True)]


def test_empty_close_reports_1005_and_data_after_close_is_ignored() -> None:
    assert same_every_way(frame(8, b"") + frame(1, b"late")) == [("close", 1005, "")]


# ---------------------------------------------------------------------------- bad input

BAD = [
    ("unmasked client frame", frame(1, b"hi", mask=False), 1002, "WS_ERR_EXPECTED_MASK"),
    ("reserved opcode 3", frame(3, b""), 1002, "WS_ERR_INVALID_OPCODE"),
    ("reserved opcode 11", frame(11, b""), 1002, "WS_ERR_INVALID_OPCODE"),
    ("RSV1 without extension", frame(1, b"a", rsv=0x40), 1002, "WS_ERR_UNEXPECTED_RSV_1"),
    ("RSV2", frame(2, b"a", rsv=0x20), 1002, "WS_ERR_UNEXPECTED_RSV_2"),
    ("RSV3", frame(2, b"a", rsv=0x10), 1002, "WS_ERR_UNEXPECTED_RSV_3"),
    ("fragmented ping", frame(9, b"", fin=False), 1002, "WS_ERR_EXPECTED_FIN"),
    (
        "ping over 125 bytes",
        frame(9, b"x" * 126),
        1002,
        "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH",
    ),
    ("continuation without start", frame(0, b"x"), 1002, "WS_ERR_INVALID_OPCODE"),
    (
        "new message inside a fragmented one",
        frame(1, b"a", fin=False) + frame(1, b"b"),
        1002,
        "WS_ERR_INVALID_OPCODE",
    ),
    ("invalid UTF-8 text", frame(1, b"\xff\xfe"), 1007, "WS_ERR_INVALID_UTF8"),
    (
        "invalid UTF-8 in the first fragment",
        frame(1, b"ok\xc0\xaf", fin=False),
        1007,
        "WS_ERR_INVALID_UTF8",
    ),
    (
        "truncated UTF-8 at the last fragment",
        frame(1, b"ok\xe2\x82", fin=False) + frame(0, b""),
        1007,
        "WS_ERR_INVALID_UTF8",
    ),
    (
        "invalid UTF-8 close reason",
        frame(8, b"\x03\xe8\xff"),
        1007,
        "WS_ERR_INVALID_UTF8",
    ),
    ("close code 1005", frame(8, b"\x03\xed"), 1002, "WS_ERR_INVALID_CLOSE_CODE"),
    ("close code 999", frame(8, b"\x03\xe7"), 1002, "WS_ERR_INVALID_CLOSE_CODE"),
    ("close code 5000", frame(8, b"\x13\x88"), 1002, "WS_ERR_INVALID_CLOSE_CODE"),
    ("1-byte close", frame(8, b"\x03"), 1002, "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH"),
    (
        "64-bit length past max_payload, payload never sent",
        frame(2, b"", length=1 << 40)[:14],
        1009,
        "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
    ),
    (
        "fragments adding up past max_payload",
        frame(2, b"x" * 600, fin=False) + frame(0, b"x" * 600, fin=False),
        1009,
        "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
    ),
]


@pytest.mark.parametrize(("name", "stream", "code", "err"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_with_the_rfc_code(name: str, stream: bytes, code: int, err: str) -> None:
    good = frame(1, b"before")
    events = same_every_way(good + stream, max_payload=1000)
    assert events == [("message", "before", False), ("fail", code, err)]


def test_masked_server_frame_is_1002_on_the_client() -> None:
    assert run(frame(1, b"x", mask=True), client=True) == [("fail", 1002, "WS_ERR_UNEXPECTED_MASK")]


def test_too_many_fragments_is_1008() -> None:
    stream = frame(2, b"a", fin=False) + b"".join(frame(0, b"", fin=False) for _ in range(10))
    assert same_every_way(stream, max_fragments=5) == [("fail", 1008, "WS_ERR_TOO_MANY_FRAGMENTS")]


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert is_valid_close_code(code)
    assert run(frame(8, close_payload(code, b"r"))) == [("close", code, "r")]


# ---------------------------------------------------------------------------- deflate


def compressed(data: bytes, bits: int = 15) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -bits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=5), st.booleans())
def test_deflate_round_trip_with_context_takeover(msgs: list[bytes], reset: bool) -> None:
    sender = PerMessageDeflate(compress_reset=reset, threshold=0)
    stream = b"".join(frame(2, sender.compress(m), rsv=0x40) for m in msgs)
    events = same_every_way(stream, deflate=PerMessageDeflate(decompress_reset=reset))
    assert events == [("message", m, True) for m in msgs]


def test_deflate_fragmented_text() -> None:
    payload = compressed(("héllo " * 500).encode())
    stream = frame(1, payload[:10], rsv=0x40, fin=False) + frame(0, payload[10:])
    assert same_every_way(stream, deflate=PerMessageDeflate()) == [
        ("message", "héllo " * 500, False)
    ]


def test_decompression_bomb_stops_at_max_payload() -> None:
    bomb = compressed(b"\x00" * (64 * 1024 * 1024))
    assert len(bomb) < 80 * 1024
    events = run(frame(2, bomb, rsv=0x40), deflate=PerMessageDeflate(), max_payload=1 << 20)
    assert events == [("fail", 1009, "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH")]


def test_rsv1_on_continuation_or_control_is_1002_even_with_deflate() -> None:
    d = PerMessageDeflate
    assert run(frame(9, b"", rsv=0x40), deflate=d()) == [("fail", 1002, "WS_ERR_UNEXPECTED_RSV_1")]
    stream = frame(2, compressed(b"ab"), rsv=0x40, fin=False) + frame(0, b"", rsv=0x40)
    assert run(stream, deflate=d()) == [("fail", 1002, "WS_ERR_UNEXPECTED_RSV_1")]


def test_corrupt_deflate_data_is_1007() -> None:
    assert run(frame(2, b"\xff\xff\xff\xff", rsv=0x40), deflate=PerMessageDeflate()) == [
        ("fail", 1007, "Z_DATA_ERROR")
    ]


NEGOTIATION = [
    ("permessage-deflate", {}, "permessage-deflate"),
    (
        "permessage-deflate; client_max_window_bits",
        {"client_max_window_bits": 10},
        "permessage-deflate; client_max_window_bits=10",
    ),
    (
        "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
        {},
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    ),
    (
        "permessage-deflate; unknown_param, permessage-deflate",
        {},
        "permessage-deflate",
    ),
    (
        "permessage-deflate; server_max_window_bits=8, permessage-deflate; "
        "client_no_context_takeover",
        {},
        "permessage-deflate; client_no_context_takeover",
    ),
    ("permessage-deflate; server_max_window_bits=16", {}, None),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", {}, None),
    ("x-webkit-deflate-frame", {}, None),
]


@pytest.mark.parametrize(("offer", "opts", "answer"), NEGOTIATION)
def test_server_negotiation(offer: str, opts: dict[str, Any], answer: str | None) -> None:
    result = accept_offer(offer, DeflateOptions(**opts))
    assert (result[0] if result else None) == answer


def test_client_offer_and_answer_agree() -> None:
    opts = DeflateOptions()
    offer = client_offer(opts)
    assert parse_extensions(offer) == [("permessage-deflate", [("client_max_window_bits", None)])]
    answer, server_codec = accept_offer(offer, DeflateOptions(client_max_window_bits=11)) or (
        "",
        None,
    )
    client_codec = parse_response(answer, opts)
    assert client_codec.compress_bits == 11
    assert server_codec is not None and server_codec.decompress_bits == 11
    msg = os.urandom(100) * 50
    got = server_codec.decompress(client_codec.compress(msg), True, 1 << 20)
    assert got == msg
    with pytest.raises(ValueError):
        parse_response("permessage-deflate; foo", opts)
    with pytest.raises(ValueError):
        parse_response("permessage-deflate, permessage-deflate", opts)


# ---------------------------------------------------------------------------- handshake


def test_accept_key_rfc_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


GOOD_HEADERS = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
}


@pytest.mark.parametrize(
    ("method", "change"),
    [
        ("POST", {}),
        ("GET", {"sec-websocket-key": "short"}),
        ("GET", {"sec-websocket-key": None}),
        ("GET", {"sec-websocket-version": "8"}),
        ("GET", {"sec-websocket-version": None}),
        ("GET", {"upgrade": "h2c"}),
    ],
)
def test_bad_requests_are_400(method: str, change: dict[str, Any]) -> None:
    headers = {k: v for k, v in {**GOOD_HEADERS, **change}.items() if v is not None}
    with pytest.raises(HandshakeError) as info:
        check_request(method, headers)
    assert info.value.status == 400


def test_good_request_and_response() -> None:
    key = check_request("GET", GOOD_HEADERS)
    lines = accept_response(key, protocol="chat")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in lines
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert check_response(101, headers, key, ["chat", "superchat"]) == "chat"
    with pytest.raises(HandshakeError):
        check_response(101, headers, key, ["other"])
    with pytest.raises(HandshakeError):
        check_response(101, {**headers, "sec-websocket-accept": "x"}, key, ["chat"])


def test_parse_protocols() -> None:
    assert parse_protocols("chat, superchat") == ["chat", "superchat"]
    for bad in ("chat, chat", "a b", "chat,,x"):
        with pytest.raises(ValueError):
            parse_protocols(bad)
