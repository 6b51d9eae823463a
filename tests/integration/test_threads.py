"""Calls from another thread: a clear ERR_INVALID_THREAD at the call, never a silent
hang; ``nodish.call_from_thread`` hands a call to the loop.

Node has one thread per loop; Python programs have threads. A call that acts on the
loop from another thread used to return normally while the loop was never woken, so
``'close'`` never came and ``run()`` never returned.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import DEFAULT_TIMEOUT, next_event, wait_event, wait_for

import nodish
from nodish import dgram, errors, net, runtime

ROOT = Path(__file__).resolve().parents[2]


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread named 'worker'; its exception or result comes back."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(fut.set_exception, exc)
        else:
            loop.call_soon_threadsafe(fut.set_result, result)

    threading.Thread(target=target, name="worker").start()
    return await wait_for(fut)


async def connected_pair() -> tuple[net.Server, net.Socket, list[bytes]]:
    got: list[bytes] = []
    server = net.create_server(lambda s: s.on("data", got.append))
    await server.listen(0, "127.0.0.1")
    sock = await net.connect(server.address().port, "127.0.0.1")
    return server, sock, got


async def test_socket_and_server_calls_from_another_thread_raise_naming_both_threads() -> None:
    server, sock, got = await connected_pair()
    fresh = net.create_server()
    calls = {
        "Socket.write()": lambda: sock.write(b"x"),
        "Socket.end()": lambda: sock.end(),
        "Socket.destroy()": lambda: sock.destroy(),
        "net.Socket.pause()": lambda: sock.pause(),
        "net.Socket.set_timeout()": lambda: sock.set_timeout(1),
        "net.Server.close()": lambda: server.close(),
        "net.Server.listen()": lambda: fresh.listen(0),
    }
    me = threading.current_thread().name
    for what, call in calls.items():
        with pytest.raises(errors.ERR_INVALID_THREAD) as info:
            await in_thread(call)
        assert isinstance(info.value, RuntimeError)
        message = str(info.value)
        assert what in message and "'worker'" in message and repr(me) in message
        assert "call_from_thread" in message
    # nothing happened: the socket and the server are as they were
    assert sock.writable and not sock.destroyed and server.listening and not fresh.listening
    sock.write(b"still fine")
    closed = next_event(sock, "close")
    sock.end()
    await wait_for(closed)
    assert b"".join(got) == b"still fine"
    server.close()
    await wait_event(server, "close")


async def test_dgram_calls_from_another_thread_raise() -> None:
    sock = dgram.create_socket("udp4")
    await sock.bind(0, "127.0.0.1")
    port = sock.address().port
    for call in (
        lambda: sock.send(b"x", port, "127.0.0.1"),  # the hot path
        lambda: sock.send("x", port),
        lambda: sock.set_broadcast(True),
        lambda: sock.close(),
    ):
        with pytest.raises(errors.ERR_INVALID_THREAD):
            await in_thread(call)
    got = next_event(sock, "message")
    sock.send(b"from the loop", port, "127.0.0.1")
    assert (await wait_for(got))[0] == b"from the loop"
    await sock.close()


async def test_call_from_thread_runs_on_the_loop_and_returns_the_result() -> None:
    server, sock, got = await connected_pair()

    def worker() -> list[Any]:
        results = [nodish.call_from_thread(sock.write, b"from a thread").result(DEFAULT_TIMEOUT)]
        results.append(nodish.call_from_thread(sock.end).result(DEFAULT_TIMEOUT) is sock)
        return results

    closed = next_event(sock, "close")
    assert await in_thread(worker) == [True, True]
    await wait_for(closed)
    assert b"".join(got) == b"from a thread"
    # errors come back through the future; coroutines are awaited on the loop
    loop = asyncio.get_running_loop()

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        await in_thread(lambda: nodish.call_from_thread(sock.write, 42).result(DEFAULT_TIMEOUT))
    assert await in_thread(lambda: nodish.call_from_thread(add, 2, 3, loop=loop).result(5)) == 5
    server_closed = next_event(server, "close")
    await in_thread(lambda: nodish.call_from_thread(server.close).result(DEFAULT_TIMEOUT))
    await wait_for(server_closed)


def test_call_from_thread_without_a_loop_says_so() -> None:
    with pytest.raises(RuntimeError, match=r"nodish\.run\(\) is not running"):
        nodish.call_from_thread(print)


SCRIPT = """
import threading, sys
import nodish
from nodish import net

server = net.create_server(lambda s: s.end("bye"))

def worker():
    try:
        server.close()
    except nodish.errors.ERR_INVALID_THREAD as exc:
        print("refused:", exc.code, flush=True)
    nodish.call_from_thread(server.close).result(10)
    print("closed from the thread", flush=True)

thread = threading.Thread(target=worker)
server.listen(0, "127.0.0.1", callback=thread.start)
nodish.run()
thread.join()
print("run returned", flush=True)
"""


def test_run_returns_when_a_thread_closes_the_server_through_call_from_thread(
    loop_kind: str,
) -> None:
    env = {"NODISH_LOOP": loop_kind, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEFAULT_TIMEOUT * 2,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "refused: ERR_INVALID_THREAD",
        "closed from the thread",
        "run returned",
    ]


async def short_connection_log() -> list[Any]:
    """One short connection's server-side events, ticks included; another thread's
    write is refused on the way."""
    log: list[Any] = []

    def on_connection(sock: net.Socket) -> None:
        log.append("connection")
        for name in ("end", "finish", "prefinish", "resume"):
            sock.on(name, lambda *_, name=name: log.append(name))
        sock.on("close", lambda had_error: log.append(["close", had_error]))

        def on_data(data: bytes) -> None:
            log.append(["data", data])
            runtime.next_tick(log.append, "tick after data")
            sock.end(b"bye", callback=lambda *_: log.append("end callback"))

        sock.once("data", on_data)

    server = net.create_server(on_connection)
    await server.listen(0, "127.0.0.1")
    client = await net.connect(server.address().port, "127.0.0.1")
    with pytest.raises(errors.ERR_INVALID_THREAD):
        await in_thread(lambda: client.write(b"from another thread"))
    client.resume()  # read the answer to its end, so the client closes too
    client.end(b"hi")
    await wait_event(client, "close")
    server.close()
    await wait_event(server, "close")
    return log


def test_run_driving_its_loop_keeps_event_order_and_thread_checks(
    loop_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run() lets the hot paths know its loop without asking asyncio (no getpid() per
    # lookup on 3.11): the events of a connection, and the refusal of a call from
    # another thread, are the same as on a loop that run() does not drive.
    monkeypatch.setenv("NODISH_LOOP", loop_kind)
    loop = runtime.new_event_loop()
    try:
        undriven = loop.run_until_complete(short_connection_log())
    finally:
        loop.close()
    driven: list[Any] = []

    async def main() -> None:
        driven.extend(await short_connection_log())

    nodish.run(main)
    assert driven == undriven
    assert driven[:2] == ["connection", "resume"] and driven[-1] == ["close", False]
