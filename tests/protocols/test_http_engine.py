"""The sans-I/O HTTP engine: bytes in, events out; no loop, no sockets.

Every input is fed whole, one byte at a time, and split at every position, and must
give the same events (DESIGN.md: protocol cores).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodish.http.parser import Engine, Head, ParseError


class Recorder:
    def __init__(self, take_upgrade: bool = True) -> None:
        self.events: list[Any] = []
        self.take_upgrade = take_upgrade

    def on_message_begin(self) -> None:
        self.events.append("begin")

    def on_headers(self, head: Head) -> None:
        self.events.append(
            (
                "head",
                head.method,
                head.url,
                head.version,
                tuple(head.raw),
                head.keep_alive,
                head.upgrade,
                head.status_code,
                head.status_message,
            )
        )

    def on_body(self, data: bytes) -> None:
        # adjacent body pieces are merged: how llhttp splits them depends on the feed
        if self.events and isinstance(self.events[-1], tuple) and self.events[-1][0] == "body":
            self.events[-1] = ("body", self.events[-1][1] + data)
        else:
            self.events.append(("body", data))

    def on_message_complete(self, trailers: list[bytes] | None) -> None:
        self.events.append(("done", tuple(trailers or ())))

    def on_upgrade(self, rest: bytes) -> bool:
        self.events.append(("upgrade", rest))
        return self.take_upgrade


def run(chunks: list[bytes], request: bool = True, eof: bool = False, **kw: Any) -> list[Any]:
    rec = Recorder()
    eng = Engine(rec, request=request, **kw)
    try:
        for c in chunks:
            eng.feed(c)
        if eof:
            eng.feed_eof()
    except ParseError as err:
        rec.events.append(("error", err.code, err.status))
    # upgrade: 'rest' depends on where the chunk ended; compare what follows the head
    out = []
    for e in rec.events:
        out.append(e)
        if isinstance(e, tuple) and e[0] == "upgrade":
            break
    return out


def splits(data: bytes) -> list[list[bytes]]:
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    for i in range(1, len(data)):
        ways.append([data[:i], data[i:]])
    return ways


CHUNKED = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + (
    b"3\r\nabc\r\n0\r\nT: 1\r\n\r\n"
)
CASES = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    CHUNKED,
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GE T / HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("data", CASES)
def test_same_events_whatever_the_split(data: bytes) -> None:
    expected = run([data])
    for chunks in splits(data):
        assert run(chunks) == expected, chunks


def test_trailing_data_after_a_message_is_the_next_message() -> None:
    one = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
    events = run([one + b"GET /b HTT"])
    assert events[:3] == run([one])
    assert events[3] == "begin"


def versions(events: list[Any]) -> list[str]:
    return [e[3] for e in events if isinstance(e, tuple) and e[0] == "head"]


@pytest.mark.parametrize(
    "chunks",
    [
        # pipelined in one chunk: only the first message starts the chunk
        [
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
        ],
        # a body ending in the chunk that starts the next message, shaped like a
        # request line where that message's version would be read
        [
            b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n",
            b"GET / HTTP/1.1\r\nyyyyGET / HTTP/1.0\r\n\r\n",
        ],
        [b"\r\nGET / HTTP/1.0\r\n\r\n"],
    ],
)
def test_each_message_has_its_own_version(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    expected = versions(run([data[i : i + 1] for i in range(len(data))]))
    assert "1.0" in expected
    assert versions(run(chunks)) == versions(run([data])) == expected


def test_response_versions() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.0 204 No\r\n\r\n"
    assert versions(run([data], request=False)) == ["1.1", "1.0"]
    assert versions(run([b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"], request=False)) == [
        "1.0"
    ]


def test_request_events() -> None:
    data = CHUNKED
    assert run([data]) == [
        "begin",
        (
            "head",
            "POST",
            "/c",
            "1.1",
            (b"Host", b"a", b"Transfer-Encoding", b"chunked"),
            True,
            False,
            0,
            "",
        ),
        ("body", b"abc"),
        ("done", (b"T", b"1")),
    ]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GET / HTTP/1.1\nHost: a\n\n", "HPE_STRICT"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "HPE_INVALID_HEADER_TOKEN"),
        (b"GE T / HTTP/1.1\r\n\r\n", "HPE_INVALID_METHOD"),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HPE_UNEXPECTED_CONTENT_LENGTH",
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "HPE_INVALID_CONTENT_LENGTH"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HPE_INVALID_CHUNK_SIZE"),
        (b"GET / HTTP/1.1\r\nX\x01: b\r\n\r\n", "HPE_INVALID_HEADER_TOKEN"),
    ],
)
def test_rejections_carry_node_codes(data: bytes, code: str) -> None:
    assert run([data])[-1] == ("error", code, 400)


def test_head_over_max_header_size_is_431() -> None:
    data = b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    assert run([data])[-1] == ("error", "HPE_HEADER_OVERFLOW", 431)
    assert run([data], max_header_size=32768)[-1][0] == "done"


def test_head_that_never_ends_is_cut_off() -> None:
    rec = Recorder()
    eng = Engine(rec)
    eng.feed(b"GET / HTTP/1.1\r\nX: ")
    with pytest.raises(ParseError) as info:
        for _ in range(100):
            eng.feed(b"a" * 8192)
    assert info.value.status == 431


def test_too_many_headers_is_431() -> None:
    data = b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(11)) + b"\r\n"
    assert run([data], max_headers_count=10)[-1] == ("error", "HPE_HEADER_OVERFLOW", 431)
    assert run([data], max_headers_count=11)[-1][0] == "done"


def test_upgrade_hands_over_the_rest() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\nRAW"
    rec = Recorder()
    Engine(rec).feed(data)
    assert rec.events[-1] == ("upgrade", b"RAW")
    rec = Recorder(take_upgrade=False)
    Engine(rec).feed(data[:-3] + b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert rec.events[-3:-1] == [
        "begin",
        ("head", "GET", "/2", "1.1", (b"Host", b"a"), True, False, 0, ""),
    ]


def test_response_close_delimited_body_ends_at_eof() -> None:
    data = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    for chunks in splits(data):
        events = run(chunks, request=False, eof=True)
        assert events[-2:] == [("body", b"all of it"), ("done", ())]


def test_response_cut_short_is_an_error() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"
    assert run([data], request=False, eof=True)[-1] == ("error", "HPE_INVALID_EOF_STATE", 400)


def test_head_only_response_then_next_response() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    for chunks in splits(data):
        rec = Recorder()
        eng = Engine(rec, request=False)
        eng.expect_head_only()
        for c in chunks:
            eng.feed(c)
        codes = [e[7] for e in rec.events if isinstance(e, tuple) and e[0] == "head"]
        assert codes == [200, 201]
        assert rec.events[-2:] == [("body", b"ok"), ("done", ())]


def test_connect_response_hands_over_the_tunnel() -> None:
    rec = Recorder()
    eng = Engine(rec, request=False)
    eng.expect_head_only(connect=True)
    eng.feed(b"HTTP/1.1 200 Connection Established\r\n\r\ntunnel bytes")
    assert rec.events[-2:] == [("done", ()), ("upgrade", b"tunnel bytes")]


@given(st.binary(max_size=300))
def test_fuzz_accepts_or_raises_parse_error(data: bytes) -> None:
    whole = run([data])
    assert run([data[i : i + 1] for i in range(len(data))]) == whole
