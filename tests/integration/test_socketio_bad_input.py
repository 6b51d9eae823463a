"""Bad input to the Socket.IO server: each closes its own session, the server goes on.

Raw HTTP requests on a plain socket play the hostile client; after each case a good
client (nodish's) connects and gets an answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.helpers import next_event, unchunk, until, wait_event, wait_for

from nodish import socketio, timers
from nodish import ws as ws_mod
from nodish.socketio import engine_socket, transports


@asynccontextmanager
async def server(**options: Any) -> AsyncIterator[tuple[socketio.Server, int, list[Any]]]:
    io = socketio.Server(**options)
    closed: list[Any] = []

    def on_connection(socket: socketio.Socket) -> None:
        socket.on("echo", lambda *args: args[-1](*args[:-1]))
        socket.on("disconnect", lambda reason, *_: closed.append(reason))

    io.on("connection", on_connection)
    await io.listen(0, "127.0.0.1")
    try:
        yield io, io.address().port, closed
    finally:
        io.close()
        await wait_event(io.http_server, "close")


async def raw(
    port: int, method: str, path: str, body: bytes = b"", headers: str = ""
) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    data = await wait_for(reader.read())
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        rest = unchunk(rest)
    return status, rest


EIO = "/socket.io/?EIO=4&transport=polling"


async def handshake(port: int) -> str:
    status, body = await raw(port, "GET", EIO)
    assert status == 200, body
    assert body[:1] == b"0"
    sid: str = json.loads(body[1:])["sid"]
    return sid


async def good_client_served(port: int) -> None:
    sock = socketio.connect(
        f"http://127.0.0.1:{port}", transports=["websocket"], force_new=True, reconnection=False
    )
    try:
        assert await sock.timeout(10).emit_with_ack("echo", "still here") == "still here"
    finally:
        sock.disconnect()


@pytest.mark.parametrize(
    ("method", "query", "status", "code"),
    [
        ("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", 400, 0),
        ("GET", "/socket.io/?EIO=4&transport=polling&sid=unknown", 400, 1),
        ("POST", "/socket.io/?EIO=4&transport=polling", 400, 2),
        ("PUT", "/socket.io/?EIO=4&transport=polling", 400, 2),
        ("GET", "/socket.io/?EIO=3&transport=polling", 400, 5),
        ("GET", "/socket.io/?transport=polling", 400, 5),
        ("GET", "/socket.io/?EIO=4&transport=websocket", 400, 3),
    ],
)
async def test_refused_requests_get_engineio_errors(
    method: str, query: str, status: int, code: int
) -> None:
    async with server() as (_, port, _closed):
        got, body = await raw(port, method, query)
        assert got == status
        assert json.loads(body)["code"] == code
        await good_client_served(port)


async def test_forbidden_by_allow_request() -> None:
    def allow(req: Any, callback: Any) -> None:
        callback(None, req.headers.get("x-key") == "yes")

    async with server(allow_request=allow) as (_, port, _closed):
        status, body = await raw(port, "GET", EIO)
        assert status == 403
        assert json.loads(body) == {"code": 4, "message": "Forbidden"}
        status, body = await raw(port, "GET", EIO, headers="X-Key: yes\r\n")
        assert status == 200 and body[:1] == b"0"


@pytest.mark.parametrize(
    "payload",
    [
        b"9oops",  # unknown Engine.IO packet type
        b"4hello\x1e",  # empty packet after a separator
        b"b!!!",  # bad base64
        b"\xff\xfe",  # not UTF-8
    ],
)
async def test_malformed_engineio_payload_closes_that_session(payload: bytes) -> None:
    async with server() as (_, port, closed):
        sid = await handshake(port)
        assert (await raw(port, "POST", f"{EIO}&sid={sid}", b"40"))[0] == 200
        assert (await raw(port, "GET", f"{EIO}&sid={sid}"))[1].startswith(b"40{")
        status, body = await raw(port, "POST", f"{EIO}&sid={sid}", payload)
        assert status == 400
        assert json.loads(body)["code"] == 3
        # Node's reason for bytes that are not Engine.IO (Node answers such a POST "ok"
        # and reads the last two cases more leniently, as a packet Socket.IO refuses)
        await until(lambda: closed)
        assert closed == ["parse error"]
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert status == 400 and json.loads(body)["code"] == 1
        await good_client_served(port)


async def test_oversize_post_gets_413_and_closes_that_session() -> None:
    async with server(max_http_buffer_size=1000) as (_, port, _closed):
        sid = await handshake(port)
        status, _body = await raw(port, "POST", f"{EIO}&sid={sid}", b"4" + b"x" * 5000)
        assert status == 413
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert status == 400 and json.loads(body)["code"] == 1
        await good_client_served(port)


@pytest.mark.parametrize(
    "messages",
    [
        [b"42["],  # broken JSON
        [b'42{"not":"an array"}'],
        [b"47"],  # unknown Socket.IO packet type
        [b'451-["up",{"_placeholder":true,"num":3}]', b"bAQI="],  # attachment out of range
        [b"bAQI="],  # an attachment nobody announced
        [b'452-["up",{"_placeholder":true,"num":0}]', b'42["echo"]'],  # text while waiting
    ],
)
async def test_malformed_socketio_packets_close_that_connection(messages: list[bytes]) -> None:
    async with server() as (_, port, closed):
        sid = await handshake(port)
        assert (await raw(port, "POST", f"{EIO}&sid={sid}", b"40"))[0] == 200
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert body.startswith(b"40{")
        status, body = await raw(port, "POST", f"{EIO}&sid={sid}", b"\x1e".join(messages))
        assert status == 200
        await until(lambda: closed)
        # Node's socket.io reports 'forced close' for each of these too; it then keeps
        # the session until the next poll takes its CLOSE packet, where nodish does not
        # wait for a peer that sent garbage: that poll gets 400 "Session ID unknown"
        assert closed == ["forced close"]
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert (status, json.loads(body)["code"]) == (400, 1)
        await good_client_served(port)


async def test_client_that_never_answers_pings_is_closed() -> None:
    # the ping timeout leaves room for a slow (loaded) test to connect first
    async with server(ping_interval=0.2, ping_timeout=0.6) as (_, port, closed):
        sid = await handshake(port)
        await raw(port, "POST", f"{EIO}&sid={sid}", b"40")
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        packets = body.split(b"\x1e")
        assert status == 200 and packets[0].startswith(b"40{")
        # a ping comes (with the CONNECT answer if the test was slow) and nobody answers
        if packets[1:] != [b"2"]:
            status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
            assert body == b"2"
        await until(lambda: closed)
        assert closed == ["ping timeout"]
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert status == 400 and json.loads(body)["code"] == 1
        await good_client_served(port)


async def test_overlapping_polls_close_that_session() -> None:
    async with server() as (io, port, closed):
        sid = await handshake(port)
        await raw(port, "POST", f"{EIO}&sid={sid}", b"40")
        await raw(port, "GET", f"{EIO}&sid={sid}")
        first = asyncio.ensure_future(raw(port, "GET", f"{EIO}&sid={sid}"))
        await until(lambda: io.engine.clients[sid].transport.writable)
        status, _ = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert status == 400
        status, body = await wait_for(first)
        assert status == 200 and body == b"1"  # the waiting poll is told: close
        await until(lambda: closed)
        assert closed == ["transport error"]
        await good_client_served(port)


async def test_middleware_that_raises_refuses_that_connection_alone() -> None:
    async with server() as (io, port, _closed):

        def middleware(socket: socketio.Socket, next_: Any) -> None:
            if socket.handshake["auth"].get("token") != "good":
                raise PermissionError("bad token")
            next_()

        io.use(middleware)
        bad = socketio.connect(
            f"http://127.0.0.1:{port}",
            auth={"token": "bad"},
            force_new=True,
            reconnection=False,
            transports=["websocket"],
        )
        (err,) = await wait_event(bad, "connect_error")
        assert str(err) == "bad token"
        bad.disconnect()
        good = socketio.connect(
            f"http://127.0.0.1:{port}",
            auth={"token": "good"},
            force_new=True,
            transports=["websocket"],
        )
        assert await good.timeout(10).emit_with_ack("echo", 1) == 1
        good.disconnect()


async def ws_session(port: int) -> tuple[Any, list[Any], Any]:
    """A raw WebSocket session: (ws, messages received, close future)."""
    ws = ws_mod.WebSocket(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    messages: list[Any] = []
    closed = asyncio.get_running_loop().create_future()
    ws.on("message", lambda data, binary: messages.append(data))
    ws.on("close", lambda code, reason: closed.done() or closed.set_result(code))
    ws.on("error", lambda err: None)
    await wait_event(ws, "open")
    await until(lambda: messages)
    assert str(messages[0]).startswith("0{")
    return ws, messages, closed


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        # Node's socket.io gives the same reasons for the first four
        ("9nonsense", "parse error"),
        ("", "parse error"),
        ("42[", "forced close"),
        ("bAAAA", "forced close"),
        # attachments that do not match their packet, in binary frames
        (['451-["up",{"_placeholder":true,"num":3}]', b"\x01"], "forced close"),
        ([b"\x01\x02"], "forced close"),
        (['452-["up",{"_placeholder":true,"num":0}]', b"\x01", '42["x"]'], "forced close"),
        # a CLOSE packet (Node ignores one over WebSocket)
        ("1", "transport close"),
    ],
)
async def test_bad_websocket_messages_close_that_connection(
    bad: str | list[str | bytes], reason: str
) -> None:
    async with server() as (_, port, reasons):
        ws, messages, closed = await ws_session(port)
        ws.send("40")
        await until(lambda: len(messages) >= 2)  # the CONNECT answer
        for message in [bad] if isinstance(bad, str) else bad:
            ws.send(message)
        await wait_for(closed)
        await until(lambda: reasons)
        assert reasons == [reason]
        await good_client_served(port)


async def test_oversize_websocket_message_is_closed_with_1009() -> None:
    async with server(max_http_buffer_size=1000) as (_, port, _closed):
        ws, _messages, closed = await ws_session(port)
        ws.send("4" + "x" * 5000)
        assert await wait_for(closed) == 1009
        await good_client_served(port)


@pytest.mark.parametrize("burst", ["8 per turn", "600 in one turn"])
async def test_a_websocket_client_that_does_not_read_is_dropped(
    burst: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 in one turn of the loop: the burst is written as it grows, so the send
    # buffer's limit is met within the turn (written whole at the turn's end, it would
    # pass, and nothing would follow to check it)
    monkeypatch.setattr(transports, "MAX_BUFFERED", 1 << 20)
    async with server() as (io, port, closed):
        ws, messages, _ws_closed = await ws_session(port)
        ws.send("40")
        await until(lambda: len(messages) >= 2)  # the CONNECT answer
        ws.pause()
        (socket,) = await io.fetch_sockets()

        def flood() -> None:
            if socket.connected:
                for _ in range(8):
                    socket.emit("big", "x" * 65536)
                timers.set_immediate(flood)

        if burst == "8 per turn":
            flood()
        else:
            for _ in range(600):
                socket.emit("big", "x" * 16384)
        await until(lambda: closed == ["transport close"])
        ws.terminate()
        await good_client_served(port)


async def test_cors_preflight_and_origin() -> None:
    async with server(cors={"origin": ["http://allowed.test"], "credentials": True}) as (
        _,
        port,
        _c,
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
            b"Origin: http://allowed.test\r\nAccess-Control-Request-Method: POST\r\n"
            b"Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
        )
        head = (await wait_for(reader.read())).decode("latin-1").lower()
        writer.close()
        assert head.startswith("http/1.1 204")
        assert "access-control-allow-origin: http://allowed.test" in head
        assert "access-control-allow-credentials: true" in head
        assert "access-control-allow-headers: content-type" in head
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
            b"Origin: http://elsewhere.test\r\nConnection: close\r\n\r\n"
        )
        head = (await wait_for(reader.read())).decode("latin-1").lower()
        writer.close()
        assert head.startswith("http/1.1 200")
        assert "access-control-allow-origin" not in head


async def test_vanishing_clients_are_noticed() -> None:
    # the ping timeout leaves room for a slow (loaded) test to drop the first client
    async with server(ping_interval=0.3, ping_timeout=0.6) as (io, port, closed):
        # a WebSocket client whose connection drops without a closing handshake
        ws, messages, _closed = await ws_session(port)
        ws.send("40")
        await until(lambda: len(messages) >= 2)  # the CONNECT answer
        ws.terminate()
        await until(lambda: len(closed) == 1)
        assert closed == ["transport close"]
        # a polling client whose waiting poll's connection is dropped: nodish.http does
        # not read a connection whose response is pending, so the drop shows when the
        # next PING goes unanswered
        sid = await handshake(port)
        await raw(port, "POST", f"{EIO}&sid={sid}", b"40")
        await raw(port, "GET", f"{EIO}&sid={sid}")
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {EIO}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        await until(lambda: io.engine.clients[sid].transport.writable)  # the poll waits
        writer.transport.abort()
        await until(lambda: len(closed) == 2)
        assert closed[1] in ("ping timeout", "transport error")
        await good_client_served(port)


async def test_a_session_that_joins_no_namespace_is_closed_after_connect_timeout() -> None:
    async with server(connect_timeout=0.2) as (io, port, _closed):
        # a session that polls again gets the CLOSE packet on that poll (Node's rule)
        sessions = next_event(io.engine, "connection")
        sid = await handshake(port)
        (session,) = await wait_for(sessions)
        closes = next_event(session, "close")
        await until(lambda: session.ready_state != "open")
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert status == 200 and body.split(b"\x1e")[-1] == b"1"
        assert await wait_for(closes) == ("forced close", None)
        assert sid not in io.engine.clients
        # one that never polls again is gone after the engine's close_timeout; the test
        # may be slower than both timeouts, so the session is caught as it opens
        io.engine.close_timeout = 0.2
        sessions = next_event(io.engine, "connection")
        sid = await handshake(port)
        (session,) = await wait_for(sessions)
        if session.ready_state != "closed":
            await wait_event(session, "close")
        assert sid not in io.engine.clients
        status, body = await raw(port, "GET", f"{EIO}&sid={sid}")
        assert status == 400 and json.loads(body)["code"] == 1
        await good_client_served(port)


async def test_close_right_after_a_waiting_polls_client_went_away() -> None:
    # the poll's connection is found closed (its response destroyed) in the same loop
    # turn as io.close(): close() must not try to answer it, nor raise
    io = socketio.Server()
    await io.listen(0, "127.0.0.1")
    port = io.address().port
    polls: list[Any] = []
    io.http_server.on("request", lambda req, res: polls.append(res) if "sid=" in req.url else None)
    sid = await handshake(port)
    await raw(port, "POST", f"{EIO}&sid={sid}", b"40")
    await raw(port, "GET", f"{EIO}&sid={sid}")
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {EIO}&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await until(lambda: io.engine.clients[sid].transport.writable)  # the poll waits
    polls[-1].destroy()
    io.close()
    await wait_event(io.http_server, "close")
    assert sid not in io.engine.clients
    writer.close()


async def test_abandoned_polling_sessions_are_reclaimed() -> None:
    # 500 handshakes that never poll again nor upgrade: each is closed by its ping
    # timeout (Node's rule), not kept until connect_timeout
    async with server(ping_interval=0.2, ping_timeout=0.3, connect_timeout=60) as (io, port, _):
        sids: list[str] = []
        for _batch in range(10):
            sids += await asyncio.gather(*(handshake(port) for _ in range(50)))
        assert len(set(sids)) == 500
        await until(lambda: not io.engine.clients, timeout=15)
        status, body = await raw(port, "GET", f"{EIO}&sid={sids[0]}")
        assert status == 400 and json.loads(body)["code"] == 1
        await good_client_served(port)


async def test_polling_request_to_an_upgraded_session_is_refused_alone() -> None:
    # Node: 400 {"code":3,"message":"Bad request"} (TRANSPORT_MISMATCH); the upgraded
    # session goes on over its WebSocket
    async with server() as (io, port, closed):
        sid = await handshake(port)
        ws = ws_mod.WebSocket(
            f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        )
        messages: list[Any] = []
        ws.on("message", lambda data, binary: messages.append(str(data)))
        await wait_event(ws, "open")
        ws.send("2probe")
        await until(lambda: "3probe" in messages)
        ws.send("5")
        await until(lambda: io.engine.clients[sid].transport.name == "websocket")
        for method, body in (("POST", b'42["echo"]'), ("GET", b"")):
            status, answer = await raw(port, method, f"{EIO}&sid={sid}", body)
            assert (status, json.loads(answer)) == (400, {"code": 3, "message": "Bad request"})
        ws.send("40")
        ws.send('421["echo","over ws"]')
        await until(lambda: '431["over ws"]' in messages)
        assert closed == []
        ws.close()
        await good_client_served(port)


async def test_a_client_flooding_events_without_reading_its_acks_is_not_read() -> None:
    # the acks pile up in the server's send buffer past its high-water mark: the server
    # stops reading that client (ws's backpressure), so the flood waits in the flooder's
    # own memory, not the server's; others are served meanwhile (Node's socket.io reads
    # on and buffers the acks without bound)
    async with server() as (io, port, closed):
        ws, messages, _ws_closed = await ws_session(port)
        ws.send("40")
        await until(lambda: len(messages) >= 2)  # the CONNECT answer
        ws.pause()
        event = '["echo","' + "x" * 200 + '"]'
        for i in range(100_000):
            ws.send(f"42{i}{event}")
        (session,) = (s for s in io.engine.clients.values() if s.transport.name == "websocket")
        server_ws = session.transport.ws
        # past the high-water mark of its acks, the server stops reading this client
        await until(lambda: server_ws._read_throttled, timeout=20)
        await good_client_served(port)
        assert server_ws.buffered_amount < 4 << 20  # of ~20 MB of acks
        assert ws.buffered_amount > 10 << 20  # most of the ~25 MB flood never left the flooder
        ws.terminate()
        await until(lambda: "transport close" in closed)


async def test_a_polling_client_posting_events_without_polling_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # its acks queue up with no poll to take them: past MAX_QUEUED packets the session is
    # closed, as a WebSocket client that does not read (Node queues until the ping timeout)
    monkeypatch.setattr(engine_socket, "MAX_QUEUED", 1000)
    async with server() as (io, port, closed):
        sid = await handshake(port)
        await raw(port, "POST", f"{EIO}&sid={sid}", b"40")
        await raw(port, "GET", f"{EIO}&sid={sid}")  # the CONNECT answer
        batch = b"\x1e".join(b'42%d["echo","x"]' % i for i in range(600))
        status, _ = await raw(port, "POST", f"{EIO}&sid={sid}", batch)
        assert status == 200 and closed == [] and sid in io.engine.clients
        await raw(port, "POST", f"{EIO}&sid={sid}", batch)
        await until(lambda: closed == ["transport close"])
        assert sid not in io.engine.clients
        await good_client_served(port)
