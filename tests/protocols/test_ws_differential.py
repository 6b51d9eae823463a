"""Differential test: nodish's receiver against the ``websockets`` library's sans-I/O core.

The same byte streams (valid and invalid frames, hypothesis-generated) go to
``websockets.server.ServerProtocol`` (state OPEN) and to our
:class:`~nodish.ws.receiver.Receiver`; both must report the same messages, pings, pongs
and the same close code.

``websockets``' protocol yields frames; messages are assembled here the way its asyncio
layer does (text decoded incrementally, frame by frame; a decoding error is 1007).
Deliberate differences, normalised below and documented in receiver.py:

* a close frame inside a fragmented message: a legal control frame for us (RFC 6455
  5.4), a protocol error (1002) for ``websockets``;
* compressed data zlib cannot inflate is 1007 for us (as ``ws``), 1002 for
  ``websockets`` (the compressed streams below, one deflate context across messages,
  some fragmented, some corrupted, are compared with that one mapping);
* ``websockets`` checks RSV bits and control-frame lengths after reading the payload,
  we check them on the header; the streams here never combine those with an oversize
  length, where the first check made decides the code.
"""

from __future__ import annotations

import codecs
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from nodish.ws.receiver import Receiver

MAX = 1000


def build(op: int, payload: bytes, fin: bool, rsv: int, mask: bool) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    else:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


text_payloads = st.one_of(
    st.text(max_size=40).map(str.encode),
    st.binary(max_size=20),  # mostly invalid UTF-8
    st.sampled_from([b"\xe2\x82", b"\xac", b"\xf0\x9f\x98", b"\x80", b"\xed\xa0\x80"]),
)
close_payloads = st.one_of(
    st.just(b""),
    st.just(b"\x03"),
    st.tuples(
        st.sampled_from([1000, 1001, 1002, 1004, 1005, 1006, 1011, 1015, 2999, 3000, 4999, 5000]),
        text_payloads,
    ).map(lambda t: struct.pack("!H", t[0]) + t[1][:120]),
)
frames = st.one_of(
    # mostly well-formed data frames, fragmented or not
    st.tuples(st.sampled_from([0, 1, 2]), text_payloads, st.booleans(), st.just(0), st.just(True)),
    st.tuples(
        st.sampled_from([9, 10]), st.binary(max_size=20), st.just(True), st.just(0), st.just(True)
    ),
    st.tuples(st.just(8), close_payloads, st.just(True), st.just(0), st.just(True)),
    # malformed ones
    st.tuples(
        st.sampled_from([0, 1, 2, 3, 7, 8, 9, 10, 11, 15]),
        st.binary(max_size=130),
        st.booleans(),
        st.sampled_from([0, 0x40, 0x20, 0x10]),
        st.booleans(),
    ),
    # oversize data frames (no other fault)
    st.tuples(
        st.sampled_from([0, 1, 2]),
        st.just(b"y" * (MAX + 1)),
        st.booleans(),
        st.just(0),
        st.just(True),
    ),
)


def reference(stream: bytes, client: bool = False) -> list[tuple[Any, ...]]:
    proto: Any
    if client:
        proto = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN, max_size=MAX)
    else:
        proto = ServerProtocol(state=State.OPEN, max_size=MAX)
    proto.receive_data(stream)
    return _assemble(proto)


def _assemble(proto: Any) -> list[tuple[Any, ...]]:
    """websockets' frames as messages, decoded as its asyncio layer does."""
    out: list[tuple[Any, ...]] = []
    parts: list[Any] = []
    decoder: Any = None
    op = None
    for f in proto.events_received():
        if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            if f.opcode is not Opcode.CONT:
                op, parts = f.opcode, []
                decoder = codecs.getincrementaldecoder("utf-8")() if op is Opcode.TEXT else None
            if decoder is not None:
                try:
                    parts.append(decoder.decode(f.data, f.fin))
                except UnicodeDecodeError:
                    out.append(("fail", 1007))
                    return out
            else:
                parts.append(bytes(f.data))
            if f.fin:
                data = "".join(parts) if op is Opcode.TEXT else b"".join(parts)
                out.append(("message", data, op is Opcode.BINARY))
                op = None
        elif f.opcode is Opcode.PING:
            out.append(("ping", bytes(f.data)))
        elif f.opcode is Opcode.PONG:
            out.append(("pong", bytes(f.data)))
        elif f.opcode is Opcode.CLOSE:
            rcvd = proto.close_rcvd
            assert rcvd is not None
            out.append(("close", rcvd.code, rcvd.reason))
            return out
    rcvd = proto.close_rcvd
    if rcvd is not None and op is not None:
        # deliberate difference: websockets fails a close inside a fragmented message
        out.append(("close", rcvd.code, rcvd.reason))
    elif proto.close_sent is not None:
        out.append(("fail", proto.close_sent.code))
    return out


def ours(stream: bytes, client: bool = False) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    r = Receiver(
        client=client,
        max_payload=MAX,
        max_fragments=1 << 30,
        on_message=lambda d, b: out.append(("message", d, b)),
        on_close=lambda c, why: out.append(("close", c, why)),
        on_fail=lambda c, msg, code: out.append(("fail", c)),
        on_ping=lambda p: out.append(("ping", p)),
        on_pong=lambda p: out.append(("pong", p)),
    )
    r.feed(stream)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, min_size=1, max_size=8))
def test_same_messages_and_close_codes_as_websockets(specs: list[tuple[Any, ...]]) -> None:
    stream = b"".join(build(*spec) for spec in specs)
    assert ours(stream) == reference(stream)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, min_size=1, max_size=8))
def test_client_side_agrees_with_websockets(specs: list[tuple[Any, ...]]) -> None:
    # the same streams with every mask bit flipped: well-formed server frames are unmasked
    stream = b"".join(build(*spec[:4], not spec[4]) for spec in specs)
    assert ours(stream, client=True) == reference(stream, client=True)


def test_known_streams_agree() -> None:
    cases = [
        build(1, "héllo".encode(), True, 0, True),
        build(1, b"a", False, 0, True)
        + build(9, b"p", True, 0, True)
        + build(0, b"b", True, 0, True),
        build(1, b"\xff", True, 0, True),
        build(8, b"\x03\xe8bye", True, 0, True),
        build(8, b"\x03\xedx", True, 0, True),
        build(2, b"x", True, 0x40, True),
        build(0, b"x", True, 0, True),
        build(1, b"x", True, 0, False),
    ]
    for stream in cases:
        assert ours(stream) == reference(stream)


# ---------------------------------------------------------------------------- deflate


def deflate_stream(msgs: list[tuple[int, bytes, bool, int]], corrupt: int | None) -> bytes:
    """Frames for ``(opcode, payload, compressed, fragments)``; one deflate context."""
    import zlib

    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = b""
    for i, (op, payload, compressed, nfrag) in enumerate(msgs):
        data = payload
        if compressed:
            data = (comp.compress(payload) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
            if corrupt == i and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
        size = max(1, -(-len(data) // nfrag))
        parts = [data[j : j + size] for j in range(0, len(data), size)] or [b""]
        for j, part in enumerate(parts):
            rsv = 0x40 if compressed and j == 0 else 0
            out += build(op if j == 0 else 0, part, j == len(parts) - 1, rsv, True)
    return out


def reference_deflate(stream: bytes) -> list[tuple[Any, ...]]:
    from websockets.extensions.permessage_deflate import PerMessageDeflate as Ext

    proto = ServerProtocol(state=State.OPEN, max_size=MAX * 20)
    proto.extensions = [Ext(False, False, 15, 15)]  # as negotiated, without a handshake
    proto.receive_data(stream)
    return _assemble(proto)


def ours_deflate(stream: bytes) -> list[tuple[Any, ...]]:
    from nodish.ws.deflate import PerMessageDeflate

    out: list[tuple[Any, ...]] = []
    r = Receiver(
        client=False,
        max_payload=MAX * 20,
        max_fragments=1 << 30,
        deflate=PerMessageDeflate(),
        on_message=lambda d, b: out.append(("message", d, b)),
        on_close=lambda c, why: out.append(("close", c, why)),
        on_fail=lambda c, msg, code: out.append(("fail", 1002 if code == "Z_DATA_ERROR" else c)),
        on_ping=lambda p: out.append(("ping", p)),
        on_pong=lambda p: out.append(("pong", p)),
    )
    r.feed(stream)
    return out


deflate_messages = st.lists(
    st.tuples(
        st.sampled_from([1, 2]),
        st.one_of(st.text(max_size=300).map(str.encode), st.binary(max_size=300)),
        st.booleans(),
        st.integers(min_value=1, max_value=4),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deflate_messages, st.one_of(st.none(), st.integers(min_value=0, max_value=5)))
def test_compressed_streams_agree_with_websockets(
    msgs: list[tuple[int, bytes, bool, int]], corrupt: int | None
) -> None:
    stream = deflate_stream(msgs, corrupt)
    assert ours_deflate(stream) == reference_deflate(stream)
