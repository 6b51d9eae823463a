"""10,000 datagrams echoed over loopback: none lost, none duplicated, none reordered.

Pacing is by a window of datagrams in flight (each echo lets the next one go), never by
time, so the kernel's buffers never overflow and every loss would be ours. Runs on
uvloop and on plain asyncio.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest
from tests.helpers import until, wait_for

from nodish import dgram

COUNT = 10_000
WINDOW = 64
PAYLOAD = b"x" * 48
BURST = 100


async def echo_server(type_: str) -> dgram.Socket:
    server = dgram.create_socket(type_)
    server.on("message", lambda msg, rinfo: server.send(msg, rinfo.port, rinfo.address))
    await server.bind(0, "::1" if type_ == "udp6" else "127.0.0.1")
    return server


async def run_window(client: dgram.Socket, send: Any) -> list[int]:
    """Send COUNT numbered datagrams, WINDOW in flight; return the numbers echoed."""
    seen: list[int] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    next_seq = 0

    def send_next() -> None:
        nonlocal next_seq
        send(struct.pack("!I", next_seq) + PAYLOAD)
        next_seq += 1

    def on_message(msg: bytes, rinfo: Any) -> None:
        seen.append(struct.unpack_from("!I", msg)[0])
        assert msg[4:] == PAYLOAD and rinfo.size == len(msg)
        if next_seq < COUNT:
            send_next()
        elif len(seen) == COUNT and not done.done():
            done.set_result(None)

    client.on("message", on_message)
    for _ in range(WINDOW):
        send_next()
    try:
        await wait_for(done)
    except asyncio.TimeoutError:
        missing = sorted(set(range(next_seq)) - set(seen))[:10]
        pytest.fail(f"{len(seen)} of {COUNT} echoed; first missing: {missing}")
    return seen


@pytest.mark.parametrize("type_", ["udp4", "udp6"])
async def test_ten_thousand_datagrams_echoed_none_lost_none_duplicated(type_: str) -> None:
    server = await echo_server(type_)
    port, host = server.address().port, server.address().address
    client = dgram.create_socket(type_)
    started = time.perf_counter()
    seen = await run_window(client, lambda data: client.send(data, port, host))
    elapsed = time.perf_counter() - started
    assert len(seen) == COUNT == len(set(seen))
    assert seen == sorted(seen)  # loopback keeps order, and so do we
    assert elapsed < 10
    await client.close()
    await server.close()


async def test_ten_thousand_datagrams_through_a_connected_socket() -> None:
    server = await echo_server("udp4")
    client = dgram.create_socket("udp4")
    await client.connect(server.address().port, "127.0.0.1")
    seen = await run_window(client, client.send)
    assert seen == list(range(COUNT))
    await client.close()
    await server.close()


async def test_send_callbacks_arrive_once_each_in_send_order() -> None:
    server = dgram.create_socket("udp4")
    await server.bind(0, "127.0.0.1")
    got = 0
    all_in: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_message(msg: bytes, rinfo: Any) -> None:
        nonlocal got
        got += 1
        if got == BURST:
            all_in.set_result(None)

    server.on("message", on_message)
    client = dgram.create_socket("udp4")
    order: list[int] = []
    for i in range(BURST):  # a burst small enough for the receive buffer
        client.send(
            b"%d" % i,
            server.address().port,
            "127.0.0.1",
            lambda err, n=None, i=i: order.append(i if err is None else -1),
        )
    await wait_for(all_in)
    await until(lambda: len(order) >= BURST)
    assert order == list(range(BURST))
    await client.close()
    await server.close()
