"""llhttp's own fixtures replayed against nodish (the corpus in ../shared/corpora/llhttp).

Strict request cases go to a nodish server on a raw socket: a case llhttp rejects must
get 400/431 and a closed connection, and never reach a handler as a complete request
(a valid head followed by a broken body reaches it, as in Node, but its request errs
and never ends); a case llhttp accepts must reach the handler intact (method, URL,
headers, body). Strict response cases are served from a raw socket to the nodish
client: the first response must parse as llhttp says, or fail with a parse error
where llhttp fails before its end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.helpers import DEFAULT_TIMEOUT, until, wait_event
from tests.integration.http_util import Raw, shut

from nodish import http, net
from nodish.stream import consumers

CORPUS = Path(
    os.environ.get(
        "NODISH_LLHTTP_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpora/llhttp"
    )
)
if not CORPUS.is_dir():  # the worktree layout: /work/<checkout>/tests/interop
    CORPUS = Path("/work/shared/corpora/llhttp")

_ESC = re.compile(r"\\(r|n|t|f|x[0-9a-fA-F]{2})")


def _unescape_wire(text: str) -> bytes:
    def sub(m: re.Match[str]) -> str:
        c = m.group(1)
        return {"r": "\r", "n": "\n", "t": "\t", "f": "\f"}.get(c) or chr(int(c[1:], 16))

    return _ESC.sub(sub, text).encode("utf-8")


def _unescape_log(text: str) -> bytes:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "x":
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append({"r": "\r", "n": "\n", "t": "\t", "f": "\f"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out).encode("utf-8")


@dataclass
class Message:
    method: bytes = b""
    url: bytes = b""
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    head_done: bool = False
    complete: bool = False


@dataclass
class Case:
    name: str
    kind: str
    wire: bytes
    messages: list[Message]
    error: str | None


_SPAN = re.compile(r'^off=\d+ len=\d+ span\[(\w+)\]=(?:"(.*)"|(cr|lf))$', re.S)


_BARE = {"cr": b"\r", "lf": b"\n"}


def parse_log(lines: list[str]) -> tuple[list[Message], str | None]:
    msgs: list[Message] = []
    field_ = value = b""
    in_value = False
    for line in lines:
        m = _SPAN.match(line)
        if m:
            kind = m.group(1)
            data = _unescape_log(m.group(2)) if m.group(3) is None else _BARE[m.group(3)]
            msg = msgs[-1]
            if kind == "method":
                msg.method += data
            elif kind == "url":
                msg.url += data
            elif kind == "header_field":
                if in_value:
                    in_value = False
                field_ += data
            elif kind == "header_value":
                in_value = True
                value += data
            elif kind == "body":
                msg.body += data
            continue
        rest = line.split(" ", 1)[1] if " " in line else ""
        if rest == "message begin":
            msgs.append(Message())
        elif rest == "header_value complete":
            if not msgs[-1].head_done:
                msgs[-1].headers.append((field_, value))
            field_ = value = b""
            in_value = False
        elif rest.startswith("headers complete"):
            msgs[-1].head_done = True
            st = re.search(r"status=(\d+)", rest)
            if st:
                msgs[-1].status = int(st.group(1))
        elif rest == "message complete":
            msgs[-1].complete = True
        elif rest.startswith("error "):
            reason = re.search(r'reason="(.*)"', rest)
            return msgs, reason.group(1) if reason else rest
    return msgs, None


def load(kind: str) -> list[Case]:
    cases: list[Case] = []
    for path in sorted((CORPUS / kind).glob("*.md")):
        text = path.read_text()
        title = ""
        for block in re.split(r"\n(?=#+ )", text):
            head = block.split("\n", 1)[0]
            if head.startswith("#"):
                title = head.lstrip("# ").strip()
            meta = re.search(r"<!-- meta=(\{.*?\}) -->", block)
            wire = re.search(r"```http\n(.*?)\n```", block, re.S)
            log = re.search(r"```log\n(.*?)\n```", block, re.S)
            if not (meta and wire and log):
                continue
            info = json.loads(meta.group(1))
            if info.get("type") != kind or info.get("skipBody"):
                continue
            # a line ending in a backslash continues without a line break
            text = wire.group(1).replace("\\\n", "").replace('\\"', '"')
            raw = _unescape_wire(text.replace("\n", "\r\n"))
            # a span may hold a raw line break: entries start with "off="
            msgs, error = parse_log(re.split(r"\n(?=off=)", log.group(1)))
            cases.append(Case(f"{path.stem}: {title}", info["type"], raw, msgs, error))
    return cases


REQUESTS = load("request")
RESPONSES = load("response")


def test_the_corpus_is_there() -> None:
    assert len(REQUESTS) > 80 and len(RESPONSES) > 40


def _norm_headers(pairs: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(n, v.rstrip(b" \t")) for n, v in pairs]


async def replay_request(case: Case) -> None:
    got: list[dict] = []
    ended: list[bool] = []

    def record(req, res=None, *upgrade):
        entry = {
            "method": req.method.encode("latin-1"),
            "url": req.url.encode("latin-1"),
            "headers": [
                (req.raw_headers[i].encode("latin-1"), req.raw_headers[i + 1].encode("latin-1"))
                for i in range(0, len(req.raw_headers), 2)
            ],
            "body": b"",
            "ended": False,
            "upgrade": False,
        }
        got.append(entry)
        if not isinstance(res, http.ServerResponse):
            entry["ended"] = entry["upgrade"] = True  # 'upgrade' / 'connect': handed over
            if res is not None:
                res.destroy()
            return
        req.on("data", lambda d: entry.__setitem__("body", entry["body"] + d))
        req.on("error", lambda e: None)

        def on_end():
            entry["ended"] = True
            ended.append(True)
            res.end("ok")

        req.on("end", on_end)

    server = http.create_server(record, require_host_header=False)
    server.on("upgrade", record)
    server.on("connect", record)
    server.on(
        "clientError",
        lambda err, sock: sock.end(
            b"HTTP/1.1 %d x\r\nConnection: close\r\n\r\n" % getattr(err, "status", 400)
        ),
    )
    await server.listen(0, "127.0.0.1")
    c = await Raw.open(server.address().port)
    c.send(case.wire)
    try:
        # valid cases: wait until every complete message was handled
        if case.error is None or case.error.startswith("Pause"):
            want = sum(1 for m in case.messages if m.complete)
            await until(lambda: sum(1 for g in got if g["ended"]) >= want)
            for msg, entry in zip([m for m in case.messages if m.complete], got, strict=False):
                assert entry["method"] == msg.method, case.name
                assert entry["url"] == msg.url, case.name
                assert _norm_headers(entry["headers"]) == _norm_headers(msg.headers), case.name
                if not entry["upgrade"]:
                    assert entry["body"] == msg.body, case.name
        else:
            answer = await c.closed()
            assert re.search(rb"HTTP/1.1 (400|431) ", answer), (case.name, answer)
            complete_before = sum(1 for m in case.messages if m.complete)
            finished = [g for g in got if g["ended"]]
            assert len(finished) <= complete_before, (case.name, got)
            for msg, entry in zip([m for m in case.messages if m.complete], finished, strict=False):
                assert entry["url"] == msg.url, case.name
    finally:
        c.close()
        await shut(server)


@pytest.mark.parametrize("case", REQUESTS, ids=[c.name for c in REQUESTS])
async def test_request_case(case: Case) -> None:
    await replay_request(case)


async def replay_response(case: Case) -> None:
    def on_conn(sock):
        sock.once("data", lambda _d: sock.end(case.wire))
        sock.on("error", lambda e: None)

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    try:
        req = http.request(f"http://127.0.0.1:{server.address().port}/", agent=False)
        # the final response (1xx are 'information' on the client)
        first = next((m for m in case.messages if m.status >= 200 or not m.head_done), None)
        if first is None or not first.head_done:
            assert case.error is not None, case.name
            req.end()
            (err,) = await wait_event(req, "error", error_rejects=False)
            assert str(getattr(err, "code", "")).startswith("HPE_"), (case.name, err)
            return
        res = await req
        assert res.status_code == first.status, case.name
        pairs = [
            (res.raw_headers[i].encode("latin-1"), res.raw_headers[i + 1].encode("latin-1"))
            for i in range(0, len(res.raw_headers), 2)
        ]
        assert _norm_headers(pairs) == _norm_headers(first.headers), case.name
        names = {n.lower() for n, _v in first.headers}
        close_delimited = (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and first.status not in (204, 304)
            and case.error is None
        )
        if first.complete or close_delimited:  # llhttp's log stops before the EOF
            body = await asyncio.wait_for(consumers.buffer(res), DEFAULT_TIMEOUT)
            assert body == first.body, case.name
        else:
            # cut short (by an error, or by the end of the input): never a complete body
            with pytest.raises(Exception) as info:
                await asyncio.wait_for(consumers.buffer(res), DEFAULT_TIMEOUT)
            assert not isinstance(info.value, asyncio.TimeoutError), case.name
    finally:
        server.close()
        await wait_event(server, "close")


UPGRADES = {c.name for c in RESPONSES if any(m.status == 101 for m in c.messages)}


@pytest.mark.parametrize(
    "case",
    [c for c in RESPONSES if c.name not in UPGRADES],
    ids=[c.name for c in RESPONSES if c.name not in UPGRADES],
)
async def test_response_case(case: Case) -> None:
    await replay_response(case)
