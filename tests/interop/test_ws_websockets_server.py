"""nodish's WebSocket client against the ``websockets`` library's server (same process).

Echo with and without compression, subprotocols, the server closing with a code, a
server that never answers pings (heartbeat), and one that never finishes the closing
handshake (close timeout).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.conftest import TIMEOUT_FACTOR
from tests.helpers import next_event, wait_event, wait_for
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from nodish.ws import WebSocket

pytestmark = pytest.mark.interop


async def echo(conn: ServerConnection) -> None:
    try:
        async for message in conn:
            if message == "close-4002":
                await conn.close(4002, "as asked")
                return
            await conn.send(message)
    except ConnectionClosed:
        pass


@asynccontextmanager
async def server(
    handler: Callable[[ServerConnection], Any] = echo, **kw: Any
) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **kw) as srv:
        port = srv.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_echo_both_ways(compression: str | None) -> None:
    async with server(compression=compression, max_size=None) as url:
        ws = await WebSocket(url, per_message_deflate=compression is not None)
        assert ("permessage-deflate" in ws.extensions) == (compression is not None)
        items: list[Any] = ["", "héllo", b"", b"\x00" * 70000, os.urandom(1 << 20), "z" * 200000]
        got: list[Any] = []
        for item in items:
            ws.send(item)
        async for message in ws:
            got.append(message)
            if len(got) == len(items):
                break
        assert got == items
        closed = next_event(ws, "close")
        ws.close()
        assert await wait_for(closed) == (1005, "")


async def test_subprotocol_and_server_close_code() -> None:
    async with server(subprotocols=["v2", "v1"]) as url:
        ws = await WebSocket(url, ["v1", "v2"])
        assert ws.protocol in ("v1", "v2")
        closed = next_event(ws, "close")
        ws.send("close-4002")
        assert await wait_for(closed) == (4002, "as asked")


async def test_heartbeat_terminates_a_peer_that_does_not_answer() -> None:
    done = asyncio.get_running_loop().create_future()

    async def silent(conn: ServerConnection) -> None:
        conn.transport.pause_reading()  # never sees our pings, so never answers
        await done

    async with server(silent, ping_interval=None, close_timeout=0.1) as url:
        ws = await WebSocket(url, heartbeat=0.05)
        code, _reason = await wait_event(ws, "close")
        assert code == 1006
        assert ws.ready_state == WebSocket.CLOSED
        done.set_result(None)


async def test_heartbeat_keeps_an_answering_peer() -> None:
    async with server(ping_interval=None) as url:
        # generous against a loaded machine: a late pong must not look like a dead peer
        ws = await WebSocket(url, heartbeat=0.3 * TIMEOUT_FACTOR)
        for _ in range(3):
            await wait_event(ws, "pong")
        assert ws.ready_state == WebSocket.OPEN
        ws.close(1000)
        assert await wait_event(ws, "close") == (1000, "")


async def test_close_timeout_when_the_peer_never_answers_the_close() -> None:
    done = asyncio.get_running_loop().create_future()

    async def stuck(conn: ServerConnection) -> None:
        conn.transport.pause_reading()  # never sees our close frame
        await done

    async with server(stuck, close_timeout=0.1) as url:
        ws = await WebSocket(url, close_timeout=0.2)
        ws.close(1000, "bye")
        assert ws.ready_state == WebSocket.CLOSING
        assert await wait_event(ws, "close") == (1006, "")
        done.set_result(None)
