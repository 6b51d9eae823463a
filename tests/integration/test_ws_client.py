"""The WebSocket client against raw TCP servers: timeouts, headers, a server that breaks
the protocol (masked frames, bad UTF-8), and one that answers something else."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers import next_event, until, wait_for

from nodish.ws import WebSocket, WebSocketError
from nodish.ws.frames import apply_mask
from nodish.ws.handshake import accept_key

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]], Awaitable[None]]


async def raw_server(handler: Handler, *, answer: bool = True) -> asyncio.Server:
    """A TCP server reading the upgrade request; with ``answer``, it accepts it."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {}
        for line in head.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if answer:
            writer.write(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept_key(headers['sec-websocket-key'])}\r\n\r\n"
                ).encode()
            )
        await handler(reader, writer, headers)

    return await asyncio.start_server(on_client, "127.0.0.1", 0)


def url(server: asyncio.Server) -> str:
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/path?q=1"


async def test_handshake_timeout_and_request_headers() -> None:
    seen: list[dict[str, str]] = []
    done = asyncio.get_running_loop().create_future()

    async def silent(reader: Any, writer: Any, headers: dict[str, str]) -> None:
        seen.append(headers)
        await done
        writer.close()

    server = await raw_server(silent, answer=False)
    try:
        ws = WebSocket(url(server), headers={"X-Token": "abc"}, handshake_timeout=0.2)
        err = next_event(ws, "error")
        closed = next_event(ws, "close")
        (e,) = await wait_for(err)
        assert isinstance(e, WebSocketError) and "timed out" in str(e)
        assert await wait_for(closed) == (1006, "")
        assert seen[0]["x-token"] == "abc"
        assert seen[0]["sec-websocket-version"] == "13"
        assert "permessage-deflate" in seen[0]["sec-websocket-extensions"]
    finally:
        done.set_result(None)
        server.close()


async def assert_client_fails(frame: bytes, code: int, err_code: str) -> None:
    received: list[bytes] = []

    async def bad(reader: asyncio.StreamReader, writer: Any, headers: Any) -> None:
        writer.write(b"\x81\x05hello" + frame)  # a valid message, then the fault
        received.append(await reader.read())  # everything the client sends, to its FIN
        writer.close()

    server = await raw_server(bad)
    try:
        ws = WebSocket(url(server))
        messages: list[Any] = []
        ws.on("message", lambda data, is_binary: messages.append(data))
        err = next_event(ws, "error")
        closed = next_event(ws, "close")
        (e,) = await wait_for(err)
        assert e.code == err_code and e.status_code == code
        assert messages == ["hello"]
        await wait_for(closed)
        await until(lambda: received)
        data = received[0]
        # the client's close frame is masked (5.1): unmask and read the code
        assert data[0] == 0x88 and data[1] == 0x82
        assert struct.unpack("!H", apply_mask(data[6:8], data[2:6]))[0] == code
    finally:
        server.close()


async def test_a_masked_server_frame_is_1002() -> None:
    key = os.urandom(4)
    await assert_client_fails(
        b"\x81\x82" + key + apply_mask(b"hi", key), 1002, "WS_ERR_UNEXPECTED_MASK"
    )


async def test_invalid_utf8_from_the_server_is_1007() -> None:
    await assert_client_fails(b"\x81\x02\xc3\x28", 1007, "WS_ERR_INVALID_UTF8")


async def test_a_reserved_opcode_from_the_server_is_1002() -> None:
    await assert_client_fails(b"\x8b\x00", 1002, "WS_ERR_INVALID_OPCODE")
