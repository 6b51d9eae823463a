"""Careless and hostile use of the Socket.IO API: clear errors at once, nobody else hurt."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any
from unittest.mock import ANY

import pytest
from tests.helpers import next_event, until, wait_event, wait_for

from nodish import http, process, socketio
from nodish.errors import ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE
from nodish.socketio.engine_client import EngineClient
from nodish.ws import WebSocketServer


async def started() -> tuple[socketio.Server, str]:
    io = socketio.Server()
    await io.listen(0, "127.0.0.1")
    return io, f"http://127.0.0.1:{io.address().port}"


async def stopped(io: socketio.Server) -> None:
    done = next_event(io.http_server, "close")
    io.close()
    await wait_for(done)


def ws_client(url: str, **kw: Any) -> socketio.ClientSocket:
    return socketio.connect(url, transports=["websocket"], force_new=True, **kw)


async def test_bad_arguments_raise_at_once() -> None:
    io, url = await started()
    sock = ws_client(url)
    await wait_event(sock, "connect")
    (server_sock,) = io.sockets.sockets.values()
    for target in (sock, server_sock, io, io.to("room")):
        with pytest.raises(ERR_INVALID_ARG_TYPE):
            target.emit(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="reserved"):
            target.emit("disconnect")
        with pytest.raises(ERR_INVALID_ARG_TYPE):
            target.emit("x", callback="not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        io.of(7)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        io.use("not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        socketio.connect(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        socketio.connect("ftp://127.0.0.1:1/")
    # everything still works after the refusals
    server_sock.on("echo", lambda x, ack: ack(x))
    assert await sock.emit_with_ack("echo", "fine") == "fine"
    sock.disconnect()
    await stopped(io)


SERVER_OPTIONS = [
    ({"transports": "websocket"}, ERR_INVALID_ARG_TYPE),  # a str is not a list of names
    ({"transports": ["carrier-pigeon"]}, ERR_INVALID_ARG_VALUE),
    ({"transports": []}, ERR_INVALID_ARG_VALUE),
    ({"ping_interval": "25"}, ERR_INVALID_ARG_TYPE),
    ({"ping_timeout": -1}, ERR_OUT_OF_RANGE),
    ({"connect_timeout": None}, ERR_INVALID_ARG_TYPE),
    ({"upgrade_timeout": float("nan")}, ERR_OUT_OF_RANGE),
    ({"max_http_buffer_size": "1e6"}, ERR_INVALID_ARG_TYPE),
    ({"max_http_buffer_size": 0}, ERR_OUT_OF_RANGE),
    ({"path": 5}, ERR_INVALID_ARG_TYPE),
    ({"cors": "*"}, ERR_INVALID_ARG_TYPE),
    ({"adapter": "redis"}, ERR_INVALID_ARG_TYPE),
    ({"allow_request": True}, ERR_INVALID_ARG_TYPE),
    ({"http_server": "localhost:3000"}, ERR_INVALID_ARG_TYPE),
]
CLIENT_OPTIONS = [
    ({"transports": "polling"}, ERR_INVALID_ARG_TYPE),
    ({"transports": ["pigeon"]}, ERR_INVALID_ARG_VALUE),
    ({"reconnection_delay": "1"}, ERR_INVALID_ARG_TYPE),
    ({"reconnection_delay_max": -5}, ERR_OUT_OF_RANGE),
    ({"randomization_factor": 2}, ERR_OUT_OF_RANGE),
    ({"reconnection_attempts": -1}, ERR_OUT_OF_RANGE),
    ({"timeout": "20"}, ERR_INVALID_ARG_TYPE),
    ({"query": "a=1"}, ERR_INVALID_ARG_TYPE),
    ({"auth": "token"}, ERR_INVALID_ARG_TYPE),
    ({"path": None}, ERR_INVALID_ARG_TYPE),
]


async def test_wrong_options_raise_at_once_with_node_codes() -> None:
    # Node's socket.io takes any option and fails later (a string of transports is
    # searched as text; a delay given as a string breaks the reconnection timer inside
    # a callback): here the call itself raises
    for options, error in SERVER_OPTIONS:
        with pytest.raises(error):
            socketio.Server(**options)
    io, url = await started()
    with pytest.raises(ERR_INVALID_ARG_TYPE):
        io.attach(None)
    for options, error in CLIENT_OPTIONS:
        with pytest.raises(error):
            socketio.connect(url, force_new=True, **options)
    # nothing was left half made: the server serves a client with good options
    io.on("connection", lambda s: s.on("echo", lambda x, ack: ack(x)))
    sock = socketio.connect(
        url, force_new=True, transports=["websocket"], auth=lambda cb: cb({"t": 1})
    )
    assert await sock.timeout(5).emit_with_ack("echo", "fine") == "fine"
    sock.disconnect()
    await stopped(io)


async def test_a_listener_that_raises_disconnects_its_socket_alone() -> None:
    io, url = await started()
    uncaught: list[BaseException] = []
    process.on("uncaughtException", lambda exc, origin: uncaught.append(exc))

    def on_connection(socket: socketio.Socket) -> None:
        def boom(*_: Any) -> None:
            raise RuntimeError("listener bug")

        socket.on("boom", boom)
        socket.on("echo", lambda x, ack: ack(x))

    io.on("connection", on_connection)
    try:
        bad, good = ws_client(url), ws_client(url)
        for s in (bad, good):
            if not s.connected:
                await wait_event(s, "connect")
        kicked = next_event(bad, "disconnect")
        bad.emit("boom")
        assert (await wait_for(kicked))[0] == "io server disconnect"
        assert [str(e) for e in uncaught] == ["listener bug"]
        assert await good.emit_with_ack("echo", 1) == 1
        good.disconnect()
        bad.disconnect()
    finally:
        process.remove_all_listeners("uncaughtException")
    await stopped(io)


async def test_ack_timeouts_on_both_sides() -> None:
    io, url = await started()
    sock = ws_client(url)
    await wait_event(sock, "connect")
    (server_sock,) = io.sockets.sockets.values()
    server_sock.on("silent", lambda *args: None)
    sock.on("silent", lambda *args: None)
    with pytest.raises(TimeoutError):
        await sock.emit_with_ack("silent", 1, timeout=0.2)
    with pytest.raises(TimeoutError):
        await server_sock.emit_with_ack("silent", 1, timeout=0.2)
    fut = asyncio.get_running_loop().create_future()
    server_sock.timeout(0.2).emit("silent", callback=lambda *a: fut.set_result(a))
    (err,) = await wait_for(fut)
    assert isinstance(err, TimeoutError)
    answered = asyncio.get_running_loop().create_future()
    sock.on("asked", lambda ack: ack("yes"))
    server_sock.timeout(5).emit("asked", callback=lambda *a: answered.set_result(a))
    assert await wait_for(answered) == (None, "yes")
    sock.disconnect()
    await stopped(io)


async def test_client_without_a_server_reports_connect_error_then_retries() -> None:
    io, url = await started()
    await stopped(io)  # the port is free again: nobody listens
    sock = socketio.connect(
        url,
        transports=["websocket"],
        force_new=True,
        reconnection_delay=0.05,
        reconnection_delay_max=0.1,
    )
    (err,) = await wait_event(sock, "connect_error")
    assert isinstance(err, Exception)
    await wait_event(sock.io, "reconnect_attempt")
    sock.disconnect()
    once = socketio.connect(url, transports=["websocket"], force_new=True, reconnection=False)
    await wait_event(once, "connect_error")
    once.disconnect()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
async def test_what_was_sent_before_a_close_arrives_first(transports: list[str]) -> None:
    io, url = await started()
    sock = socketio.connect(url, transports=transports, force_new=True, reconnection=False)
    await wait_event(sock, "connect")
    (server_sock,) = io.sockets.sockets.values()
    got: list[Any] = []
    sock.on("last", got.append)
    bye = next_event(sock, "disconnect")
    server_sock.emit("last", 1)
    server_sock.emit("last", b"\x02")
    server_sock.disconnect(close=True)
    assert (await wait_for(bye))[0] == "io server disconnect"
    assert got == [1, b"\x02"]
    await stopped(io)


async def test_coroutine_middleware_and_listeners() -> None:
    io, url = await started()

    async def check_token(socket: socketio.Socket, next_: Any) -> None:
        await asyncio.sleep(0)  # a lookup somewhere
        if socket.handshake["auth"].get("token") != "ok":
            err = PermissionError("denied")
            err.data = {"why": "token"}  # type: ignore[attr-defined]
            raise err
        socket.data["user"] = "u1"
        next_()

    io.use(check_token)

    def on_connection(socket: socketio.Socket) -> None:
        async def whoami(ack: Any) -> None:
            await asyncio.sleep(0)
            ack(socket.data["user"])

        socket.on("whoami", whoami)

    io.on("connection", on_connection)
    refused = ws_client(url, auth={"token": "bad"}, reconnection=False)
    (err,) = await wait_event(refused, "connect_error")
    assert (str(err), err.data) == ("denied", {"why": "token"})
    refused.disconnect()
    accepted = ws_client(url, auth={"token": "ok"})
    assert await accepted.timeout(5).emit_with_ack("whoami") == "u1"
    accepted.disconnect()
    await stopped(io)


async def test_calls_from_another_thread_raise_err_invalid_thread() -> None:
    io, url = await started()
    sock = ws_client(url)
    await wait_event(sock, "connect")
    (server_sock,) = io.sockets.sockets.values()
    calls: dict[str, Any] = {
        "Socket.emit": lambda: server_sock.emit("x"),
        "Socket.join": lambda: server_sock.join("room"),
        "Socket.leave": lambda: server_sock.leave("room"),
        "sockets_join": lambda: io.sockets_join("room"),
        "disconnect_sockets": lambda: io.in_("room").disconnect_sockets(),
        "server_side_emit": lambda: io.server_side_emit("x"),
        "Socket.disconnect": lambda: server_sock.disconnect(),
        "Server.emit": lambda: io.emit("x"),
        "to.emit": lambda: io.to("room").emit("x"),
        "Server.close": lambda: io.close(),
        "ClientSocket.emit": lambda: sock.emit("x"),
        "ClientSocket.disconnect": lambda: sock.disconnect(),
    }

    def from_thread() -> dict[str, str]:
        raised = {}
        for name, call in calls.items():
            try:
                call()
                raised[name] = "returned"
            except Exception as exc:
                raised[name] = getattr(exc, "code", repr(exc))
        return raised

    raised = await asyncio.get_running_loop().run_in_executor(None, from_thread)
    assert raised == dict.fromkeys(calls, "ERR_INVALID_THREAD")
    # nothing was touched: the same pair still talks
    server_sock.on("echo", lambda x, ack: ack(x))
    assert await sock.emit_with_ack("echo", "fine") == "fine"
    sock.disconnect()
    await stopped(io)


async def test_values_json_cannot_carry_raise_with_nothing_left_behind() -> None:
    # Node's JSON.stringify sends a Set as {} silently; here the emit raises TypeError
    io, url = await started()
    early = ws_client(url)
    with pytest.raises(TypeError):
        early.emit("x", {1, 2})  # buffered until connected: refused now, not at connect
    await wait_event(early, "connect")
    (server_sock,) = io.sockets.sockets.values()
    for side in (early, server_sock):
        with pytest.raises(TypeError):
            side.emit("x", {1, 2}, callback=lambda *a: None)
        with pytest.raises(TypeError):
            side.timeout(0.05).emit("x", object(), callback=lambda *a: None)
        assert side.acks == {}
    # bytes anywhere inside the arguments travel as binary attachments, both ways
    nested = {"a": b"\x00\x01", "l": [b"z", {"b": b""}], "n": None}
    server_sock.on("echo", lambda x, ack: ack(x))
    early.on("echo", lambda x, ack: ack(x))
    assert await early.emit_with_ack("echo", nested) == nested
    assert await server_sock.emit_with_ack("echo", nested) == nested
    early.disconnect()
    await stopped(io)


async def test_reconnection_to_a_closed_port_gives_up_after_its_attempts() -> None:
    io, url = await started()
    await stopped(io)
    uncaught: list[BaseException] = []
    process.on("uncaughtException", lambda exc, origin: uncaught.append(exc))
    try:
        sock = socketio.connect(
            url,
            transports=["websocket"],
            force_new=True,
            reconnection_attempts=3,
            reconnection_delay=0.02,
            reconnection_delay_max=1,
            randomization_factor=0,
        )
        attempts: list[tuple[int, float]] = []
        loop = asyncio.get_running_loop()
        sock.io.on("reconnect_attempt", lambda n: attempts.append((n, loop.time())))
        failed = loop.create_future()
        sock.io.on("reconnect_failed", lambda: failed.set_result(None))
        await wait_for(failed)  # the manager's 'error's along the way are expected
        assert [n for n, _ in attempts] == [1, 2, 3]
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts)]
        assert gaps[0] >= 0.039 and gaps[1] >= 0.079  # the backoff doubles: 40 ms, 80 ms
        assert not sock.connected
        assert uncaught == []  # the failing WebSocket closed quietly
    finally:
        process.remove_all_listeners("uncaughtException")


async def test_middleware_that_never_answers_or_answers_twice() -> None:
    # Node: a middleware calling next() twice emits 'connection' twice (and the client
    # 'connect' twice); here the second call is ignored. One that never answers: the
    # server closes the connection after connect_timeout, the client hears 'disconnect'
    io = socketio.Server(connect_timeout=0.3)
    await io.listen(0, "127.0.0.1")
    url = f"http://127.0.0.1:{io.address().port}"

    def middleware(socket: socketio.Socket, next: Any) -> None:
        mode = socket.handshake["auth"].get("mode")
        if mode == "twice":
            next()
            next()
        elif mode != "hang":
            next()

    connections: list[Any] = []
    io.use(middleware)
    io.on(
        "connection",
        lambda s: (connections.append(s.handshake["auth"]), s.on("echo", lambda x, ack: ack(x))),
    )
    hung = socketio.connect(url, auth={"mode": "hang"}, force_new=True, reconnection=False)
    twice = ws_client(url, auth={"mode": "twice"})
    connects: list[Any] = []
    twice.on("connect", lambda: connects.append(twice.id))
    assert await wait_event(hung, "disconnect") == ("transport close", ANY)
    assert not hung.connected
    assert await twice.emit_with_ack("echo", 1) == 1
    assert connections == [{"mode": "twice"}] and len(connects) == 1
    good = ws_client(url)
    await wait_event(good, "connect")
    assert await good.emit_with_ack("echo", "fine") == "fine"
    for s in (hung, twice, good):
        s.disconnect()
    await stopped(io)


async def test_odd_rooms_double_acks_zero_timeouts_and_use_after_close() -> None:
    # each as Node's socket.io 4.8.1 on the same script
    io, url = await started()
    sock = ws_client(url)
    await wait_event(sock, "connect")
    (server_sock,) = io.sockets.sockets.values()
    server_sock.join(123)
    server_sock.join(None)
    got = []
    sock.on("room", lambda x: got.append(x))
    io.to(123).emit("room", "number")
    io.to("123").emit("room", "string")  # another room
    io.to(None).emit("room", "none")
    server_sock.on("twice", lambda ack: (ack(1), ack(2)))
    assert await sock.emit_with_ack("twice") == 1  # the second answer is ignored
    assert got == ["number", "none"]
    # the client's on_any (socket.io-client's onAny) hears every event first
    heard: list[Any] = []
    sock.on_any(lambda *args: heard.append(("any", *args)))
    sock.on("room", lambda x: heard.append(x))
    with pytest.raises(ERR_INVALID_ARG_TYPE):
        sock.on_any("not a function")  # type: ignore[arg-type]
    io.to(123).emit("room", "again")
    await until(lambda: len(heard) == 2)
    assert heard == [("any", "room", "again"), "again"] and len(sock.listeners_any()) == 1
    for t in (0, -1):  # accepted, as Node's timeout(0): 1 ms
        with pytest.raises(TimeoutError):
            await sock.emit_with_ack("unanswered", timeout=t)
        with pytest.raises(TimeoutError):
            await server_sock.emit_with_ack("unanswered", timeout=t)
    # a client that disconnects while connecting: no events, and no session left behind
    seen: list[Any] = []
    io.engine.on("connection", seen.append)
    early = socketio.connect(url, force_new=True)
    events: list[str] = []
    for name in ("connect", "connect_error", "disconnect"):
        early.on(name, lambda *_, name=name: events.append(name))
    early.disconnect()
    # and one that disconnects once its handshake reached the server, before the answer
    late = socketio.connect(url, force_new=True, query={"late": "1"})
    late.on("connect", lambda: events.append("late connect"))
    io.engine.once("connection", lambda _session: late.disconnect())  # early's or late's
    await until(lambda: any("late" in str(s.request.url) for s in seen))
    await until(lambda: len(io.engine.clients) == 1)  # only sock's
    assert events == [] and not early.connected and not late.connected
    sock.disconnect()
    await stopped(io)
    io.close()  # twice: harmless
    assert io.emit("x") is True and server_sock.emit("x") is True  # sends nothing


async def test_a_server_that_stops_pinging_is_left_with_ping_timeout() -> None:
    # a bare Engine.IO server that connects the namespace, then says nothing: the client
    # gives up after ping_interval + ping_timeout, as socket.io-client, and reconnects
    wss = await WebSocketServer(port=0, host="127.0.0.1")
    sessions: list[Any] = []

    def on_connection(ws: Any, *_: Any) -> None:
        sessions.append(ws)
        handshake = {"sid": f"s{len(sessions)}", "upgrades": [], "pingInterval": 100}
        ws.send("0" + json.dumps({**handshake, "pingTimeout": 200}))
        ws.on(
            "message", lambda data, binary: str(data).startswith("40") and ws.send('40{"sid":"n"}')
        )

    wss.on("connection", on_connection)
    url = f"http://127.0.0.1:{wss.address().port}"
    sock = ws_client(url, reconnection_delay=0.01, reconnection_delay_max=0.01)
    await wait_event(sock, "connect")
    assert await wait_event(sock, "disconnect", timeout=5) == ("ping timeout", None)
    await wait_event(sock, "connect")  # reconnected on a new session
    assert len(sessions) == 2
    sock.disconnect()
    for ws in sessions:
        ws.terminate()
    closed = next_event(wss, "close")
    wss.close()
    await wait_for(closed)


async def test_a_session_closed_during_the_upgrade_probe_closes_the_probe() -> None:
    # a bare Engine.IO server: the handshake offers "websocket", the probe is never
    # answered; closing the client then must close the probe's WebSocket too
    server = http.create_server()
    polls: list[Any] = []

    def on_request(req: Any, res: Any) -> None:
        if "sid=" not in req.url:
            handshake = {"sid": "s1", "upgrades": ["websocket"], "pingInterval": 25000}
            res.end("0" + json.dumps({**handshake, "pingTimeout": 20000, "maxPayload": 1000}))
        elif req.method == "GET":
            polls.append(res)  # held
        else:
            req.resume()
            req.on("end", lambda: res.end("ok"))

    server.on("request", on_request)
    wss = WebSocketServer(server=server)
    await server.listen(0, "127.0.0.1")
    client = EngineClient(f"http://127.0.0.1:{server.address().port}")
    await wait_event(client, "open")
    await wait_event(wss, "connection")
    (probe,) = wss.clients
    closed = next_event(probe, "close")
    client.close()
    await wait_for(closed)
    for res in polls:
        res.end()
    wss.close()
    server.close()
    await wait_event(server, "close")


async def test_close_calls_back_once_its_http_server_has_closed() -> None:
    io, url = await started()
    sock = ws_client(url, reconnection=False)
    await wait_event(sock, "connect")
    gone = next_event(sock, "disconnect")
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    io.close(lambda *args: done.set_result((args, io.http_server.listening)))
    assert await wait_for(done) == ((), False)  # as Node's fn(): no error
    assert (await wait_for(gone))[0] == "transport close"
    # a server that never listened calls back too
    idle = socketio.Server()
    called: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    idle.close(lambda *args: called.set_result(args))
    assert await wait_for(called) == ()


async def test_a_long_burst_in_one_turn_is_written_as_it_grows_and_arrives_in_order() -> None:
    # 600 emits in one turn of the loop: the client starts reading while the server still
    # emits (a write per 256 frames, not one at the turn's end), and direct emits mixed
    # with broadcasts (whose frames are built once for all) arrive in order, each once
    io, url = await started()
    one, two = ws_client(url), ws_client(url)
    connected = [next_event(one, "connect"), next_event(two, "connect")]
    for fut in connected:
        await wait_for(fut)
    got: dict[str, list[int]] = {"one": [], "two": []}
    one.on("n", got["one"].append)
    two.on("n", got["two"].append)
    target = io.sockets.sockets[one.id]
    wire = target.client.conn.transport.ws._socket
    written: list[int] = []
    for i in range(600):
        if i % 2:
            io.emit("n", i)
        else:
            target.emit("n", i)
        if i in (0, 299):
            written.append(wire.bytes_written)
    # 300 frames into the turn, more than the first one has gone out already
    frame = 10  # at least: header, "42" and ["n",0]
    assert written[1] - written[0] >= 256 * frame
    await until(lambda: len(got["one"]) == 600 and len(got["two"]) == 300)
    assert got["one"] == list(range(600))
    assert got["two"] == list(range(1, 600, 2))
    one.disconnect()
    two.disconnect()
    await stopped(io)
