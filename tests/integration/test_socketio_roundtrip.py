"""nodish's Socket.IO client and server together, over each transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.helpers import next_event, until, wait_event, wait_for

from nodish import socketio

MODES = {
    "polling": {"transports": ["polling"]},
    "websocket": {"transports": ["websocket"]},
    "upgrade": {},
}


async def listening(**options: Any) -> tuple[socketio.Server, str]:
    io = socketio.Server(**options)
    await io.listen(0, "127.0.0.1")
    return io, f"http://127.0.0.1:{io.address().port}"


async def closed(io: socketio.Server) -> None:
    done = next_event(io.http_server, "close")
    io.close()
    await wait_for(done)


@pytest.mark.parametrize("mode", list(MODES))
async def test_round_trip(mode: str) -> None:
    io, url = await listening()
    events: list[Any] = []

    def on_connection(socket: socketio.Socket) -> None:
        events.append(("connection", socket.handshake["auth"], socket.handshake["query"].get("x")))
        socket.on("echo", lambda *args: args[-1](*args[:-1]))
        socket.on("join", lambda room, ack: (socket.join(room), ack(sorted(socket.rooms))))
        socket.on("shout", lambda room, msg: socket.to(room).emit("shouted", msg))
        socket.on(
            "disconnecting",
            lambda reason, *_: events.append(("disconnecting", reason, set(socket.rooms))),
        )
        socket.on("disconnect", lambda reason, *_: events.append(("disconnect", reason)))

    io.on("connection", on_connection)
    a = socketio.connect(url + "?x=1", auth={"user": "a"}, force_new=True, **MODES[mode])
    b = socketio.connect(url, force_new=True, **MODES[mode])
    await wait_event(a, "connect")
    if not b.connected:
        await wait_event(b, "connect")
    assert events[0] == ("connection", {"user": "a"}, "1")
    server_a = io.sockets.sockets[a.id]  # type: ignore[index]
    assert server_a.handshake["address"] == "127.0.0.1"
    assert isinstance(server_a.handshake["issued"], int)
    if mode == "upgrade":
        await until(lambda: server_a.conn.transport.name == "websocket")
        assert a.io.engine is not None
        await until(lambda: a.io.engine.transport.name == "websocket")  # type: ignore[union-attr]
    else:
        assert server_a.conn.transport.name == MODES[mode]["transports"][0]

    assert await a.emit_with_ack("echo", "x", {"n": [1, None]}) == "x"
    got: Any = next_event(a, "bin-back")
    server_a.emit("bin-back", b"\x00\x01" * 100, [b"\xff"])
    assert await wait_for(got) == (b"\x00\x01" * 100, [b"\xff"])
    answer = await a.emit_with_ack("echo", b"\xfe\x00")
    assert answer == b"\xfe\x00"

    # the server asks the client
    a.on("question", lambda q, ack: ack(q * 2))
    assert await server_a.emit_with_ack("question", 21, timeout=5) == 42

    # rooms, and a broadcast from one socket that skips it
    assert await b.emit_with_ack("join", "room") == sorted([b.id, "room"])
    shouted = next_event(b, "shouted")
    a.emit("shout", "room", "hey")
    assert await wait_for(shouted) == ("hey",)
    everyone = [next_event(s, "all") for s in (a, b)]
    io.emit("all", 1)
    for fut in everyone:
        assert await wait_for(fut) == (1,)
    assert sorted(s.id for s in await io.fetch_sockets()) == sorted([a.id, b.id])  # type: ignore[type-var]
    b.on("question", lambda q, ack: ack(q * 3))
    responses = await io.timeout(5).emit_with_ack("question", 1)
    assert sorted(responses) == [2, 3]

    # the client leaves; the server sees disconnecting (still in its rooms), then disconnect
    b_id = b.id
    b.disconnect()
    await until(lambda: ("disconnect", "client namespace disconnect") in events)
    assert ("disconnecting", "client namespace disconnect", {b_id, "room"}) in events

    # the server kicks a
    kicked = next_event(a, "disconnect")
    server_a.disconnect()
    assert (await wait_for(kicked))[0] == "io server disconnect"
    await closed(io)


async def test_listeners_any_listeners_and_engine_data_listeners_all_hear_an_event() -> None:
    # one listener is called inline (the common case); several, 'error' and onAny
    # take EventEmitter.emit's path: both must see what Node's would
    io, url = await listening(transports=["websocket"])
    heard: list[Any] = []

    def on_connection(socket: socketio.Socket) -> None:
        socket.on("one", lambda x, ack: (heard.append(("one", x)), ack(x + 1)))
        socket.on("two", lambda x: heard.append(("two-a", x)))
        socket.on("two", lambda x: heard.append(("two-b", x)))
        socket.on("error", lambda x: heard.append(("error", x)))
        socket.on_any(lambda *args: heard.append(("any", args[0])))
        socket.conn.on("data", lambda text: heard.append(("data", text[:1])))

    io.on("connection", on_connection)
    client = socketio.connect(url, transports=["websocket"], force_new=True)
    await wait_event(client, "connect")
    answers: list[Any] = []
    client.emit("one", 1, callback=answers.append)
    client.emit("two", 2)
    client.emit("error", 3)
    await until(lambda: answers and len(heard) == 10)
    assert answers == [2]
    assert [h for h in heard if h[0] != "data"] == [
        ("any", "one"),
        ("one", 1),
        ("any", "two"),
        ("two-a", 2),
        ("two-b", 2),
        ("any", "error"),
        ("error", 3),
    ]
    assert heard.count(("data", "2")) == 3
    client.disconnect()
    await closed(io)


async def test_acks_the_json_encoder_refuses_and_listeners_on_the_websocket_itself() -> None:
    # an ack of plain JSON is one text message made at once; NaN, binary and a namespace
    # take encode_parts' careful path. A 'message' listener added to the session's own
    # WebSocket hears every message, and events go on (its receiver then delivers through
    # the WebSocket's events rather than to the transport directly)
    io, url = await listening(transports=["websocket"])
    raw: list[Any] = []
    sessions: list[Any] = []

    def on_connection(socket: socketio.Socket) -> None:
        socket.on("echo", lambda *args: args[-1](*args[:-1]))
        sessions.append(socket.conn)

    io.on("connection", on_connection)
    io.of("/chat").on("connection", on_connection)
    client = socketio.connect(url, transports=["websocket"], force_new=True)
    chat = client.io.socket("/chat")
    chat.connect()
    await wait_event(client, "connect")
    if not chat.connected:
        await wait_event(chat, "connect")
    odd = [float("nan"), b"\x00\x01", "\u00e9\u20ac", {"k": [1, None, 2.5]}]
    want = [None, b"\x00\x01", "\u00e9\u20ac", {"k": [1, None, 2.5]}]

    async def echo(sock: Any, *args: Any) -> list[Any]:
        fut = asyncio.get_running_loop().create_future()
        sock.emit("echo", *args, callback=lambda *answer: fut.set_result(list(answer)))
        return await wait_for(fut)  # type: ignore[no-any-return]

    for sock in (client, chat):
        assert await echo(sock, *odd) == want
        assert await echo(sock, "plain", 1) == ["plain", 1]
    ws = sessions[0].transport.ws
    ws.on("message", lambda data, is_binary: raw.append(data))
    for sock in (client, chat):
        assert await echo(sock, "heard") == ["heard"]
        assert await echo(sock, *odd) == want
    # per namespace: a plain EVENT, then one with an attachment (its text, then its bytes)
    assert [r[:8] if isinstance(r, str) else r for r in raw] == [
        "42" + raw[0][2:8],
        "451-" + raw[1][4:8],
        b"\x00\x01",
        "42/chat,",
        "451-/cha",
        b"\x00\x01",
    ]
    chat.disconnect()
    client.disconnect()
    await closed(io)
