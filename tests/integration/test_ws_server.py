"""WebSocketServer with real sockets: echo, handshake rules, bad input, slow peers.

Every bad-input rule sends its bytes on a raw socket, after one good message: the
good message is echoed first, then the server's close frame carries the RFC's code,
then FIN (never a reset), and a good client is served afterwards.
"""

from __future__ import annotations

import asyncio
import os
import resource
import struct
import zlib
from typing import Any

import pytest
from tests.helpers import next_event, until, wait_event, wait_for

from nodish.ws import WebSocket, WebSocketError, WebSocketServer
from nodish.ws.frames import apply_mask, is_valid_close_code

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


async def serve(**opts: Any) -> tuple[WebSocketServer, int]:
    """A WebSocketServer attached to an http.Server on 127.0.0.1, port 0."""
    from nodish import http

    server = http.create_server()
    wss = WebSocketServer(server=server, **opts)
    await server.listen(0, "127.0.0.1")
    return wss, server.address().port


async def close_server(wss: WebSocketServer) -> None:
    for ws in list(wss.clients or ()):
        ws.terminate()
    wss.close()
    server = wss._server
    if server is not None:
        closed = next_event(server, "close")
        server.close()
        await wait_for(closed)


def echo(ws: WebSocket, req: Any) -> None:
    ws.on("message", lambda data, is_binary: ws.send(data))


def client_frame(op: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Unmasked server frames → [(opcode, payload)]."""
    out = []
    i = 0
    while i < len(data):
        op = data[i] & 0x0F
        n = data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack("!H", data[i : i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack("!Q", data[i : i + 8])[0]
            i += 8
        out.append((op, data[i : i + n]))
        i += n
    return out


async def raw_client(
    port: int, *, extensions: str | None = None, request: bytes | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """A raw TCP peer that did the opening handshake; returns the response head too."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if request is None:
        request = (
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
            + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
            + "\r\n"
        ).encode()
    writer.write(request)
    head = await wait_for(reader.readuntil(b"\r\n\r\n"))
    return reader, writer, head


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server's FIN (a reset raises: it must never happen)."""
    return await wait_for(reader.read())


async def assert_still_serving(port: int) -> None:
    ws = await WebSocket(f"ws://127.0.0.1:{port}/")
    ws.send("still there?")
    assert await wait_event(ws, "message") == ("still there?", False)
    ws.close()
    await wait_event(ws, "close")


# ---------------------------------------------------------------------------- good path


async def test_echo_and_client_tracking() -> None:
    wss, port = await serve()
    seen: list[Any] = []
    wss.on("connection", lambda ws, req: seen.append(req.url))
    wss.on("connection", echo)
    try:
        ws = await WebSocket(f"ws://127.0.0.1:{port}/chat?room=1")
        assert seen == ["/chat?room=1"]
        assert len(wss.clients or ()) == 1
        for item in ("text", b"\x00binary", "é" * 100000, os.urandom(300000)):
            ws.send(item)
            assert await wait_event(ws, "message") == (item, isinstance(item, bytes))
        (server_ws,) = wss.clients or ()
        server_closed = next_event(server_ws, "close")
        ws.close(4000, "bye")
        assert await wait_event(ws, "close") == (4000, "bye")
        assert await wait_for(server_closed) == (4000, "bye")
        assert not wss.clients
    finally:
        await close_server(wss)


async def test_server_closes_first_and_the_client_sees_the_code() -> None:
    wss, port = await serve()
    wss.on("connection", lambda ws, req: ws.close(1001, "going away"))
    try:
        reader, writer, head = await raw_client(port)
        assert b" 101 " in head and ACCEPT.encode() in head
        data = await wait_for(reader.readexactly(14))
        assert parse_frames(data) == [(8, struct.pack("!H", 1001) + b"going away")]
        writer.write(client_frame(8, struct.pack("!H", 1001)))  # our answer...
        assert await read_to_eof(reader) == b""  # ...and the server closes TCP first
        writer.close()
    finally:
        await close_server(wss)


async def test_deflate_negotiated_with_a_nodish_client() -> None:
    wss, port = await serve(per_message_deflate=True)
    wss.on("connection", echo)
    try:
        ws = await WebSocket(f"ws://127.0.0.1:{port}/")
        assert ws.extensions.startswith("permessage-deflate")
        big = "compress me " * 10000
        ws.send(big)
        assert await wait_event(ws, "message") == (big, False)
        ws.close()
        await wait_event(ws, "close")
    finally:
        await close_server(wss)


# ---------------------------------------------------------------------------- handshake


def upgrade_request(**change: str | None) -> bytes:
    fields = {
        "method": "GET",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
    }
    fields.update(change)  # type: ignore[arg-type]
    lines = [f"{fields.pop('method')} / HTTP/1.1", "Host: x", "Connection: Upgrade"]
    lines += [f"{k}: {v}" for k, v in fields.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    "change",
    [
        {"Sec-WebSocket-Key": "not-a-key"},
        {"Sec-WebSocket-Key": None},
        {"Sec-WebSocket-Version": "12"},
        {"Sec-WebSocket-Version": None},
        {"method": "POST"},
    ],
    ids=["bad key", "no key", "bad version", "no version", "POST"],
)
async def test_bad_handshake_is_400_without_upgrade(change: dict[str, str | None]) -> None:
    wss, port = await serve()
    connected = []
    wss.on("connection", lambda ws, req: connected.append(ws))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request(**change))
        data = await read_to_eof(reader)
        assert data.startswith(b"HTTP/1.1 400 ")
        assert b"Sec-WebSocket-Accept" not in data
        writer.close()
        assert connected == []
        wss.on("connection", echo)
        await assert_still_serving(port)
    finally:
        await close_server(wss)


async def test_verify_client_sync_async_and_callback() -> None:
    async def later(info: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return info["origin"] == "https://good.example"

    def with_cb(info: dict[str, Any], cb: Any) -> None:
        cb(False, 403, "Forbidden here", {"X-Why": "origin"})

    for verify, status in ((lambda info: False, b"401"), (later, b"401"), (with_cb, b"403")):
        wss, port = await serve(verify_client=verify)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(upgrade_request(Origin="https://bad.example"))
            data = await read_to_eof(reader)
            assert data.startswith(b"HTTP/1.1 " + status)
            writer.close()
            if verify is later:
                wss.on("connection", echo)
                ws = await WebSocket(f"ws://127.0.0.1:{port}/", origin="https://good.example")
                ws.close()
                await wait_event(ws, "close")
        finally:
            await close_server(wss)


async def test_protocols_headers_event_and_path() -> None:
    wss, port = await serve(
        path="/ws", handle_protocols=lambda protocols, req: "b" if "b" in protocols else False
    )
    wss.on("headers", lambda lines, req: lines.append("X-Hello: world"))
    wss.on("connection", echo)
    try:
        got: list[Any] = []
        ws = WebSocket(f"ws://127.0.0.1:{port}/ws", ["a", "b"])
        ws.on("upgrade", lambda res: got.append(res.headers.get("x-hello")))
        await ws
        assert ws.protocol == "b" and got == ["world"]
        ws.close()
        await wait_event(ws, "close")
        with pytest.raises(Exception) as info:
            await WebSocket(f"ws://127.0.0.1:{port}/elsewhere")
        assert getattr(info.value, "status_code", None) == 400
    finally:
        await close_server(wss)


# ---------------------------------------------------------------------------- bad input


def compressed(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


BAD = [
    ("unmasked frame", b"\x81\x02hi", 1002),
    ("reserved opcode", client_frame(3, b"x"), 1002),
    ("RSV1 without extension", client_frame(1, b"x", rsv=0x40), 1002),
    ("fragmented control frame", client_frame(9, b"", fin=False), 1002),
    ("oversize control frame", client_frame(9, b"x" * 126), 1002),
    ("continuation without start", client_frame(0, b"x"), 1002),
    (
        "new message inside a fragmented one",
        client_frame(1, b"a", fin=False) + client_frame(2, b"b"),
        1002,
    ),
    ("invalid UTF-8", client_frame(1, b"\xc3\x28"), 1007),
    ("invalid UTF-8 close reason", client_frame(8, b"\x03\xe8\xff"), 1007),
    ("invalid close code", client_frame(8, struct.pack("!H", 1005)), 1002),
    ("message over max_payload", client_frame(2, b"x" * 2000), 1009),
    (
        "length over max_payload, no payload",
        b"\x82\xff" + struct.pack("!Q", 1 << 62) + b"mask",
        1009,
    ),
]


@pytest.mark.parametrize(("name", "bad", "code"), BAD, ids=[b[0] for b in BAD])
async def test_bad_frames_close_with_the_rfc_code(name: str, bad: bytes, code: int) -> None:
    wss, port = await serve(max_payload=1000)
    wss.on("connection", echo)
    errors: list[Any] = []
    wss.on("connection", lambda ws, req: ws.on("error", errors.append))
    try:
        reader, writer, _ = await raw_client(port)
        writer.write(client_frame(1, b"valid first") + bad)
        data = await read_to_eof(reader)
        frames = parse_frames(data)
        assert frames[0] == (1, b"valid first")  # the valid message is answered first
        assert frames[1][0] == 8 and struct.unpack("!H", frames[1][1][:2])[0] == code
        assert len(frames) == 2
        assert errors and errors[0].status_code == code
        writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


async def test_decompression_bomb_is_1009_with_memory_bounded() -> None:
    wss, port = await serve(per_message_deflate=True, max_payload=1 << 20)
    wss.on("connection", echo)
    try:
        reader, writer, head = await raw_client(port, extensions="permessage-deflate")
        assert b"permessage-deflate" in head
        bomb = compressed(b"\x00" * (128 << 20))  # 128 MiB of zeros in about 128 KiB
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        writer.write(client_frame(2, bomb, rsv=0x40))
        frames = parse_frames(await read_to_eof(reader))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert frames == [(8, struct.pack("!H", 1009))]
        assert (after - before) * 1024 < 32 << 20  # nowhere near the 128 MiB inflated
        writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


async def test_too_many_fragments_is_1008_but_4_mib_in_64_byte_fragments_passes() -> None:
    wss, port = await serve()
    wss.on("connection", echo)
    try:
        reader, writer, _ = await raw_client(port)
        data = os.urandom(4 << 20)
        parts = [data[i : i + 64] for i in range(0, len(data), 64)]
        writer.write(
            b"".join(
                client_frame(2 if i == 0 else 0, p, fin=i == len(parts) - 1)
                for i, p in enumerate(parts)
            )
        )
        echoed = await wait_for(reader.readexactly(10 + len(data)))
        assert echoed[10:] == data
        writer.close()
    finally:
        await close_server(wss)
    wss, port = await serve(max_fragments=100)
    wss.on("connection", echo)
    try:
        reader, writer, _ = await raw_client(port)
        writer.write(client_frame(2, b"a", fin=False) + client_frame(0, b"", fin=False) * 200)
        frames = parse_frames(await read_to_eof(reader))
        assert frames == [(8, struct.pack("!H", 1008))]
        writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


# ---------------------------------------------------------------------------- slow peers


async def test_a_client_that_never_reads_is_paused_then_closed_1008() -> None:
    wss, port = await serve(max_buffered_amount=1 << 20, close_timeout=5)
    pushed: list[WebSocket] = []
    wss.on("connection", lambda ws, req: pushed.append(ws))
    wss.on("connection", echo)
    try:
        reader, writer, _ = await raw_client(port)
        await until(lambda: pushed)
        ws = pushed[0]
        errors = next_event(ws, "error")
        chunk = os.urandom(64 * 1024)
        sent = 0
        highest = 0
        while ws.ready_state == WebSocket.OPEN and sent < 64 << 20:
            ws.send(chunk)  # a broadcast loop that ignores backpressure
            sent += len(chunk)
            highest = max(highest, ws.buffered_amount)
            await asyncio.sleep(0)
        (err,) = await wait_for(errors)
        assert err.code == "WS_ERR_SEND_BUFFER_FULL" and err.status_code == 1008
        # gave up long before the 64 MiB the loop wanted to push (the kernel's socket
        # buffers take a few MiB first)
        assert sent < 24 << 20
        assert highest <= (1 << 20) + 3 * len(chunk)  # the limit, the mark, one message
        # the peer finally reads: everything queued, then the close frame with 1008
        frames = parse_frames(await read_to_eof(reader))
        assert frames[-1] == (8, struct.pack("!H", 1008))
        writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


async def test_an_echo_server_stops_reading_from_a_client_that_never_reads() -> None:
    wss, port = await serve()
    wss.on("connection", echo)
    conns: list[WebSocket] = []
    wss.on("connection", lambda ws, req: conns.append(ws))
    try:
        _reader, writer, _ = await raw_client(port)
        msg = client_frame(2, os.urandom(32 * 1024))
        paused = asyncio.get_running_loop().create_future()

        async def flood() -> None:
            while not paused.done():
                writer.write(msg)
                await writer.drain()  # blocks once the server stops reading

        task = asyncio.ensure_future(flood())
        await until(lambda: conns and conns[0]._read_throttled)
        paused.set_result(None)
        (ws,) = conns
        # bounded: the server's send buffer stays near its mark however much was sent
        assert ws.buffered_amount < 1 << 20
        task.cancel()
        writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


# ---------------------------------------------------------------------------- modes


async def test_standalone_answers_426_to_plain_requests_and_closes() -> None:
    wss = await WebSocketServer(port=0, host="127.0.0.1")
    wss.on("connection", echo)
    port = wss.address().port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await read_to_eof(reader)).startswith(b"HTTP/1.1 426 ")
    writer.close()
    await assert_still_serving(port)
    with pytest.raises(OSError) as info:
        await WebSocketServer(port=port, host="127.0.0.1")
    assert info.value.code == "EADDRINUSE"  # type: ignore[attr-defined]
    closed = next_event(wss, "close")
    wss.close()
    await wait_for(closed)
    with pytest.raises(ConnectionRefusedError):
        await WebSocket(f"ws://127.0.0.1:{port}/")


async def test_no_server_mode_with_handle_upgrade() -> None:
    from nodish import http

    server = http.create_server()
    wss = WebSocketServer(no_server=True)
    upgrades: list[Any] = []

    def on_upgrade(req: Any, socket: Any, head: bytes) -> None:
        upgrades.append(req.url)
        wss.handle_upgrade(req, socket, head, lambda ws, req: echo(ws, req))

    server.on("upgrade", on_upgrade)
    await server.listen(0, "127.0.0.1")
    try:
        await assert_still_serving(server.address().port)
        assert upgrades == ["/"]
        with pytest.raises(WebSocketError):
            wss.address()
    finally:
        closed = next_event(server, "close")
        server.close()
        await wait_for(closed)


def test_exactly_one_mode() -> None:
    with pytest.raises(TypeError):
        WebSocketServer()
    with pytest.raises(TypeError):
        WebSocketServer(port=0, no_server=True)
    with pytest.raises(TypeError):
        WebSocketServer(no_server=True, verify_client="yes")  # type: ignore[arg-type]


async def test_frames_sent_with_the_request_wait_for_resume_after_pause() -> None:
    wss, port = await serve()
    got: list[Any] = []
    conns: list[WebSocket] = []

    def on_connection(ws: WebSocket, req: Any) -> None:
        ws.pause()  # at once: the frames that came with the request must wait
        conns.append(ws)
        ws.on("message", lambda data, is_binary: got.append(data))

    wss.on("connection", on_connection)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request() + client_frame(1, b"in the head") + client_frame(1, b"2"))
        await wait_for(reader.readuntil(b"\r\n\r\n"))
        await until(lambda: conns)
        (ws,) = conns
        assert ws.is_paused and got == []
        writer.write(client_frame(1, b"later"))
        ws.resume()
        await until(lambda: len(got) == 3)
        assert got == ["in the head", "2", "later"]
        writer.close()
    finally:
        await close_server(wss)


async def test_pause_from_a_listener_holds_later_frames_until_resume() -> None:
    # flowing, the socket's bytes go straight into the receiver; a pause() from a
    # listener sends them through the stash again, in order, until resume()
    wss, port = await serve()
    got: list[Any] = []
    conns: list[WebSocket] = []

    def on_message(ws: WebSocket, data: Any) -> None:
        got.append(data)
        if data == "pause":
            ws.pause()

    def on_connection(ws: WebSocket, req: Any) -> None:
        conns.append(ws)
        ws.on("message", lambda data, is_binary: on_message(ws, data))

    wss.on("connection", on_connection)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request())
        await wait_for(reader.readuntil(b"\r\n\r\n"))
        await until(lambda: conns)
        (ws,) = conns
        for n, text in enumerate((b"1", b"2", b"pause"), 1):
            writer.write(client_frame(1, text))
            await until(lambda n=n: len(got) == n)  # type: ignore[misc]
        assert ws.is_paused
        for i in range(3, 50):
            writer.write(client_frame(1, b"%d" % i))
        await writer.drain()
        ws.ping(b"round trip")  # turns of the loop in which a flowing socket reads them
        await wait_for(reader.readexactly(12))
        assert got == ["1", "2", "pause"]
        ws.resume()
        await until(lambda: len(got) == 50)
        assert got == ["1", "2", "pause", *(str(i) for i in range(3, 50))]
        writer.write(client_frame(1, b"after"))
        await until(lambda: len(got) == 51)
        writer.close()
    finally:
        await close_server(wss)


async def test_attached_to_an_https_server_with_a_wss_client() -> None:
    from nodish import certs, https

    ca = certs.create_ca("ws test CA")
    leaf = ca.issue_server("localhost")
    server = https.create_server(key=leaf.key_pem(), cert=leaf.cert_pem)
    wss = WebSocketServer(server=server, per_message_deflate=True)
    secure: list[bool] = []
    wss.on("connection", lambda ws, req: secure.append(bool(req.socket.encrypted)))
    wss.on("connection", echo)
    await server.listen(0, "127.0.0.1")
    try:
        ws = await WebSocket(f"wss://localhost:{server.address().port}/", ca=ca.cert_pem)
        ws.send("secret " * 1000)
        assert await wait_event(ws, "message") == ("secret " * 1000, False)
        assert secure == [True]
        ws.close(1000)
        assert await wait_event(ws, "close") == (1000, "")
    finally:
        closed = next_event(server, "close")
        wss.close()
        server.close()
        await wait_for(closed)


async def test_await_send_waits_for_room() -> None:
    wss, port = await serve()
    after_await: list[int] = []
    done = asyncio.get_running_loop().create_future()

    async def push(ws: WebSocket) -> None:
        for _ in range(24):
            await ws.send(os.urandom(1 << 20))
            after_await.append(ws.buffered_amount)
        done.set_result(None)

    wss.on("connection", lambda ws, req: asyncio.ensure_future(push(ws)))
    try:
        client = await WebSocket(f"ws://127.0.0.1:{port}/")
        client.pause()  # the kernel's buffers fill, then the server's sends must wait
        await until(
            lambda: (wss.clients or set()) and next(iter(wss.clients or ()))._over_base >= 0
        )
        assert not done.done()
        received: list[int] = []
        client.on("message", lambda data, is_binary: received.append(len(data)))
        client.resume()
        await wait_for(done)
        await until(lambda: len(received) == 24)
        # each await returned only once the buffer was back under the mark
        assert all(n < 16384 for n in after_await)
        client.close()
        await wait_event(client, "close")
    finally:
        await close_server(wss)


async def test_random_bytes_after_the_handshake_always_end_in_a_clean_close() -> None:
    import random

    rnd = random.Random(6455)
    wss, port = await serve(max_payload=4096)
    wss.on("connection", echo)
    try:
        for _ in range(25):
            reader, writer, _ = await raw_client(port)
            # mostly frame-like garbage: a plausible first byte, then noise
            junk = bytes([rnd.choice([0x81, 0x82, 0x01, 0x88, 0x89, 0xC1, 0x83])])
            junk += bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
            writer.write(junk)
            writer.write_eof()  # and FIN, so every stream ends one way or another
            frames = parse_frames(await read_to_eof(reader))  # never a reset
            closes = [p for op, p in frames if op == 8]
            assert len(closes) <= 1
            if closes and len(closes[0]) >= 2:
                assert is_valid_close_code(struct.unpack("!H", closes[0][:2])[0])
            writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


async def test_ws_client_error_lets_the_application_answer() -> None:
    wss, port = await serve(client_tracking=False)
    assert wss.clients is None
    seen: list[Any] = []

    def on_client_error(err: Any, socket: Any, req: Any) -> None:
        seen.append((err.code, err.status_code, req.method))
        socket.end(b"HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    wss.on("wsClientError", on_client_error)
    wss.on("connection", echo)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request(**{"Sec-WebSocket-Version": "7"}))
        assert (await read_to_eof(reader)).startswith(b"HTTP/1.1 418 ")
        assert seen == [("WS_ERR_HANDSHAKE", 400, "GET")]
        writer.close()
        await assert_still_serving(port)
    finally:
        await close_server(wss)


async def test_broadcast_of_a_prepared_message() -> None:
    from nodish.ws import prepare

    wss, port = await serve(per_message_deflate=True)
    wss.on("connection", echo)
    try:
        clients = [await WebSocket(f"ws://127.0.0.1:{port}/") for _ in range(3)]
        got = [next_event(c, "message") for c in clients]
        message = prepare("to everyone")
        for ws in wss.clients or ():
            ws.send(message)
        assert [await wait_for(g) for g in got] == [("to everyone", False)] * 3
        # a client frames it again with its own mask; the server echoes it
        echoed = next_event(clients[0], "message")
        await clients[0].send(prepare(b"\x00\x01"))
        assert await wait_for(echoed) == (b"\x00\x01", True)
        for c in clients:
            c.close()
            await wait_event(c, "close")
    finally:
        await close_server(wss)


async def test_server_heartbeat_terminates_a_silent_client() -> None:
    wss, port = await serve(heartbeat=0.1)
    conns: list[WebSocket] = []
    wss.on("connection", lambda ws, req: conns.append(ws))
    try:
        reader, writer, _ = await raw_client(port)  # never answers the pings
        await until(lambda: conns)
        closed = next_event(conns[0], "close")
        assert await wait_for(closed) == (1006, "")
        data = await read_to_eof(reader)
        assert parse_frames(data)[0] == (9, b"")  # it was pinged before being dropped
        writer.close()
    finally:
        await close_server(wss)


async def test_small_frames_over_the_mark_still_get_their_drain() -> None:
    wss, port = await serve()
    conns: list[WebSocket] = []
    wss.on("connection", lambda ws, req: conns.append(ws))
    try:
        client = await WebSocket(f"ws://127.0.0.1:{port}/")
        client.pause()
        await until(lambda: conns)
        server_ws = conns[0]
        sent = 0
        while server_ws._over_base < 0:  # small frames until one write crosses the mark
            server_ws.send("x" * 100)
            sent += 1
            if sent % 1000 == 0:
                await asyncio.sleep(0)  # let the kernel's buffers fill
        assert server_ws._read_throttled
        got: list[Any] = []
        client.on("message", lambda data, is_binary: got.append(data))
        client.resume()
        # the client drains everything; the server sees 'drain' and reads again
        await until(lambda: len(got) == sent and not server_ws._read_throttled)
        assert server_ws._over_base == -1
        server_closed = next_event(server_ws, "close")
        client.close()
        await wait_for(server_closed)
    finally:
        await close_server(wss)
