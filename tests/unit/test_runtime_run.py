"""nodish.run(): a Node process's lifetime.

``run()`` cannot be called from a running loop, so these tests are plain functions (the
conftest wraps only ``async def`` tests) or drive a script in a child process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import nodish
from nodish import process, runtime, timers
from nodish.runtime import HandleRef

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 10.0 * float(os.environ.get("NODISH_TIMEOUT_FACTOR", "1"))


@pytest.fixture(autouse=True)
def clean_process() -> Any:
    yield
    for name in ("beforeExit", "exit", "SIGINT", "uncaughtException"):
        process.remove_all_listeners(name)
    process.exit_code = 0


def test_run_with_nothing_to_do_returns_at_once() -> None:
    start = time.monotonic()
    nodish.run()
    assert time.monotonic() - start < DEADLINE


def test_run_returns_once_the_last_timer_has_fired() -> None:
    fired: list[str] = []
    timers.set_timeout(fired.append, 0.02, "fired")
    start = time.monotonic()
    nodish.run()
    assert fired == ["fired"]
    assert time.monotonic() - start >= 0.02 - 0.002


def test_a_pending_referenced_timer_keeps_run_alive_an_unrefd_one_does_not() -> None:
    fired: list[str] = []
    timers.set_timeout(fired.append, 3600, "never").unref()
    timers.set_timeout(fired.append, 0.01, "kept run alive")
    start = time.monotonic()
    nodish.run()
    assert fired == ["kept run alive"]
    assert time.monotonic() - start < DEADLINE


def test_an_interval_cleared_after_three_ticks_lets_run_return() -> None:
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            timers.clear_interval(interval)

    interval = timers.set_interval(tick, 0.005)
    nodish.run()
    assert len(ticks) == 3


def test_run_with_a_coroutine_main_awaits_it_then_waits_for_its_handles() -> None:
    seen: list[str] = []

    async def main() -> None:
        await asyncio.sleep(0.001)
        seen.append("main done")
        timers.set_timeout(seen.append, 0.01, "timer after main")

    nodish.run(main)
    assert seen == ["main done", "timer after main"]


def test_run_with_a_plain_function_main_calls_it_on_the_loop() -> None:
    seen: list[Any] = []

    def main() -> None:
        seen.append(asyncio.get_running_loop() is runtime.get_loop())
        timers.set_immediate(seen.append, "immediate")

    nodish.run(main)
    assert seen == [True, "immediate"]


def test_an_exception_from_main_propagates_out_of_run() -> None:
    def main() -> None:
        raise LookupError("main failed")

    with pytest.raises(LookupError):
        nodish.run(main)


def test_objects_made_before_run_are_served_by_run() -> None:
    loop = runtime.get_loop()
    handle = HandleRef(loop)
    handle.open()  # as a listening server made at the top level of a script would
    seen: list[str] = []
    timers.set_timeout(lambda: (seen.append("closing"), handle.close()), 0.01)
    nodish.run()
    assert seen == ["closing"]
    assert loop.is_closed()


def test_run_can_be_called_again_after_it_returned() -> None:
    for n in range(2):
        seen: list[int] = []
        timers.set_timeout(seen.append, 0.001, n)
        nodish.run()
        assert seen == [n]


def test_the_same_objects_work_inside_an_asyncio_program_without_run() -> None:
    seen: list[str] = []

    async def program() -> None:
        ticks: list[int] = []

        def tick() -> None:
            ticks.append(1)
            if len(ticks) == 3:
                timers.clear_interval(interval)
                seen.append("interval done")

        interval = timers.set_interval(tick, 0.001)
        timers.set_timeout(seen.append, 0.005, "timeout")
        await runtime.wait_idle()
        seen.append("idle")

    asyncio.run(program())
    assert sorted(seen[:2]) == ["interval done", "timeout"] and seen[2] == "idle"


def test_before_exit_listeners_may_start_new_work_and_exit_gets_the_exit_code() -> None:
    seen: list[Any] = []

    def before_exit(code: int) -> None:
        seen.append(("beforeExit", code))
        if len(seen) == 1:
            timers.set_timeout(seen.append, 0.001, "more work")

    process.on("beforeExit", before_exit)
    process.on("exit", lambda code: seen.append(("exit", code)))
    process.exit_code = 3
    with pytest.raises(SystemExit) as info:  # a Node script would exit with 3
        nodish.run()
    assert info.value.code == 3
    assert seen == [("beforeExit", 3), "more work", ("beforeExit", 3), ("exit", 3)]


def test_work_a_before_exit_listener_started_counts_even_when_already_done() -> None:
    # The listener is slow: its 1 ms timer is due before the loop turns again, so the
    # timer has fired by the time the loop is asked again. Node asks right after the emit
    # (the timer was pending then), so 'beforeExit' comes a second time.
    seen: list[Any] = []

    def before_exit(code: int) -> None:
        seen.append("beforeExit")
        if len(seen) == 1:
            timers.set_timeout(seen.append, 0.001, "more work")
            until = time.monotonic() + 0.02
            while time.monotonic() < until:  # a listener that takes its time
                pass

    process.on("beforeExit", before_exit)
    nodish.run()
    assert seen == ["beforeExit", "more work", "beforeExit"]


def test_process_exit_from_a_callback_ends_run_with_that_code() -> None:
    seen: list[Any] = []
    process.on("exit", lambda code: seen.append(code))
    timers.set_interval(lambda: None, 3600)
    timers.set_timeout(process.exit, 0.001, 4)
    with pytest.raises(SystemExit) as info:
        nodish.run()
    assert info.value.code == 4
    assert seen == [4]


# -- Ctrl-C -------------------------------------------------------------------------

CTRL_C_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import nodish
    from nodish import process, runtime, timers

    mode = sys.argv[1]
    loop = runtime.get_loop()

    class EchoProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    server = loop.run_until_complete(loop.create_server(EchoProtocol, "127.0.0.1", 0))

    def close_server():
        server.close()
        print("server closed", flush=True)

    handle = runtime.HandleRef(loop, close_server)
    handle.open()
    interval = timers.set_interval(lambda: None, 3600)

    if mode == "listener":
        def on_sigint(name):
            print("got", name, flush=True)
            handle.close()
            server.close()
            timers.clear_interval(interval)
        process.on("SIGINT", on_sigint)

    process.on("exit", lambda code: print("exit", code, flush=True))

    async def main():
        print("ready", server.sockets[0].getsockname()[1], flush=True)
        if mode == "coroutine":
            await asyncio.get_running_loop().create_future()  # main itself never ends

    nodish.run(main)
    print("run returned", flush=True)
    """
)


def run_until_ready(mode: str, loop_kind: str) -> subprocess.Popen[str]:
    env = {**os.environ, "NODISH_LOOP": loop_kind, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the child printed: no sleeping
    if not line.startswith("ready"):
        proc.kill()
        raise AssertionError(f"child did not start: {line!r} {proc.stderr.read()!r}")  # type: ignore[union-attr]
    return proc


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
@pytest.mark.parametrize("mode", ["handles", "coroutine"])
def test_ctrl_c_closes_every_handle_and_exits_with_130(mode: str, kind: str) -> None:
    proc = run_until_ready(mode, kind)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 130, err
    assert out.splitlines() == ["server closed", "exit 130"]
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_a_sigint_listener_replaces_the_default_ctrl_c(kind: str) -> None:
    proc = run_until_ready("listener", kind)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["got SIGINT", "exit 0", "run returned"]


BLOCKED_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import nodish
    from nodish import net, process, timers

    how, where = sys.argv[1], sys.argv[2]
    server = net.create_server()
    server.on("close", lambda: print("server closed", flush=True))
    process.on("exit", lambda code: print("exit", code, flush=True))

    def block():
        print("ready", flush=True)
        try:
            if how == "spin":
                while True:
                    pass
            time.sleep(3600)
        except KeyboardInterrupt:
            print("KeyboardInterrupt in the callback", flush=True)
            raise

    if where == "timer":
        server.listen(0, "127.0.0.1")
        timers.set_timeout(block, 0)
    else:  # a listener run from inside a task (the listen task)
        server.listen(0, "127.0.0.1", callback=block)
    nodish.run()
    """
)


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
@pytest.mark.parametrize(("how", "where"), [("spin", "listening"), ("sleep", "timer")])
def test_ctrl_c_while_a_callback_blocks_raises_in_it_and_exits_130(
    how: str, where: str, kind: str
) -> None:
    env = {**os.environ, "NODISH_LOOP": kind, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_SCRIPT, how, where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"  # the callback now blocks the loop
    proc.send_signal(signal.SIGINT)  # once: the loop cannot take it, the callback gets it
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    # the callback saw it, then every handle was closed as for any Ctrl-C
    assert out.splitlines() == ["KeyboardInterrupt in the callback", "server closed", "exit 130"]
    assert "Traceback" not in err


# -- exit status, and objects after run() ----------------------------------------------

UNCAUGHT_SCRIPT = textwrap.dedent(
    """
    import sys
    import nodish
    from nodish import net, process, timers

    if sys.argv[1] == "listener":
        process.on("uncaughtException", lambda exc, origin: print("handled", exc, flush=True))
    served = []

    def on_connection(sock):
        served.append(sock)
        if len(served) == 1:
            raise ValueError("boom")  # logged; this socket is destroyed
        sock.end("still serving")

    def client(port, n):
        sock = net.connect(port, "127.0.0.1")
        sock.on("data", lambda d: print(d.decode(), flush=True))
        sock.on("error", lambda e: None)
        if n == 1:
            sock.on("close", lambda *a: client(port, 2))
        else:
            sock.on("close", lambda *a: server.close())

    server = net.create_server(on_connection)
    server.listen(0, "127.0.0.1", callback=lambda: client(server.address().port, 1))
    process.on("exit", lambda code: print("exit", code, flush=True))
    nodish.run()
    print("not reached when the exit code is set", flush=True)
    """
)


@pytest.mark.parametrize(
    ("mode", "status", "lines"),
    [
        ("logged", 1, ["still serving", "exit 1"]),
        (
            "listener",
            0,
            ["handled boom", "still serving", "exit 0", "not reached when the exit code is set"],
        ),
    ],
)
def test_an_uncaught_exception_only_logged_makes_the_exit_status_1(
    mode: str, status: int, lines: list[str]
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", UNCAUGHT_SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert out.returncode == status, out.stderr
    assert out.stdout.splitlines() == lines
    assert ("ValueError: boom" in out.stderr) == (mode == "logged")


def test_run_raises_system_exit_with_a_nonzero_exit_code() -> None:
    process.exit_code = 2
    with pytest.raises(SystemExit) as info:
        nodish.run()
    assert info.value.code == 2


def test_objects_after_run_say_closed_and_close_quietly() -> None:
    from nodish import dgram, net

    server = net.create_server(lambda accepted: accepted.unref())
    udp = dgram.create_socket("udp4")
    clients: list[net.Socket] = []

    def on_listening() -> None:
        server.unref()
        clients.append(net.connect(server.address().port, "127.0.0.1").unref())

    server.listen(0, "127.0.0.1", callback=on_listening)
    udp.bind(0, "127.0.0.1", lambda: udp.unref())
    nodish.run()  # returns: everything is unref'd
    assert not server.listening and server.address() is None
    assert clients[0].ready_state == "closed"
    server.close()  # neither raises 'Event loop is closed' nor hangs
    udp.close()
    clients[0].destroy()


async def test_a_raising_listening_listener_closes_its_server() -> None:
    from nodish import net

    server = net.create_server()
    seen: list[Any] = []
    process.on("uncaughtException", lambda exc, origin: seen.append(exc))
    try:
        closed = asyncio.get_running_loop().create_future()
        server.on("close", lambda: closed.set_result(None))

        def on_listening() -> None:
            raise RuntimeError("in 'listening'")

        server.listen(0, "127.0.0.1", callback=on_listening)
        await asyncio.wait_for(closed, DEADLINE)
        assert not server.listening
        assert [str(e) for e in seen] == ["in 'listening'"]
    finally:
        process.remove_all_listeners("uncaughtException")


EXIT_IN_LISTENER = textwrap.dedent(
    """
    import sys
    import nodish
    from nodish import net, timers

    srv = net.create_server(lambda s: None)
    if sys.argv[1] == "listening":
        srv.on("listening", lambda: nodish.process.exit(5))
    else:  # an async listener: its task takes the SystemExit
        async def leave():
            nodish.process.exit(5)
        srv.on("listening", leave)
    srv.listen(0, "127.0.0.1")
    nodish.run()
    """
)


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
@pytest.mark.parametrize("where", ["listening", "async"])
def test_process_exit_in_a_listener_run_by_a_task_exits_quietly(where: str, kind: str) -> None:
    # 'listening' is emitted from the server's listen task: the SystemExit went through
    # that task, and asyncio logged "Task exception was never retrieved" at shutdown
    env = {**os.environ, "NODISH_LOOP": kind, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_IN_LISTENER, where],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
        check=False,
    )
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr == ""
