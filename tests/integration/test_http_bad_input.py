"""Bad input on raw sockets: the right answer, the connection closed, the handler never
called, and a good client served afterwards (DESIGN.md: bad input never hurts).

Every test here runs on uvloop and on plain asyncio (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio

import pytest
from tests.helpers import next_event, wait_for
from tests.integration.http_util import Raw, get_ok, serve, shut

from nodish import http

HOST = b"Host: x\r\n"

BAD_400 = {
    # (a bare "GET /" line is HTTP/0.9, which Node serves: see test_http_odd_urls)
    "malformed request line": b"GET / HTTP/1.1 x\r\n" + HOST + b"\r\n",
    "request line without a target": b"GET\r\n\r\n",
    "bad method": b"G(T / HTTP/1.1\r\n" + HOST + b"\r\n",
    "bad version": b"GET / HTTP/9.x\r\n" + HOST + b"\r\n",
    "malformed header": b"GET / HTTP/1.1\r\n" + HOST + b"no colon here\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
    "obs-fold": b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\r\n  folded\r\n\r\n",
    "CL and TE": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate CL": b"POST / HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
    "invalid CL": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3a\r\n\r\nabc",
    "negative CL": b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n",
    "invalid header name char": b"GET / HTTP/1.1\r\n" + HOST + b"X(A): 1\r\n\r\n",
    "invalid header value char": b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\x01b\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\n" + HOST + b"X-A : 1\r\n\r\n",
    "missing Host on 1.1": b"GET / HTTP/1.1\r\n\r\n",
    "NUL in URL": b"GET /\x00 HTTP/1.1\r\n" + HOST + b"\r\n",
}


async def answer_of(port: int, data: bytes) -> bytes:
    c = await Raw.open(port)
    c.send(data)
    return await c.closed()


def counting_server_handler(calls: list):
    def handler(req, res):
        calls.append(req.url)
        res.end("ok")

    return handler


@pytest.mark.parametrize("name", sorted(BAD_400))
async def test_bad_request_gets_400_and_server_keeps_serving(name: str) -> None:
    calls: list = []
    server = await serve(counting_server_handler(calls))
    port = server.address().port
    answer = await answer_of(port, BAD_400[name])
    assert answer == b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n", name
    assert calls == []
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_bad_chunk_size_mid_body_is_400_and_an_error_on_the_request() -> None:
    # The head was valid, so the request reached its handler (as in Node); the body
    # never completes: the handler's request gets the parse error, never 'end'.
    seen: list = []
    errored = asyncio.get_running_loop().create_future()

    def handler(req, res):
        if req.url != "/chunks":
            res.end("ok")
            return
        req.on("end", lambda: seen.append("end"))
        req.on("error", errored.set_result)

    server = await serve(handler)
    port = server.address().port
    c = await Raw.open(port)
    c.send(b"POST /chunks HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n")
    await wait_for(next_event(server, "request"))
    c.send(b"3\r\nabc\r\nxyz\r\n")
    assert await c.closed() == b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
    assert (await wait_for(errored)).code == "HPE_INVALID_CHUNK_SIZE"
    assert seen == []
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_head_over_max_header_size_gets_431() -> None:
    calls: list = []
    server = await serve(counting_server_handler(calls))
    port = server.address().port
    big = b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n"
    answer = await answer_of(port, big)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    # a head that never ends is cut off too, without waiting for its end
    c = await Raw.open(port)
    c.send(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 200_000)
    assert (await c.closed()).startswith(b"HTTP/1.1 431 ")
    assert calls == []
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_max_header_size_option() -> None:
    server = await serve(counting_server_handler([]), max_header_size=32768)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n")
    assert (await c.response())[0] == 200
    c.close()
    await shut(server)


async def test_too_many_headers_gets_431() -> None:
    calls: list = []
    server = await serve(counting_server_handler(calls), max_headers_count=10)
    port = server.address().port
    many = b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: v\r\n" % i for i in range(20)) + b"\r\n"
    answer = await answer_of(port, many)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert calls == []
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_slowloris_head_gets_408() -> None:
    calls: list = []
    server = await serve(counting_server_handler(calls), headers_timeout=0.3, request_timeout=1)
    port = server.address().port
    c = await Raw.open(port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    answer = await c.closed()
    assert answer == b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
    assert calls == []
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_silent_connections_each_get_408_when_their_head_is_due() -> None:
    # The connections' first deadlines share one server timer: each silent connection
    # gets its 408, one that left early is forgotten, and one accepted after
    # headers_timeout was lowered (its deadline before the others') is answered first.
    server = await serve(counting_server_handler([]), headers_timeout=1.0)
    port = server.address().port
    raws = []
    for _ in range(3):
        accepted = next_event(server, "connection")
        raws.append(await Raw.open(port))
        await wait_for(accepted)
    raws.pop(0).close()
    server.headers_timeout = 0.1
    accepted = next_event(server, "connection")
    raws.append(await Raw.open(port))
    await wait_for(accepted)
    order: list[int] = []

    async def answer(i: int) -> bytes:
        data = await raws[i].closed()
        order.append(i)
        return data

    answers = await asyncio.gather(*(answer(i) for i in range(3)))
    assert answers == [b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"] * 3
    assert order[0] == 2
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_body_not_complete_within_request_timeout_is_408_and_an_error() -> None:
    seen: list = []
    errored = asyncio.get_running_loop().create_future()

    def handler(req, res):
        if req.url != "/slow":
            res.end("ok")
            return
        req.on("data", lambda d: seen.append(("data", d)))
        req.on("end", lambda: seen.append("end"))
        req.on("aborted", lambda: seen.append("aborted"))
        req.on("error", lambda e: errored.set_result(e))

    server = await serve(handler, headers_timeout=0.2, request_timeout=0.4)
    port = server.address().port
    c = await Raw.open(port)
    c.send(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
    answer = await c.closed()
    assert answer == b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
    err = await wait_for(errored)
    assert err.code == "ERR_HTTP_REQUEST_TIMEOUT"
    assert "end" not in seen and "aborted" in seen
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_client_disconnect_mid_body_aborts_the_request() -> None:
    seen: list = []
    closed = asyncio.get_running_loop().create_future()

    def handler(req, res):
        if req.url != "/upload":
            res.end("ok")
            return
        req.on("data", lambda d: seen.append("data"))
        req.on("end", lambda: seen.append("end"))
        req.on("aborted", lambda: seen.append("aborted"))
        req.on("error", lambda e: seen.append(e.code))
        req.on("close", lambda: closed.set_result(None))

    server = await serve(handler)
    port = server.address().port
    c = await Raw.open(port)
    c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsome")
    await wait_for(next_event(server, "request"))
    c.writer.transport.abort()
    await wait_for(closed)
    assert "end" not in seen and "aborted" in seen and "ECONNRESET" in seen
    assert (await get_ok(port))[2] == b"ok"
    await shut(server)


async def test_client_error_listener_writes_its_own_answer() -> None:
    got = asyncio.get_running_loop().create_future()

    def on_client_error(err, socket):
        got.set_result((err.code, err.status if hasattr(err, "status") else None))
        socket.end(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope")

    server = await serve(counting_server_handler([]))
    server.on("clientError", on_client_error)
    answer = await answer_of(server.address().port, b"GET / HTTP/1.1\nHost: x\n\n")
    assert answer.endswith(b"nope")
    assert await wait_for(got) == ("HPE_STRICT", 400)
    await shut(server)


async def test_keep_alive_timeout_closes_idle_connection() -> None:
    server = await serve(counting_server_handler([]), keep_alive_timeout=0.2)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, _ = await c.response()
    assert headers["keep-alive"] == "timeout=0"
    assert await c.closed() == b""  # closed by the server, nothing more sent
    await shut(server)


async def test_max_requests_per_socket() -> None:
    dropped: list = []
    server = await serve(counting_server_handler([]), max_requests_per_socket=2)
    server.on("dropRequest", lambda req, sock: dropped.append(req.url))
    c = await Raw.open(server.address().port)
    c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
    _, h1, _ = await c.response()
    c.send(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    _, h2, _ = await c.response()
    assert h1["keep-alive"] == "timeout=5, max=2" and h2["connection"] == "close"
    assert await c.closed() == b""
    c = await Raw.open(server.address().port)
    c.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in (1, 2, 3)))
    rest = await c.closed()
    assert rest.count(b"HTTP/1.1 200 OK") == 2 and dropped in ([], ["/3"])
    await shut(server)


async def test_server_timeout_event() -> None:
    server = await serve(lambda req, res: None)
    server.set_timeout(0.2)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    (sock,) = await wait_for(next_event(server, "timeout"))
    sock.destroy()
    await c.closed()
    await shut(server)


def test_option_errors() -> None:
    with pytest.raises(ValueError) as info:
        http.create_server(headers_timeout=-1)
    assert info.value.code == "ERR_OUT_OF_RANGE"
    with pytest.raises(TypeError):
        http.create_server("not callable")


async def test_insecure_http_parser_accepts_what_strict_mode_rejects() -> None:
    calls: list = []
    server = await serve(counting_server_handler(calls), insecure_http_parser=True)
    port = server.address().port
    for bad in (BAD_400["obs-fold"], BAD_400["invalid header value char"]):
        c = await Raw.open(port)
        c.send(bad)
        assert (await c.response())[0] == 200
        c.close()
    assert len(calls) == 2
    await shut(server)
