"""Our codecs against the official JS ones: ``engine.io-parser`` and ``socket.io-parser``.

One node process runs the official parsers for the whole module; each case is sent as
a JSON line and the JS result compared with ours, for fixed vectors and for packets
hypothesis generates. Binary travels in JSON as ``{"$bin": base64}``.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.helpers import NODE
from tests.protocols.test_socketio_parser import BAD_TEXT, VECTORS, data_with_binary, event_name

from nodish.socketio import engine_parser as eio
from nodish.socketio import parser as sio

pytestmark = pytest.mark.interop

INTEROP = Path(__file__).parent

SCRIPT = r"""
const { Encoder, Decoder } = require('socket.io-parser');
const eio = require('engine.io-parser');
const wrap = (v) => Buffer.isBuffer(v) ? { $bin: v.toString('base64') }
  : Array.isArray(v) ? v.map(wrap)
  : (v && typeof v === 'object') ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrap(x)]))
  : v;
const unwrap = (v) => (v && typeof v === 'object' && !Array.isArray(v) && '$bin' in v) ? Buffer.from(v.$bin, 'base64')
  : Array.isArray(v) ? v.map(unwrap)
  : (v && typeof v === 'object') ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]))
  : v;
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line);
  let out;
  try {
    switch (req.op) {
      case 'sio_encode': {
        const p = unwrap(req.packet);
        if (p.id === null) delete p.id;
        if (p.data === null) delete p.data;
        out = new Encoder().encode(p);
        break;
      }
      case 'sio_decode': {
        const d = new Decoder();
        d.on('decoded', (p) => { out = p; });
        for (const m of unwrap(req.messages)) d.add(m);
        if (out === undefined) throw new Error('incomplete');
        break;
      }
      case 'eio_encode_payload':
        eio.encodePayload(unwrap(req.packets), (s) => { out = s; });
        break;
      case 'eio_decode_payload':
        out = eio.decodePayload(req.payload);
        if (out.some((p) => p.type === 'error')) throw new Error('parser error');
        break;
    }
    console.log(JSON.stringify({ ok: wrap(out) }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.message }));
  }
});
"""


def wrap(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return {"$bin": base64.b64encode(v).decode()}
    if isinstance(v, (list, tuple)):
        return [wrap(x) for x in v]
    if isinstance(v, dict):
        return {k: wrap(x) for k, x in v.items()}
    return v


def unwrap(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$bin"}:
            return base64.b64decode(v["$bin"])
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


class JSParsers:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [NODE, "-e", SCRIPT],
            cwd=INTEROP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def ask(self, **req: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "node parser process exited"
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def js() -> Iterator[JSParsers]:
    peer = JSParsers()
    yield peer
    peer.close()


def js_packet(p: sio.Packet) -> dict[str, Any]:
    return {"type": p.type, "nsp": p.nsp, "id": p.id, "data": wrap(p.data)}


def check_sio(js: JSParsers, packet: sio.Packet) -> None:
    ours = sio.encode(packet)
    theirs = unwrap(js.ask(op="sio_encode", packet=js_packet(packet))["ok"])
    if theirs != ours:
        # The same packet may be written with other bytes: JSON.stringify writes some
        # floats differently (1 for 1.0, 0.00001 for 1e-05), and JavaScript orders an
        # object's integer-like keys ("0", "7") first, ascending, so the keys (and the
        # attachments' numbering) may come in another order. The head must be the same
        # text, and the JSON values with their attachments put back the same values.
        (head_t, value_t), (head_o, value_o) = _split(theirs), _split(ours)
        assert head_t == head_o
        assert len(theirs) == len(ours)
        assert _as_floats(value_t) == _as_floats(value_o) == _as_floats(packet.data)
    decoded = js.ask(op="sio_decode", messages=wrap(ours))["ok"]
    assert decoded["type"] == packet.type
    assert decoded["nsp"] == packet.nsp
    assert decoded.get("id") == packet.id
    assert _as_floats(unwrap(decoded.get("data"))) == _as_floats(packet.data)


@pytest.mark.parametrize(("packet", "messages"), VECTORS)
def test_socketio_vectors_match_js(js: JSParsers, packet: sio.Packet, messages: list[Any]) -> None:
    check_sio(js, packet)


# The JS decoder takes "" for a CONNECT (Number("") is 0) and "2"/"3" for an EVENT/ACK
# without data; we refuse them on purpose.
STRICTER = ("", "2", "3")


@pytest.mark.parametrize("bad", [b for b in BAD_TEXT if b not in STRICTER])
def test_socketio_bad_text_refused_by_js_too(js: JSParsers, bad: str) -> None:
    assert "error" in js.ask(op="sio_decode", messages=[bad])


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.builds(
        sio.Packet,
        st.just(sio.EVENT),
        st.tuples(event_name, st.lists(data_with_binary, max_size=4)).map(lambda t: [t[0], *t[1]]),
        st.sampled_from(["/", "/chat", "/a/b"]),
        st.none() | st.integers(min_value=0, max_value=2**31),
    )
)
# integer-like keys, which JavaScript puts first: other text, and other attachment numbers
@example(sio.Packet(sio.EVENT, ["e", {"b": 1, "0": 2.5, "": [None]}], "/chat", 3))
@example(sio.Packet(sio.EVENT, ["e", {"x": b"\x01", "7": b"\x02"}], "/", None))
@example(sio.Packet(sio.EVENT, ["e", *[b""] * 11], "/", None))
def test_socketio_generated_events_match_js(js: JSParsers, packet: sio.Packet) -> None:
    if "$bin" in json.dumps(wrap(packet.data)).replace('{"$bin"', ""):
        return
    if "_placeholder" in json.dumps(wrap(packet.data)):
        return
    if _count_binary(packet.data) > 10:
        # both decoders refuse more than 10 attachments (socket.io-parser's maxAttachments)
        ours = sio.encode(packet)
        assert js.ask(op="sio_decode", messages=wrap(ours))["error"] == "too many attachments"
        with pytest.raises(sio.SocketIOParseError, match="too many attachments"):
            sio.Decoder().add(ours[0])
        return
    check_sio(js, packet)


def _count_binary(v: Any) -> int:
    if isinstance(v, bytes):
        return 1
    if isinstance(v, list):
        return sum(_count_binary(x) for x in v)
    if isinstance(v, dict):
        return sum(_count_binary(x) for x in v.values())
    return 0


def _split(messages: list[Any]) -> tuple[str, Any]:
    """An encoded packet's head text, and its JSON value with the attachments put back
    (parsed here, not by the codec under test)."""
    text, attachments = messages[0], messages[1:]
    assert isinstance(text, str) and all(isinstance(a, bytes) for a in attachments)
    # <type>[<attachments>-][<nsp>,][<id>]<json>
    i = 1
    if attachments:
        i = text.index("-") + 1
    if text.startswith("/", i):
        i = text.find(",", i) + 1 or len(text)
    while i < len(text) and text[i].isdigit():
        i += 1
    head, body = text[:i], text[i:]

    def put_back(v: Any) -> Any:
        if isinstance(v, dict):
            if v.get("_placeholder") is True and set(v) == {"_placeholder", "num"}:
                return attachments[v["num"]]
            return {k: put_back(x) for k, x in v.items()}
        if isinstance(v, list):
            return [put_back(x) for x in v]
        return v

    return head, put_back(json.loads(body)) if body else None


def _as_floats(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, list):
        return [_as_floats(x) for x in v]
    if isinstance(v, dict):
        return {k: _as_floats(x) for k, x in v.items()}
    return v


EIO_PACKETS = [
    [
        eio.Packet(eio.MESSAGE, "hello"),
        eio.Packet(eio.MESSAGE, b"\x00\x01\xff"),
        eio.Packet(eio.PING),
    ],
    [eio.Packet(eio.OPEN, '{"sid":"x"}')],
    [eio.Packet(eio.MESSAGE, "é€😀"), eio.Packet(eio.NOOP), eio.Packet(eio.CLOSE)],
]
EIO_NAMES = {i: name for i, name in enumerate(eio.TYPE_NAMES)}


@pytest.mark.parametrize("packets", EIO_PACKETS)
def test_engineio_payloads_match_js(js: JSParsers, packets: list[eio.Packet]) -> None:
    as_js = [
        {"type": EIO_NAMES[p.type], **({"data": wrap(p.data)} if p.data is not None else {})}
        for p in packets
    ]
    ours = eio.encode_payload(packets)
    assert js.ask(op="eio_encode_payload", packets=as_js)["ok"] == ours
    theirs = js.ask(op="eio_decode_payload", payload=ours)["ok"]
    assert [(t["type"], unwrap(t.get("data"))) for t in theirs] == [
        (EIO_NAMES[p.type], p.data) for p in packets
    ]


@pytest.mark.parametrize("bad", ["", "7", "x", "4a\x1e9"])
def test_engineio_bad_payloads_refused_by_js_too(js: JSParsers, bad: str) -> None:
    assert "error" in js.ask(op="eio_decode_payload", payload=bad)
    with pytest.raises(eio.EngineParseError):
        eio.decode_payload(bad)
