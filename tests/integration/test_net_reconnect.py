"""Reconnecting a socket after ``'close'`` (Node's documented use of ``socket.connect``).

Node's oracle for the event sequence: tests/interop/test_net_node_oracle.py.
"""

from __future__ import annotations

import socket

import pytest
from tests.helpers import next_event, wait_event, wait_for

from nodish import errors, net


async def echo_server() -> net.Server:
    server = net.create_server(lambda s: s.pipe(s))
    await server.listen(0, "127.0.0.1")
    return server


async def round_trip(sock: net.Socket, text: bytes) -> bytes:
    closed = next_event(sock, "close")
    sock.end(text)
    got = b"".join([c async for c in sock])
    assert await wait_for(closed) == (False,)
    return got


async def test_a_closed_socket_connects_again_with_its_listeners() -> None:
    server = await echo_server()
    port = server.address().port
    connects: list[int | None] = []
    sock = net.Socket()
    sock.on("connect", lambda: connects.append(sock.local_port))
    await sock.connect(port, "127.0.0.1")
    assert await round_trip(sock, b"first") == b"first"
    assert sock.ready_state == "closed"
    await sock.connect(port, "127.0.0.1")
    assert sock.ready_state == "open" and not sock.destroyed and sock.errored is None
    assert sock.bytes_read == 0 and sock.bytes_written == 0
    assert await round_trip(sock, b"second") == b"second"
    assert sock.bytes_read == 6
    assert len(connects) == 2 and connects[0] != connects[1]
    server.close()
    await wait_event(server, "close")


async def test_a_socket_whose_connect_failed_connects_again() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on port now
    sock = net.connect(port, "127.0.0.1")
    failed = next_event(sock, "error")
    closed = next_event(sock, "close")
    assert (await wait_for(failed))[0].code == "ECONNREFUSED"
    assert await wait_for(closed) == (True,)
    server = await echo_server()
    await sock.connect(server.address().port, "127.0.0.1")
    assert await round_trip(sock, b"after a refusal") == b"after a refusal"
    server.close()
    await wait_event(server, "close")


async def test_connect_while_connected_or_closing_is_ERR_INVALID_STATE() -> None:
    server = await echo_server()
    port = server.address().port
    sock = net.connect(port, "127.0.0.1")
    with pytest.raises(errors.ERR_INVALID_STATE):
        sock.connect(port, "127.0.0.1")  # connecting
    await sock
    with pytest.raises(errors.ERR_INVALID_STATE):
        sock.connect(port, "127.0.0.1")  # connected
    closed = next_event(sock, "close")
    sock.destroy()
    with pytest.raises(errors.ERR_INVALID_STATE):
        sock.connect(port, "127.0.0.1")  # destroyed, 'close' still to come
    await wait_for(closed)
    await sock.connect(port, "127.0.0.1")
    sock.destroy()
    await wait_event(sock, "close")
    server.close()
    await wait_event(server, "close")
