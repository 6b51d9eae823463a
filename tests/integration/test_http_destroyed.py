"""write() and end() on a destroyed message (the peer went away, or destroy()): as Node 20,
nothing is thrown. write() returns False and its callback gets ERR_STREAM_DESTROYED on the
next tick; end() marks the message ended and its 'finish' never comes; no 'error'.

Node's behaviour, from a script destroying res / req (or res.socket) and then calling
write/end with and without callback: write -> false, callback ERR_STREAM_DESTROYED;
end -> returns the message, writableEnded true, no callback, no 'error' on res.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import next_event, wait_for
from tests.integration.http_util import Raw, get_ok, serve, shut

from nodish import http


def _record(msg: Any, log: list[Any]) -> None:
    msg.on("finish", lambda: log.append("finish"))
    msg.on("error", lambda err: log.append(("error", err.code)))


def _write_then_end(msg: Any, log: list[Any]) -> None:
    """Node's calls after destruction; what they return is logged."""
    log.append(("write", msg.write("x")))

    def on_written(err: Any = None) -> None:
        log.append(("cb", getattr(err, "code", err)))

    log.append(("write_cb", msg.write(b"y", callback=on_written)))
    log.append(("end", msg.end("z", callback=lambda *a: log.append("end_cb")) is msg))
    log.append(("ended", msg.writable_ended))
    log.append(("end_again", msg.end() is msg))


EXPECTED = [
    ("write", False),
    ("write_cb", False),
    ("end", True),
    ("ended", True),
    ("end_again", True),
    ("cb", "ERR_STREAM_DESTROYED"),
]


@pytest.mark.parametrize("how", ["destroy", "client_gone"])
async def test_server_response_write_end_after_destroy_do_not_throw(how: str) -> None:
    log: list[Any] = []
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def handler(req: Any, res: Any) -> None:
        if req.url == "/ok":
            res.end("ok")
            return
        _record(res, log)

        def after(*_: Any) -> None:
            _write_then_end(res, log)
            closed.set_result(None)

        if how == "destroy":
            res.destroy()
            after()
        else:
            # the client's socket is gone: the response is destroyed when its
            # connection closes
            res.once("close", after)
            req.socket.destroy()

    server = await serve(handler)
    c = await Raw.open(server.address().port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await c.closed() == b""
    await wait_for(closed)
    # the callbacks are due on the next tick: serving a good client takes several turns
    assert (await get_ok(server.address().port, "/ok"))[2] == b"ok"
    assert log == EXPECTED
    await shut(server)


async def test_client_request_write_end_after_destroy_do_not_throw() -> None:
    server = await serve(lambda req, res: res.end("ok"))
    port = server.address().port
    log: list[Any] = []
    req = http.request(f"http://127.0.0.1:{port}/", method="POST")
    _record(req, log)
    closed = next_event(req, "close")
    req.destroy()
    _write_then_end(req, log)
    await wait_for(closed)
    assert (await get_ok(port, "/"))[2] == b"ok"
    assert log == EXPECTED
    await shut(server)
