"""Careless and hostile use: pause() at once, floods, stalls, vanishing peers, odd
arguments, Unix sockets, abort signals. Each finding of trying nodish as a user would.

Every test here runs on uvloop and on plain asyncio (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import pytest
from tests.helpers import next_event, wait_event, wait_for
from tests.integration.http_util import Raw, get_ok, serve, shut

from nodish import errors, events, http
from nodish.stream import consumers


async def test_upload_flood_into_a_handler_that_never_reads_stays_bounded() -> None:
    seen: list = []

    def handler(req, res):
        if req.url == "/ok":
            res.end("ok")
        else:
            seen.append(req)

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    size = 32 * 1024 * 1024
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    chunk = b"f" * 65536
    for _ in range(size // len(chunk)):
        c.writer.write(chunk)
        if c.writer.transport.get_write_buffer_size() > 4 * 1024 * 1024:
            break  # the server stopped reading: the kernel buffers filled, we stall
        await asyncio.sleep(0)
    if not seen:
        await wait_for(next_event(server, "request"))
    (req,) = seen
    assert req.readable_length <= 256 * 1024  # near the high-water mark, not the flood
    # a paused socket does not see its peer leave (libuv does not poll it, as in Node):
    # the handler gives up, or request_timeout does
    closed = next_event(req, "close")
    req.destroy()
    await wait_for(closed)
    c.writer.transport.abort()
    assert (await get_ok(server.address().port, "/ok"))[2] == b"ok"
    await shut(server)


async def test_pause_at_once_then_resume_reads_the_whole_body() -> None:
    got = asyncio.get_running_loop().create_future()

    async def handler(req, res):
        req.pause()  # at once, before any body arrived
        await asyncio.sleep(0.05)  # the handler's own slow work
        data = await consumers.buffer(req)
        got.set_result(len(data))
        res.end("ok")

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    body = b"p" * 300_000
    c.send(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert await wait_for(got) == len(body)
    assert (await c.response())[2] == b"ok"
    c.close()
    await shut(server)


async def test_client_that_vanishes_before_the_response() -> None:
    closed = asyncio.get_running_loop().create_future()

    def handler(req, res):
        res.on("close", lambda: closed.set_result(res.writable_finished))

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await wait_for(next_event(server, "request"))
    c.writer.transport.abort()
    assert await wait_for(closed) is False  # 'close' without 'finish'
    await shut(server)


async def test_server_that_stalls_mid_response_times_out_on_the_client() -> None:
    def handler(req, res):
        res.write("partial")  # and nothing more

    server = await serve(handler)
    req = http.get(f"http://127.0.0.1:{server.address().port}/", agent=False, timeout=0.2)
    res = await req
    timed_out = next_event(req, "timeout")
    await wait_for(timed_out)
    errored = next_event(res, "error")
    req.destroy()
    (err,) = await wait_for(errored)
    assert err.code == "ECONNRESET" and res.aborted is True
    await shut(server)


async def test_unix_socket_server_and_client() -> None:
    path = os.path.join(tempfile.mkdtemp(), "http.sock")
    server = http.create_server(lambda req, res: res.end("over unix " + req.url))
    await server.listen(path=path)
    res = await http.get("http://localhost/u", socket_path=path, agent=False)
    assert await consumers.text(res) == "over unix /u"
    server.close()
    await wait_event(server, "close")


async def test_abort_signal_destroys_the_request() -> None:
    server = await serve(lambda req, res: None)  # never answers
    signal = events.EventEmitter()
    req = http.get(f"http://127.0.0.1:{server.address().port}/", signal=signal, agent=False)
    errored = next_event(req, "error")
    await wait_for(next_event(server, "request"))
    signal.emit("abort")
    (err,) = await wait_for(errored)
    assert err.code == "ABORT_ERR" and req.destroyed
    await shut(server)


def test_wrong_types_raise_at_the_call() -> None:
    import nodish.runtime

    nodish.runtime.get_loop()
    with pytest.raises(TypeError):
        http.request(12345)
    with pytest.raises(TypeError):
        http.request("http://x/", callback="not callable")
    with pytest.raises(errors.NodeError):
        http.request("http://x:99999/")
    with pytest.raises(ValueError):
        http.Agent(max_sockets=0)
    with pytest.raises(ValueError):
        http.Agent(scheduling="random")
    with pytest.raises(TypeError):
        http.validate_header_name("bad name")
    with pytest.raises(TypeError):
        http.validate_header_value("x", "bad\nvalue")
