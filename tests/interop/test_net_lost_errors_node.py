"""The error a connection ends with when the peer breaks it: Node's code, syscall and
message, the same script run in Node and in nodish against the same misbehaving peer.

The peer is a raw socket on the test's side. Node names the call that found the error:
``read`` when the socket was reading, ``write`` when only a write could find it (reading
paused, or over after the peer's FIN), and EPIPE always comes from a write. The same
holds over TLS (a tls client against a TLS peer that misbehaves the same way).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.helpers import NodeProcess, next_event, wait_for
from tests.tls_fixtures import pki

from nodish import net, timers, tls

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


# -- the same over TLS: the client ticks from its 'secureConnect' --------------------

JS_TLS_CLIENT = r"""
const tls = require('tls');
const [port, mode] = [Number(process.argv[1]), process.argv[2]];
const log = [];
const s = tls.connect({port, host: '127.0.0.1', rejectUnauthorized: false, allowHalfOpen: true});
if (mode === 'paused') s.pause();
s.on('end', () => log.push(['end']));
s.on('error', (e) => log.push(['error', e.code, e.syscall, e.message]));
s.on('close', (h) => { log.push(['close', h]); console.log(JSON.stringify(log)); });
s.on('secureConnect', () => {
  const t = setInterval(() => { if (s.destroyed) clearInterval(t); else s.write('tick'); }, 5);
});
"""


async def py_tls_client(port: int, mode: str) -> list[Any]:
    log: list[Any] = []
    s = tls.connect(port, "127.0.0.1", reject_unauthorized=False, allow_half_open=True)
    if mode == "paused":
        s.pause()
    s.on("end", lambda: log.append(["end"]))
    s.on("error", lambda e: log.append(["error", e.code, e.syscall, str(e)]))
    closed = next_event(s, "close")

    def on_secure() -> None:
        ticker = timers.set_interval(lambda: s.destroyed or s.write("tick"), 0.005)
        s.on("close", lambda _had_error: timers.clear_interval(ticker))

    s.on("secureConnect", on_secure)
    (had_error,) = await wait_for(closed)
    log.append(["close", had_error])
    return log


def tls_peer(listener: socket.socket, ctx: ssl.SSLContext, mode: str) -> None:
    """The TLS peer, in a thread: a RST in the handshake; or the first tick read, then as
    the plain peers above (a FIN without close_notify, then gone; or a flood, then RST)."""
    conn, _ = listener.accept()
    conn.settimeout(10)
    if mode == "handshake":
        conn.recv(5)  # the ClientHello's record header
        reset(conn)
        return
    s = ctx.wrap_socket(conn, server_side=True)
    s.recv(4)
    if mode == "ticking":
        s.shutdown(socket.SHUT_WR)
        s.recv(4)
        s.close()
        return
    s.setblocking(False)
    try:
        while True:
            s.send(b"x" * 16384)
    except (ssl.SSLWantWriteError, BlockingIOError):
        pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


TLS_PEERS = {  # the client's mode, the peer's
    "write_EPIPE_after_the_peers_fin": ("ticking", "ticking"),
    "write_ECONNRESET_while_paused": ("paused", "flood"),
    # paused before its handshake, which reads all the same
    "read_ECONNRESET_in_the_handshake_while_paused": ("paused", "handshake"),
}


@pytest.mark.parametrize("name", list(TLS_PEERS))
async def test_same_error_as_node_over_tls(name: str, tmp_path: Any) -> None:
    mode, peer_mode = TLS_PEERS[name]
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    opts = pki().server_options()
    key.write_bytes(opts["key"])  # type: ignore[arg-type]
    cert.write_bytes(opts["cert"])  # type: ignore[arg-type]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    async def against_peer(client: Callable[[int], Awaitable[list[Any]]]) -> list[Any]:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            peer = threading.Thread(target=tls_peer, args=(listener, ctx, peer_mode))
            peer.start()
            try:
                return await client(listener.getsockname()[1])
            finally:
                await asyncio.get_running_loop().run_in_executor(None, peer.join)

    async def node(port: int) -> list[Any]:
        proc = await NodeProcess.start(JS_TLS_CLIENT, str(port), mode)
        log = await proc.message()
        assert await proc.finish() == 0
        return log  # type: ignore[no-any-return]

    expected = await against_peer(node)
    got = await against_peer(lambda port: py_tls_client(port, mode))
    assert got == expected
    code, syscall = name.split("_")[1], name.split("_")[0]
    assert expected[-2][1:3] == [code, syscall]
