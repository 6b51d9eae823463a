"""Socket.IO protocol v5 packets: encoder and decoder (sans-I/O).

Theory of operation
-------------------
A Socket.IO packet travels as one Engine.IO text message, followed, for the binary
types, by one Engine.IO binary message per attachment. Its text form is, in order:

* the type, one digit (``0`` CONNECT ... ``6`` BINARY_ACK);
* for BINARY_EVENT/BINARY_ACK, the attachment count and ``-``;
* the namespace and ``,`` unless it is ``/``;
* the ack id, decimal digits, if any;
* the data as JSON, if any.

``"2/chat,12[\\"msg\\",1]"`` is an EVENT on ``/chat`` asking for ack 12. Binary values
(``bytes``, ``bytearray``, ``memoryview``) anywhere inside the data are replaced by
``{"_placeholder":true,"num":N}`` and sent after the text as attachment ``N``; the
encoder promotes EVENT/ACK to their BINARY types when the data holds binary, as
``socket.io-parser`` does.

The decoder follows ``socket.io-parser`` v4 (``Decoder.add``), with its payload rules:
CONNECT data is an object, DISCONNECT has none, CONNECT_ERROR a string or an object,
EVENT a non-empty list whose first item is an event name (a string that is not
reserved, or a number), ACK a list; at most ``max_attachments`` attachments (10 by
default). Where the JS decoder lets something odd through we refuse it, deliberately:
an EVENT or ACK without data, an attachment count that does not match the
placeholders, a placeholder whose ``num`` is not an integer. Every refusal raises
:class:`SocketIOParseError`; the caller closes that connection.

Speed: an EVENT or ACK on ``/`` without binary (``2[...]``, ``312[...]``) is the
packet of nearly every message, so it is decoded with one scan of json's C scanner and
encoded with json's C encoder, both made once, with no walk of the data for binary
values first. Whatever they refuse (binary, NaN, whitespace, bad JSON) goes the careful
way, so the result, and the error, are the same as without the shortcut.
"""

from __future__ import annotations

import json
import json.encoder as _json_encoder
import json.scanner as _json_scanner
import math
from typing import Any, Final

__all__ = [
    "ACK",
    "BINARY_ACK",
    "BINARY_EVENT",
    "CONNECT",
    "CONNECT_ERROR",
    "DISCONNECT",
    "EVENT",
    "RESERVED_EVENTS",
    "Decoder",
    "Packet",
    "SocketIOParseError",
    "ack_text",
    "encode",
    "encode_parts",
    "has_binary",
]

PROTOCOL: Final = 5

CONNECT: Final = 0
DISCONNECT: Final = 1
EVENT: Final = 2
ACK: Final = 3
CONNECT_ERROR: Final = 4
BINARY_EVENT: Final = 5
BINARY_ACK: Final = 6

TYPE_NAMES: Final = (
    "CONNECT",
    "DISCONNECT",
    "EVENT",
    "ACK",
    "CONNECT_ERROR",
    "BINARY_EVENT",
    "BINARY_ACK",
)

RESERVED_EVENTS: Final = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener")
)

_BINARY: Final = (bytes, bytearray, memoryview)
_DIGITS: Final = "0123456789"
_NO_DATA: Final = object()
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_dumps = _encoder.encode
_loads = json.loads
# The C halves of json, made once: json.dumps and json.loads build or wrap them on
# every call (about three times the cost for a short event). What they refuse, the
# stdlib functions are asked again, so errors and odd input are theirs exactly.
_c_make_encoder: Any = getattr(_json_encoder, "c_make_encoder", None)
_c_make_scanner: Any = getattr(_json_scanner, "c_make_scanner", None)
_c_encoder: Any = None
_c_scanner: Any = None
if _c_make_encoder is not None and _c_make_scanner is not None:
    _c_scanner = _c_make_scanner(json.JSONDecoder())


def _make_c_encoder() -> Any:
    # markers: the circular-reference check; a fresh dict, since an error part way
    # through leaves ids in it
    return _c_make_encoder(
        {},
        _encoder.default,
        _json_encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )


if _c_scanner is not None:
    _c_encoder = _make_c_encoder()


class SocketIOParseError(ValueError):
    """A Socket.IO packet that does not follow protocol v5."""


class Packet:
    """One Socket.IO packet.

    ``data`` is the decoded JSON (for EVENT ``[name, *args]``), with binary attachments
    back in place; ``id`` the ack id or None; ``nsp`` the namespace (``'/'`` default).
    """

    __slots__ = ("attachments", "data", "id", "nsp", "type")

    def __init__(
        self,
        type: int,
        data: Any = None,
        nsp: str = "/",
        id: int | None = None,
        attachments: int = 0,
    ) -> None:
        self.type = type
        self.data = data
        self.nsp = nsp
        self.id = id
        self.attachments = attachments

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Packet)
            and self.type == other.type
            and self.nsp == other.nsp
            and self.id == other.id
            and self.data == other.data
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Packet({TYPE_NAMES[self.type]}, {self.data!r}, nsp={self.nsp!r}, id={self.id!r})"


def has_binary(data: Any) -> bool:
    """Whether ``data`` holds a binary value at any depth."""
    if isinstance(data, _BINARY):
        return True
    if isinstance(data, (list, tuple)):
        for item in data:
            if isinstance(item, (str, int, float)) or item is None:
                continue
            if has_binary(item):
                return True
        return False
    if isinstance(data, dict):
        return any(has_binary(v) for v in data.values())
    return False


def _deconstruct(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, _BINARY):
        buffers.append(bytes(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, (list, tuple)):
        return [_deconstruct(v, buffers) for v in data]
    if isinstance(data, dict):
        return {k: _deconstruct(v, buffers) for k, v in data.items()}
    return data


def _c_json(data: Any) -> str | None:
    """The C encoder's text for ``data``, or None when it refuses (binary, NaN...)."""
    global _c_encoder
    if _c_encoder is None:
        return None
    try:
        return "".join(_c_encoder(data, 0))
    except Exception:
        _c_encoder = _make_c_encoder()
        return None


def ack_text(nsp: str, id: int, args: tuple[Any, ...]) -> str | None:
    """``encode_parts(ACK, list(args), nsp, id)`` when that is one text message (the ack
    path), or None when JSON's C encoder refuses ``args`` (binary, NaN...)."""
    global _c_encoder
    if _c_encoder is None:
        return None
    try:
        text = "".join(_c_encoder(args, 0))
    except Exception:
        _c_encoder = _make_c_encoder()
        return None
    if nsp == "/":
        return f"3{id}{text}"
    return f"3{nsp},{id}{text}"


def _json(data: Any) -> str:
    """``JSON.stringify(data)`` for data without binary values."""
    text = _c_json(data)
    if text is not None:
        return text
    try:
        return _dumps(data)
    except ValueError:
        # JSON.stringify writes NaN and the infinities as null; json would refuse them.
        return _dumps(_finite(data))


def _parse_json(text: str, start: int) -> Any:
    """``JSON.parse(text[start:])``; raises ValueError when it is not JSON."""
    if _c_scanner is not None:
        try:
            value, end = _c_scanner(text, start)
        except (StopIteration, ValueError):
            pass  # leading whitespace, or an error json.loads will name
        else:
            if end == len(text):
                return value
    return _loads(text[start:])


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    return data


def encode(packet: Packet) -> list[str | bytes]:
    """The Engine.IO messages for ``packet``: its text, then its attachments."""
    return encode_parts(packet.type, packet.data, packet.nsp, packet.id)


def encode_parts(type_: int, data: Any, nsp: str = "/", id: int | None = None) -> list[str | bytes]:
    """``encode(Packet(type_, data, nsp, id))`` without the packet: the emit and ack path."""
    global _c_encoder
    buffers: list[bytes] = []
    text: str | None = None
    if data is not None and (type_ in (EVENT, ACK)) and _c_encoder is not None:
        try:
            text = "".join(_c_encoder(data, 0))
        except Exception:
            _c_encoder = _make_c_encoder()
        # refused: binary inside (attachments follow), or NaN, a circular or odd value,
        # which the careful path below names
    if text is None and data is not None and type_ in (EVENT, ACK, BINARY_EVENT, BINARY_ACK):
        if has_binary(data):
            data = _deconstruct(data, buffers)
            type_ = BINARY_EVENT if type_ in (EVENT, BINARY_EVENT) else BINARY_ACK
        elif type_ == BINARY_EVENT:
            type_ = EVENT
        elif type_ == BINARY_ACK:
            type_ = ACK
    elif type_ == BINARY_EVENT:
        type_ = EVENT
    elif type_ == BINARY_ACK:
        type_ = ACK
    head = _DIGITS[type_]
    if buffers:
        head += f"{len(buffers)}-"
    if nsp and nsp != "/":
        head += nsp + ","
    if id is not None:
        head += str(id)
    if text is not None:
        return [head + text]
    if data is None:
        return [head]
    if buffers:
        return [head + _json(data), *buffers]
    return [head + _json(data)]


def _valid(type_: int, data: Any) -> bool:
    if type_ == CONNECT:
        return isinstance(data, dict)
    if type_ == DISCONNECT:
        return False
    if type_ == CONNECT_ERROR:
        return isinstance(data, (str, dict))
    if type_ in (EVENT, BINARY_EVENT):
        if not isinstance(data, list) or not data:
            return False
        name = data[0]
        if isinstance(name, str):
            return name not in RESERVED_EVENTS
        return isinstance(name, (int, float)) and not isinstance(name, bool)
    return isinstance(data, list)  # ACK, BINARY_ACK


def decode_string(text: str, max_attachments: int = 10) -> Packet:
    """The packet in a text message (attachments not yet in place)."""
    n = len(text)
    if not n:
        raise SocketIOParseError("empty packet")
    type_ = ord(text[0]) - 48
    if type_ in (EVENT, ACK):
        # the common packet, ``2[...]`` or ``3<id>[...]`` on the main namespace, in
        # one scan; anything else (a namespace, odd JSON) takes the path below
        k = text.find("[", 1)
        if k > 0 and _c_scanner is not None:
            ids = text[1:k]
            if k == 1 or (ids.isdigit() and ids.isascii()):
                try:
                    value, end = _c_scanner(text, k)
                except (StopIteration, ValueError):
                    end = -1
                if end == n:
                    if type_ == EVENT and not (
                        value
                        and (
                            value[0] not in RESERVED_EVENTS
                            if type(value[0]) is str
                            else _valid(EVENT, value)
                        )
                    ):
                        raise SocketIOParseError("invalid payload")
                    return Packet(type_, value, "/", int(ids) if ids else None)
    if not 0 <= type_ <= 6:
        raise SocketIOParseError(f"unknown packet type {text[0]!r}")
    i = 1
    attachments = 0
    if type_ in (BINARY_EVENT, BINARY_ACK):
        dash = text.find("-", 1)
        count = text[1:dash] if dash > 0 else ""
        if not count.isdigit() or not count.isascii():
            raise SocketIOParseError("illegal attachments")
        attachments = int(count)
        if attachments < 1:
            raise SocketIOParseError("illegal attachments")
        if attachments > max_attachments:
            raise SocketIOParseError("too many attachments")
        i = dash + 1
    nsp = "/"
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        if comma < 0:
            nsp, i = text[i:], n
        else:
            nsp, i = text[i:comma], comma + 1
    id_ = None
    j = i
    while j < n and "0" <= text[j] <= "9":
        j += 1
    if j > i:
        id_ = int(text[i:j])
        i = j
    data: Any = None
    if i < n:
        try:
            data = _parse_json(text, i)
        except ValueError:
            raise SocketIOParseError("invalid payload") from None
        if not _valid(type_, data):
            raise SocketIOParseError("invalid payload")
    elif type_ not in (CONNECT, DISCONNECT):
        raise SocketIOParseError("invalid payload")
    return Packet(type_, data, nsp, id_, attachments)


def _reconstruct(data: Any, buffers: list[bytes], used: set[int]) -> Any:
    if isinstance(data, list):
        return [_reconstruct(v, buffers, used) for v in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True:
            num = data.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise SocketIOParseError("illegal attachments")
            used.add(num)
            return buffers[num]
        return {k: _reconstruct(v, buffers, used) for k, v in data.items()}
    return data


class Decoder:
    """Socket.IO packets from Engine.IO messages, one message at a time.

    ``add(message)`` returns the packet the message completes, or None while a binary
    packet still waits for attachments. Binary packets come out as EVENT/ACK with their
    ``bytes`` in place.
    """

    __slots__ = ("_buffers", "_pending", "max_attachments")

    def __init__(self, max_attachments: int = 10) -> None:
        self.max_attachments = max_attachments
        self._pending: Packet | None = None
        self._buffers: list[bytes] = []

    @property
    def reconstructing(self) -> bool:
        """True between a binary packet's text and its last attachment."""
        return self._pending is not None

    def add(self, message: str | bytes | bytearray | memoryview) -> Packet | None:
        if isinstance(message, str):
            if self._pending is not None:
                raise SocketIOParseError("got plaintext data when reconstructing a packet")
            packet = decode_string(message, self.max_attachments)
            if packet.type == BINARY_EVENT or packet.type == BINARY_ACK:
                self._pending = packet
                self._buffers = []
                return None
            return packet
        if not isinstance(message, _BINARY):
            raise SocketIOParseError(f"unknown message type {type(message).__name__}")
        pending = self._pending
        if pending is None:
            raise SocketIOParseError("got binary data when not reconstructing a packet")
        self._buffers.append(bytes(message))
        if len(self._buffers) < pending.attachments:
            return None
        buffers, self._buffers, self._pending = self._buffers, [], None
        used: set[int] = set()
        pending.data = _reconstruct(pending.data, buffers, used)
        if len(used) != len(buffers):
            raise SocketIOParseError("illegal attachments")
        pending.type = EVENT if pending.type == BINARY_EVENT else ACK
        pending.attachments = 0
        return pending

    def destroy(self) -> None:
        """Drop a half-received binary packet."""
        self._pending = None
        self._buffers = []
