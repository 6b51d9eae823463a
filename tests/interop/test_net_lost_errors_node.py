"""The error a connection ends with when the peer breaks it: Node's code, syscall and
message, the same script run in Node and in nodish against the same misbehaving peer.

The peer is a raw socket on the test's side. Node names the call that found the error:
``read`` when the socket was reading, ``write`` when only a write could find it (reading
paused, or over after the peer's FIN), and EPIPE always comes from a write.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.helpers import NodeProcess, next_event, wait_for

from nodish import net, timers

# A client that writes 'tick' every 5 ms from its connect until it is destroyed.
JS_CLIENT = r"""
const net = require('net');
const [port, mode] = [Number(process.argv[1]), process.argv[2]];
const log = [];
const s = net.connect({port, host: '127.0.0.1', allowHalfOpen: true});
if (mode === 'paused') s.pause(); else s.resume();
s.on('end', () => log.push(['end']));
s.on('error', (e) => log.push(['error', e.code, e.syscall, e.message]));
s.on('close', (h) => { log.push(['close', h]); console.log(JSON.stringify(log)); });
s.on('connect', () => {
  if (mode === 'reading') return void s.write('hello');
  const t = setInterval(() => { if (s.destroyed) clearInterval(t); else s.write('tick'); }, 5);
});
"""


async def py_client(port: int, mode: str) -> list[Any]:
    log: list[Any] = []
    s = net.connect(port, "127.0.0.1", allow_half_open=True)
    if mode == "paused":
        s.pause()
    else:
        s.resume()
    s.on("end", lambda: log.append(["end"]))
    s.on("error", lambda e: log.append(["error", e.code, e.syscall, str(e)]))
    closed = next_event(s, "close")
    await wait_for(next_event(s, "connect"))
    if mode == "reading":
        s.write("hello")
    else:
        ticker = timers.set_interval(lambda: s.destroyed or s.write("tick"), 0.005)
        s.on("close", lambda _had_error: timers.clear_interval(ticker))
    (had_error,) = await wait_for(closed)
    log.append(["close", had_error])
    return log


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


async def gone_after_fin(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    # FIN, the first tick read, then closed: the next tick is answered with RST, and the
    # write after that fails with EPIPE (the RST came after the peer's FIN).
    conn.shutdown(socket.SHUT_WR)
    await loop.sock_recv(conn, 4)
    conn.close()


async def flood_then_reset(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    # The paused client stops reading; once the kernel buffers between are full, RST:
    # only the client's next write can find it. (Not before its first tick: a RST that
    # comes before the loop has seen the connect complete fails the connect itself.)
    await loop.sock_recv(conn, 4)
    chunk = b"x" * 65536
    while True:
        try:
            conn.send(chunk)
        except BlockingIOError:
            break
    reset(conn)


async def reset_while_reading(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    await loop.sock_recv(conn, 5)
    reset(conn)


PEERS: dict[
    str, tuple[str, Callable[[asyncio.AbstractEventLoop, socket.socket], Awaitable[None]]]
] = {
    "write_EPIPE_after_the_peers_fin": ("ticking", gone_after_fin),
    "write_ECONNRESET_while_paused": ("paused", flood_then_reset),
    "read_ECONNRESET_while_reading": ("reading", reset_while_reading),
}


async def run_against_peer(name: str, client: Callable[[int], Awaitable[list[Any]]]) -> list[Any]:
    loop = asyncio.get_running_loop()
    _mode, behave = PEERS[name]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        running = asyncio.ensure_future(client(port))
        conn, _ = await wait_for(loop.sock_accept(listener))
        conn.setblocking(False)
        with conn:
            await wait_for(behave(loop, conn))
        return await wait_for(running)


async def node_client(port: int, mode: str) -> list[Any]:
    node = await NodeProcess.start(JS_CLIENT, str(port), mode)
    log = await node.message()
    assert await node.finish() == 0
    return log  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", list(PEERS))
async def test_same_error_as_node(name: str) -> None:
    mode = PEERS[name][0]
    expected = await run_against_peer(name, lambda port: node_client(port, mode))
    got = await run_against_peer(name, lambda port: py_client(port, mode))
    assert got == expected
    code, syscall = name.split("_")[1], name.split("_")[0]
    assert expected[-2][1:3] == [code, syscall]  # the scenario is the one it is named after
