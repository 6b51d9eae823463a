"""Odd request lines and URLs, with Node as the oracle.

Server side: the same raw request lines (non-ASCII bytes in the path, absolute-form,
``OPTIONS *``, ``%`` escapes, a long URL, HTTP/0.9 and HTTP/2.0 versions ...) go to a
Node ``http`` server and to a nodish one over a raw socket; the answers (status, headers
but the date, what the handler saw as ``method`` and ``url``, whether the connection
stayed open) must be the same.

Client side: URLs a careless caller passes to ``http.get`` (non-ASCII characters,
spaces, quotes, dot segments, backslashes, a fragment) must reach the server as Node's
client sends them (the WHATWG URL parser's percent-encoding), and the same ``path``
options must be refused with ``ERR_UNESCAPED_CHARACTERS``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.helpers import NodeProcess, wait_for
from tests.integration.http_util import serve, shut

from nodish import http

NODE_SERVER = r"""
const http = require('http');
const server = http.createServer((req, res) => {
  res.end(JSON.stringify({method: req.method, url: req.url}));
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify(server.address().port)));
process.stdin.on('end', () => process.exit(0)).resume();
"""

REQUEST_LINES = {
    "utf-8 path": b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    "latin-1 path": b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
    "utf-8 query": b"GET /?q=\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute-form": b"GET http://host/x?y=1 HTTP/1.1\r\nHost: host\r\n\r\n",
    "absolute-form ipv6": b"GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "percent escapes": b"GET /a%20b%zz%C3%A9%%41 HTTP/1.1\r\nHost: x\r\n\r\n",
    "fragment": b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n",
    "dot segments": b"GET //a/../b/./c HTTP/1.1\r\nHost: x\r\n\r\n",
    "long url": b"GET /" + b"a" * 15000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "url over max_header_size": b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "space in path": b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
    "tab in path": b"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
    "DEL in path": b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n",
    "two spaces": b"GET  /x HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9 line then headers": b"GET /\r\nHost: x\r\n\r\n",
    "no slash": b"GET a HTTP/1.1\r\nHost: x\r\n\r\n",
    "lower-case method": b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
    "leading CRLF": b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9 line": b"GET /\r\n\r\n",
    "HTTP/2.0 version": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "HTTP/1.0 without Host": b"GET / HTTP/1.0\r\n\r\n",
    "non-ASCII header value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \xc3\xa9\r\n\r\n",
}


def handler(req: Any, res: Any) -> None:
    """What Node's server above answers: the method and url the handler saw."""
    res.end(json.dumps({"method": req.method, "url": req.url}, separators=(",", ":")))


_NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


async def _read_to_eof(reader: asyncio.StreamReader) -> bytes:
    data = b""
    try:
        while chunk := await wait_for(reader.read(65536)):
            data += chunk
    except ConnectionResetError:
        pass
    return data


async def exchange(port: int, raw: bytes) -> tuple[Any, ...]:
    """Send ``raw``; return what came back, and whether the connection served another
    request afterwards (a second request, never a timeout, tells)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await wait_for(reader.read(65536))
            if not chunk:
                return ("closed without an answer", data)
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines)
        headers.pop("date", None)
        kept = False
        if "content-length" in headers:
            size = int(headers["content-length"])
            while len(body) < size:
                chunk = await wait_for(reader.read(65536))
                assert chunk, "closed in the body"
                body += chunk
            writer.write(_NEXT)
            kept = b'"/next"' in await _read_to_eof(reader)
        else:
            body += await _read_to_eof(reader)
        seen = json.loads(body) if body.startswith(b"{") else body
        return status, headers, seen, kept
    finally:
        writer.close()


async def test_odd_request_lines_are_answered_as_node_answers_them() -> None:
    node = await NodeProcess.start(NODE_SERVER)
    node_port = await node.message()

    server = await serve(handler)
    port = server.address().port
    try:
        for name, raw in REQUEST_LINES.items():
            expected = await exchange(node_port, raw)
            got = await exchange(port, raw)
            assert got == expected, name
        # every bad line dropped only its own connection
        assert (await exchange(port, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"))[2]["url"] == "/ok"
    finally:
        assert node.proc.stdin is not None
        node.proc.stdin.close()
        await node.finish()
        await shut(server)


URLS = [
    "{base}/é?q=é#frag",
    "{base}/café/€?euro=€&x=1",
    "{base}/a b?c d",
    "{base}/a/../b/./c/..",
    "{base}/a/%2e%2E/b",
    "{base}//x/.",
    "{base}",
    "{base}?",
    "{base}/?a='b'&c=\"d\"",
    "{base}/<>`{{}}|^",
    "{base}/a%zz%41",
    "{base}\\a\\b?c\\d",
    " {base}/trimmed ",
    "{base}/a\tb\nc",
    "{base}/\x01\x7f",
]

PATHS = ["/é", "/€", "/a b", "/a\x01", "/a\x7f", "/tab\t", "*", "http://h/x"]

NODE_CLIENT = r"""
const http = require('http');
const [urls, paths, port] = JSON.parse(process.argv[1]);
function get(arg) {
  return new Promise((resolve) => {
    let req;
    try {
      req = http.get(arg, (res) => {
        let body = '';
        res.on('data', (d) => body += d);
        res.on('end', () => resolve([res.statusCode, body]));
      });
    } catch (e) { return resolve(['throws', e.code]); }
    req.on('error', (e) => resolve(['error', e.code]));
  });
}
(async () => {
  const out = {urls: [], paths: []};
  for (const u of urls) out.urls.push(await get(u));
  for (const path of paths) out.paths.push(await get({host: '127.0.0.1', port, path}));
  console.log(JSON.stringify(out));
})();
"""


async def _nodish_get(arg: Any, **options: Any) -> list[Any]:
    try:
        req = http.get(arg, **options)
    except Exception as exc:
        return ["throws", getattr(exc, "code", repr(exc))]
    try:
        res = await wait_for(req)
    except Exception as exc:
        return ["error", getattr(exc, "code", repr(exc))]
    body = b"".join([chunk async for chunk in res])
    return [res.status_code, body.decode()]


@pytest.mark.parametrize("agent", ["global", "no-keep-alive"])
async def test_client_urls_reach_the_server_as_nodes_client_sends_them(agent: str) -> None:
    server = await serve(handler)
    port = server.address().port
    urls = [u.format(base=f"http://127.0.0.1:{port}") for u in URLS]
    node = await NodeProcess.start(NODE_CLIENT, json.dumps([urls, PATHS, port]))
    expected = await node.message()
    assert await node.finish() == 0
    opts: dict[str, Any] = {} if agent == "global" else {"agent": False}
    got = {
        "urls": [await _nodish_get(u, **opts) for u in urls],
        "paths": [await _nodish_get(None, host="127.0.0.1", port=port, path=p) for p in PATHS],
    }
    await shut(server)
    assert got["urls"] == expected["urls"]
    assert got["paths"] == expected["paths"]
    # the non-ASCII URL is served, percent-encoded as UTF-8, never an empty answer
    status, body = got["urls"][0]
    assert (status, json.loads(body)["url"]) == (200, "/%C3%A9?q=%C3%A9")
