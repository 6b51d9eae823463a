"""Dynamic namespaces (``io.of(pattern)``, ``io.of(check)``) with the official client.

Node's behaviour: a matching name gets a child namespace made on demand, with the
parent's middleware and connection listeners, and ``'new_namespace'``; a name no parent
accepts gets CONNECT_ERROR "Invalid namespace"; ``parent.emit`` reaches every child;
``cleanup_empty_child_namespaces`` forgets a child whose last socket left.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.helpers import until
from tests.interop.socketio_peers import NODE_SIO_CLIENT, NodeSio

from nodish import socketio

pytestmark = pytest.mark.interop


@asynccontextmanager
async def setup(**options: Any) -> AsyncIterator[tuple[socketio.Server, str, NodeSio]]:
    io = socketio.Server(**options)
    await io.listen(0, "127.0.0.1")
    node = await NodeSio.start(NODE_SIO_CLIENT)
    try:
        await node.wait_kind("ready")
        yield io, f"http://127.0.0.1:{io.address().port}", node
    finally:
        await node.close()
        io.close()


async def connect(node: NodeSio, name: str, url: str, **opts: Any) -> Any:
    await node.send(cmd="connect", name=name, url=url, opts={"transports": ["websocket"], **opts})
    return await node.wait_for(
        lambda m: m.get("name") == name and m.get("kind") in ("connect", "connect_error")
    )


async def test_pattern_namespace_children_share_middleware_listeners_and_broadcasts() -> None:
    async with setup() as (io, url, node):
        made: list[str] = []
        io.on("new_namespace", lambda nsp: made.append(nsp.name))
        parent = io.of(re.compile(r"^/dynamic-\d+$"))

        def tag(socket: socketio.Socket, next_: Any) -> None:
            socket.data["tagged"] = True
            next_()

        parent.use(tag)
        joined: list[tuple[str, Any]] = []
        parent.on("connection", lambda s: joined.append((s.nsp.name, s.data.get("tagged"))))

        assert (await connect(node, "a", url + "/dynamic-101"))["kind"] == "connect"
        assert (await connect(node, "b", url + "/dynamic-7"))["kind"] == "connect"
        assert joined == [("/dynamic-101", True), ("/dynamic-7", True)]
        assert made == ["/dynamic-101", "/dynamic-7"]
        assert sorted(n.name for n in parent.children) == ["/dynamic-101", "/dynamic-7"]

        refused = await connect(node, "c", url + "/dynamic-x")
        assert refused["kind"] == "connect_error"
        assert refused["message"] == "Invalid namespace"

        # the parent's emit reaches both children (and only them)
        assert (await connect(node, "main", url))["kind"] == "connect"
        parent.emit("hello", "children", 1)
        for name in ("a", "b"):
            got = await node.wait_kind("event", name=name)
            assert (got["event"], got["args"]) == ("hello", ["children", 1])
        io.of("/dynamic-7").emit("only", "b")
        got = await node.wait_kind("event")
        assert (got["name"], got["event"]) == ("b", "only")
        # a room across children: parent.to(room) reaches the members in any child
        for socket in io.of("/dynamic-101").sockets.values():
            socket.join("r")
        parent.to("r").emit("in-room", "a")
        got = await node.wait_kind("event")
        assert (got["name"], got["event"], got["args"]) == ("a", "in-room", ["a"])
        io.of("/dynamic-7").emit("marker")  # b's next event: it got no "in-room"
        assert (await node.wait_kind("event", name="b"))["event"] == "marker"
        assert node.of_kind("event", name="main") == []
        # io.of() of a matching name is that child, made once
        assert io.of("/dynamic-101") is io.of("/dynamic-101")
        assert made == ["/dynamic-101", "/dynamic-7"]
        with pytest.raises(RuntimeError):
            await parent.fetch_sockets()


async def test_check_function_accepts_and_refuses() -> None:
    async with setup() as (io, url, node):
        asked: list[tuple[str, Any]] = []

        def check(name: str, auth: Any, next_: Any) -> None:
            asked.append((name, auth))
            next_(None, auth.get("token") == "ok")

        async def slow_check(name: str, auth: Any, next_: Any) -> None:
            next_(None, name == "/async")

        parent = io.of(check)
        io.of(slow_check, lambda s: s.emit("welcome", s.nsp.name))
        ok = await connect(node, "ok", url + "/anything", auth={"token": "ok"})
        assert ok["kind"] == "connect"
        bad = await connect(node, "bad", url + "/other", auth={"token": "no"})
        assert (bad["kind"], bad["message"]) == ("connect_error", "Invalid namespace")
        assert asked == [("/anything", {"token": "ok"}), ("/other", {"token": "no"})]
        assert [n.name for n in parent.children] == ["/anything"]
        assert (await connect(node, "async", url + "/async"))["kind"] == "connect"
        got = await node.wait_kind("event", name="async")
        assert (got["event"], got["args"]) == ("welcome", ["/async"])

        # a check that raises refuses that name alone; the server goes on
        def broken(name: str, auth: Any, next_: Any) -> None:
            raise ValueError("bug")

        io.of(broken)
        again = await connect(node, "again", url + "/nope", auth={"token": "no"})
        assert again["message"] == "Invalid namespace"
        assert (await connect(node, "good", url + "/anything", auth={"token": "ok"}))[
            "kind"
        ] == "connect"


async def test_cleanup_empty_child_namespaces() -> None:
    async with setup(cleanup_empty_child_namespaces=True) as (io, url, node):
        made: list[Any] = []
        io.on("new_namespace", made.append)
        parent = io.of(re.compile(r"^/room-"))
        assert (await connect(node, "a", url + "/room-1"))["kind"] == "connect"
        first = made[0]
        await node.send(cmd="disconnect", name="a")
        await until(lambda: not parent.children)
        assert (await connect(node, "b", url + "/room-1"))["kind"] == "connect"
        assert len(made) == 2 and made[1] is not first
        assert list(parent.children) == [made[1]]


async def test_bad_arguments_to_of() -> None:
    io = socketio.Server()
    with pytest.raises(TypeError) as err:
        io.of(42)  # type: ignore[arg-type]
    assert err.value.code == "ERR_INVALID_ARG_TYPE"  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        io.of(re.compile(rb"^/x"))  # type: ignore[arg-type]
    io.close()
