"""http.Server over real loopback sockets, driven by a raw client (bytes in, bytes out).

Every test here runs on uvloop and on plain asyncio (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import sys
from typing import Any

import pytest
from tests.helpers import next_event, until, wait_event, wait_for
from tests.integration.http_util import Raw, get_ok, serve, shut

from nodish import errors
from nodish.stream import consumers


def hello(req, res) -> None:
    res.write_head(200, {"Content-Type": "text/plain"})
    res.end("hello\n")


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    server = await serve(hello)
    c = await Raw.open(server.address().port)
    for _ in range(3):
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = await c.response()
        assert status == 200 and body == b"hello\n"
        assert headers["connection"] == "keep-alive"
        assert headers["keep-alive"] == "timeout=5"
        assert headers["transfer-encoding"] == "chunked"  # as Node: write_head then end
        assert "date" in headers
    c.close()
    await shut(server)


async def test_end_with_whole_body_sets_content_length() -> None:
    server = await serve(lambda req, res: res.end(b"abc"))
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await c.response()
    assert (status, headers["content-length"], body) == (200, "3", b"abc")
    assert "transfer-encoding" not in headers
    c.close()
    await shut(server)


async def test_http10_without_keep_alive_is_close_delimited() -> None:
    server = await serve(hello)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    data = await c.closed()
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Connection: close" in head and b"Transfer-Encoding" not in head
    assert body == b"hello\n"
    await shut(server)


async def test_http10_keep_alive_with_content_length() -> None:
    def handler(req, res):
        res.set_header("Content-Length", 2)
        res.end("ok")

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    for _ in range(2):
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        _status, headers, body = await c.response()
        assert headers["connection"] == "keep-alive" and body == b"ok"
    c.close()
    await shut(server)


async def test_no_body_for_head_204_304() -> None:
    def handler(req, res):
        code = int(req.url[1:]) if req.url != "/" else 200
        res.status_code = code
        res.write("ignored body")
        res.end()

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\n")
    c.send(b"GET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /200 HTTP/1.1\r\nHost: x\r\n\r\n")
    s1, _h1, _b1 = await c.response(head_only=True)
    s2, h2, _b2 = await c.response()
    s3, h3, _b3 = await c.response()
    s4, _h4, b4 = await c.response()
    assert (s1, s2, s3) == (200, 204, 304)
    assert "transfer-encoding" not in h2 and "content-length" not in h3
    assert (s4, b4) == (200, b"ignored body")  # the stream stayed in sync
    c.close()
    await shut(server)


async def test_request_body_streams_and_consumers_read_it() -> None:
    got: list = []

    async def handler(req, res):
        got.append(await consumers.json(req))
        res.end("done")

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{"a": 12}')
    status, _, body = await c.response()
    assert (status, body, got) == (200, b"done", [{"a": 12}])
    c.close()
    await shut(server)


async def test_chunked_request_body_and_trailers() -> None:
    seen: dict = {}

    def handler(req, res):
        chunks: list[bytes] = []
        req.on("data", chunks.append)

        def on_end():
            seen.update(body=b"".join(chunks), trailers=req.trailers, complete=req.complete)
            res.add_trailers({"X-Sum": "ok"})
            res.write("a")
            res.end("b")

        req.on("end", on_end)

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    c.send(b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Check: 7\r\n\r\n")
    _status, headers, body = await c.response()
    assert body == b"ab" and headers["__trailers__"] == "X-Sum: ok"
    assert seen == {"body": b"abcde", "trailers": {"x-check": "7"}, "complete": True}
    c.close()
    await shut(server)


async def test_async_iteration_over_request() -> None:
    async def handler(req, res):
        total = b""
        async for chunk in req:
            total += chunk
        res.end(str(len(total)))

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    body = b"x" * 100_000
    c.send(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    _, _, out = await c.response()
    assert out == b"100000"
    c.close()
    await shut(server)


async def test_pipelined_requests_are_answered_in_order() -> None:
    async def handler(req, res):
        if req.url == "/slow":
            await asyncio.sleep(0.05)
        res.end(req.url)

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    bodies = [(await c.response())[2] for _ in range(3)]
    assert bodies == [b"/slow", b"/fast", b"/last"]
    c.close()
    await shut(server)


async def test_unread_body_is_dumped_and_keep_alive_goes_on() -> None:
    server = await serve(lambda req, res: res.end("ignored your body"))
    c = await Raw.open(server.address().port)
    body = b"z" * 50_000
    for _ in range(2):
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status, headers, _ = await c.response()
        assert status == 200 and headers["connection"] == "keep-alive"
    c.close()
    await shut(server)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_handler_that_raises_gets_500_and_server_keeps_serving(kind: str) -> None:
    def sync_handler(req, res):
        if req.url == "/boom":
            raise RuntimeError("boom")
        hello(req, res)

    async def async_handler(req, res):
        await asyncio.sleep(0)
        sync_handler(req, res)

    server = await serve(sync_handler if kind == "sync" else async_handler)
    import logging

    logging.getLogger("nodish").disabled = True
    try:
        status, _headers, _ = await get_ok(server.address().port, "/boom")
        assert status == 500
        status, _, body = await get_ok(server.address().port)
        assert (status, body) == (200, b"hello\n")
    finally:
        logging.getLogger("nodish").disabled = False
    await shut(server)


async def test_raise_after_head_sent_destroys_connection() -> None:
    import logging

    def handler(req, res):
        if req.url == "/half":
            res.write("partial")
            raise RuntimeError("late")
        hello(req, res)

    server = await serve(handler)
    logging.getLogger("nodish").disabled = True
    try:
        c = await Raw.open(server.address().port)
        c.send(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await c.closed()
        assert data.startswith(b"HTTP/1.1 200 OK") and not data.endswith(b"0\r\n\r\n")
        assert (await get_ok(server.address().port))[0] == 200
    finally:
        logging.getLogger("nodish").disabled = False
    await shut(server)


async def test_user_argument_errors_raise_node_codes() -> None:
    caught: dict[str, str] = {}
    done = asyncio.get_running_loop().create_future()

    def handler(req, res):
        for label, fn in [
            ("bad_name", lambda: res.set_header("Bad Name", "x")),
            ("bad_value", lambda: res.set_header("X-A", "a\r\nb")),
            ("none_value", lambda: res.set_header("X-A", None)),
            ("status_low", lambda: res.write_head(99)),
            ("status_high", lambda: res.write_head(1000)),
        ]:
            try:
                fn()
            except errors.NodeError as exc:
                caught[label] = exc.code
        res.end("x")
        for label, fn in [
            ("after_sent", lambda: res.set_header("X-A", "1")),
            ("write_after_end", lambda: res.write("more")),
        ]:
            try:
                fn()
            except errors.NodeError as exc:
                caught[label] = exc.code
        done.set_result(None)

    server = await serve(handler)
    assert (await get_ok(server.address().port))[0] == 200
    await wait_for(done)
    assert caught == {
        "bad_name": "ERR_INVALID_HTTP_TOKEN",
        "bad_value": "ERR_INVALID_CHAR",
        "none_value": "ERR_HTTP_INVALID_HEADER_VALUE",
        "status_low": "ERR_HTTP_INVALID_STATUS_CODE",
        "status_high": "ERR_HTTP_INVALID_STATUS_CODE",
        "after_sent": "ERR_HTTP_HEADERS_SENT",
        "write_after_end": "ERR_STREAM_WRITE_AFTER_END",
    }
    await shut(server)


async def test_header_api() -> None:
    result: dict = {}

    def handler(req, res):
        res.set_header("X-One", "1")
        res.set_header("Set-Cookie", ["a=1", "b=2"])
        res.append_header("X-One", "2")
        result["names"] = res.get_header_names()
        result["one"] = res.get_header("x-one")
        result["has"] = res.has_header("SET-COOKIE")
        res.remove_header("x-one")
        result["headers"] = res.get_headers()
        result["req"] = (req.method, req.url, req.http_version, req.headers, req.raw_headers)
        res.end()

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(
        b"GET /p?q=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: b=2\r\nX-D: 1\r\nX-D: 2\r\n\r\n"
    )
    _, headers, _ = await c.response()
    assert result["names"] == ["x-one", "set-cookie"]
    assert result["one"] == ["1", "2"] and result["has"] is True
    assert result["headers"] == {"set-cookie": ["a=1", "b=2"]}
    method, url, version, req_headers, raw = result["req"]
    assert (method, url, version) == ("GET", "/p?q=1", "1.1")
    assert req_headers == {"host": "x", "cookie": "a=1; b=2", "x-d": "1, 2"}
    assert raw[:2] == ["Host", "x"]
    assert headers["content-length"] == "0"
    c.close()
    await shut(server)


async def test_upgrade_hands_over_socket_and_head() -> None:
    got = asyncio.get_running_loop().create_future()

    def on_upgrade(req, socket, head):
        got.set_result((req.method, req.headers["upgrade"], head))
        socket.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
        )
        socket.write(head)
        socket.on("data", socket.write)
        socket.on("end", socket.end)  # http sockets are half-open, as in Node

    server = await serve(hello)
    server.on("upgrade", on_upgrade)
    c = await Raw.open(server.address().port)
    c.send(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
    assert await wait_for(got) == ("GET", "echo", b"early")
    status, _, _ = await c.response(head_only=True)
    assert status == 101
    while len(c.buf) < 5:
        await c._more(5)
    c.send(b"later")
    while len(c.buf) < 10:
        await c._more(5)
    assert c.buf == b"earlylater"
    c.close()
    await shut(server)


async def test_upgrade_without_listener_is_a_plain_request() -> None:
    server = await serve(hello)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
    status, _, body = await c.response()
    assert (status, body) == (200, b"hello\n")
    c.close()
    await shut(server)


async def test_connect_event() -> None:
    got = asyncio.get_running_loop().create_future()

    def on_connect(req, socket, head):
        got.set_result((req.url, head))
        socket.end(b"HTTP/1.1 200 Connection Established\r\n\r\ntunnel")

    server = await serve(hello)
    server.on("connect", on_connect)
    c = await Raw.open(server.address().port)
    c.send(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhi")
    assert await wait_for(got) == ("example.com:443", b"hi")
    assert (await c.closed()).endswith(b"\r\n\r\ntunnel")
    await shut(server)


async def test_expect_100_continue_automatic_and_check_continue() -> None:
    server = await serve(lambda req, res: req.pipe(res))
    c = await Raw.open(server.address().port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    status, _, _ = await c.response()
    assert status == 100
    c.send(b"ping")
    status, _, body = await c.response()
    assert (status, body) == (200, b"ping")
    c.close()
    await shut(server)

    def check(req, res):
        res.write_head(403)
        res.end("no")

    server = await serve(hello)
    server.on("checkContinue", check)
    c = await Raw.open(server.address().port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    status, _, body = await c.response()
    assert (status, body) == (403, b"no")
    c.close()
    await shut(server)


async def test_close_closes_idle_keep_alive_connections() -> None:
    server = await serve(hello)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.response()
    closed = next_event(server, "close")
    server.close()
    await wait_for(closed)
    assert await c.closed() == b""


async def test_response_events_and_request_close() -> None:
    order: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def handler(req, res):
        res.on("finish", lambda: order.append("res finish"))
        res.on("close", lambda: (order.append("res close"), done.set_result(None)))
        req.on("end", lambda: order.append("req end"))
        req.on("close", lambda: order.append("req close"))
        res.end("x")
        order.append("end returned")

    server = await serve(handler)
    assert (await get_ok(server.address().port))[0] == 200
    await wait_for(done)
    assert order[0] == "end returned"
    assert order.index("res finish") < order.index("res close")
    await shut(server)


async def test_listeners_added_before_the_stream_is_used_stay() -> None:
    # A message's stream state is set up on its first stream use: the listeners and the
    # listener limit it had by then are kept.
    order: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def handler(req, res):
        req.set_max_listeners(1)
        res.set_max_listeners(2)
        req.on("close", lambda: order.append("req close"))
        res.on("finish", lambda: order.append("res finish"))
        res.on("close", lambda: done.set_result(None))
        req.set_encoding("utf8")  # the request's stream, now
        assert not res.writable_object_mode  # the response's
        order.append(f"limits {req.get_max_listeners()} {res.get_max_listeners()}")
        req.on("data", order.append)
        req.on("end", lambda: res.end("x"))

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody")
    assert (await c.response())[0] == 200
    c.close()
    await wait_for(done)
    assert order[:3] == ["limits 1 2", "body", "res finish"]
    await until(lambda: "req close" in order)
    await shut(server)


async def test_write_backpressure_and_drain() -> None:
    result: dict = {}

    def handler(req, res):
        chunk = b"x" * 65536
        sent = 0

        def pump():
            nonlocal sent
            while sent < 8 * 1024 * 1024:
                sent += len(chunk)
                if not res.write(chunk):
                    result.setdefault("buffered", res.writable_length)
                    res.once("drain", pump)
                    return
            res.end()

        pump()

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await wait_event(server, "request")
    _, _, body = await c.response(timeout=20)
    assert len(body) == 8 * 1024 * 1024
    assert result["buffered"] < 1024 * 1024
    c.close()
    await shut(server)


async def test_strict_content_length() -> None:
    caught: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def handler(req, res):
        res.strict_content_length = True
        res.write_head(200, {"Content-Length": "5"})
        res.write("abc")
        for bad in (lambda: res.write("abc"), lambda: res.end("x")):
            try:
                bad()
            except errors.NodeError as exc:
                caught.append(exc.code)
        res.end("de")
        done.set_result(None)

    server = await serve(handler)
    assert (await get_ok(server.address().port))[2] == b"abcde"
    await wait_for(done)
    assert caught == ["ERR_HTTP_CONTENT_LENGTH_MISMATCH"] * 2
    await shut(server)


async def test_a_headers_dict_changed_between_responses_is_rendered_anew() -> None:
    shared = {"X-Version": "1"}

    def handler(req, res):
        res.write_head(200, shared)
        res.end()

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await c.response())[1]["x-version"] == "1"
    shared["X-Version"] = "2"
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await c.response())[1]["x-version"] == "2"
    shared["Bad Name"] = "x"
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await c.response())[0] == 500  # validated again: ERR_INVALID_HTTP_TOKEN
    c.close()
    await shut(server)


async def test_expectation_other_than_continue() -> None:
    server = await serve(hello)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n")
    assert (await c.response())[0] == 417  # no 'checkExpectation' listener
    assert await c.closed() == b""
    seen = []

    def check(req, res):
        seen.append(req.headers["expect"])
        res.write_head(202)
        res.end()

    server.on("checkExpectation", check)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n")
    assert (await c.response())[0] == 202 and seen == ["teapot"]
    c.close()
    await shut(server)


async def test_connection_close_request_body_in_a_later_packet_is_read() -> None:
    # RFC 9112 9.6 stops reading after the request that said Connection: close, not after
    # its head: the body still belongs to it (urllib always sends Connection: close).
    async def handler(req, res) -> None:
        body = await consumers.buffer(req)
        res.end(b"got " + body)

    server = await serve(handler)
    seen = next_event(server, "request")
    c = await Raw.open(server.address().port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n")
    await wait_for(seen)  # the head alone reached the handler; the body follows
    c.send(b"hello")
    data = await c.closed()
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert body == b"got hello"
    await shut(server)


async def test_no_request_after_connection_close_is_served() -> None:
    served: list[str] = []

    def handler(req, res) -> None:
        served.append(req.url)
        res.end(req.url)

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    data = await c.closed()
    assert data.count(b"HTTP/1.1 ") == 1 and data.endswith(b"/a")
    assert served == ["/a"]
    await shut(server)


async def test_last_response_closes_the_socket_without_waiting_for_the_client() -> None:
    # Node's destroySoon after a Connection: close response: the server's socket closes
    # once the response is written, while the client still holds its side open (no
    # idle timeout: it would close the socket too, later)
    server = await serve(hello, keep_alive_timeout=0)
    conn = next_event(server, "connection")
    c = await Raw.open(server.address().port)
    (sock,) = await wait_for(conn)
    closed = next_event(sock, "close")
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = await c.response()
    assert (status, headers["connection"], body) == (200, "close", b"hello\n")
    assert await wait_for(closed) == (False,)
    assert await wait_for(c.reader.read()) == b""
    c.close()
    await shut(server)


async def test_closed_connections_are_freed_without_the_cycle_collector() -> None:
    # When its socket closes, a connection lets go of its parser and takes its
    # listeners off the socket: reference counting frees the socket, the connection and
    # its parser, after a request with Connection: close and after a client's reset.
    sockets: list[Any] = []

    def handler(req, res) -> None:
        sockets.append(req.socket)
        res.end(b"bye")

    server = await serve(handler)
    gc.collect()
    gc.disable()
    try:
        for reset in (False, True):
            raw = await Raw.open(server.address().port)
            raw.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, _, body = await raw.response()
            assert (status, body) == (200, b"bye")
            if reset:
                raw.writer.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            raw.writer.close()
            (sock,) = sockets
            sockets.clear()
            # 'close' itself: the stream's flag is set a loop turn before the event
            await until(lambda s=sock: s._close_emitted and not s._close_due)
            assert sys.getrefcount(sock) == 2  # the name `sock` and getrefcount's argument
    finally:
        gc.enable()
    await shut(server)
