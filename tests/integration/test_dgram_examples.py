"""The seed chapter's UDP examples, run as programs, against each other and raw sockets."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def start_example(name: str, port: int | None) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PORT", None)
    if port is not None:
        env["PORT"] = str(port)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await wait_for(proc.stdout.readline())
    if not line:
        err = await proc.stderr.read() if proc.stderr else b""
        pytest.fail(f"example exited: {err.decode(errors='replace')}")
    return line.decode().rstrip("\n")


async def stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    return await wait_for(proc.wait())


def port_41234_is_free() -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("0.0.0.0", 41234))
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def test_udp_server_example_prints_listening_and_every_datagram_with_its_sender() -> None:
    server = await start_example("03_udp_server.py", 0)
    try:
        line = await read_line(server)
        assert line.startswith("server listening 0.0.0.0:")
        port = int(line.rsplit(":", 1)[1])
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        sender.sendto(b"hello UDP", ("127.0.0.1", port))
        assert (
            await read_line(server)
            == f"server got: hello UDP from 127.0.0.1:{sender.getsockname()[1]}"
        )
        sender.close()
    finally:
        await stop(server)


async def test_udp_client_example_sends_once_and_exits_after_closing() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    port = receiver.getsockname()[1]
    client = await start_example("04_udp_client.py", port)
    try:
        loop = asyncio.get_running_loop()
        data, _ = await wait_for(loop.run_in_executor(None, receiver.recvfrom, 100))
        assert data.decode() == "深入浅出Nodejs"
        # the client closes in its send callback, so nodish.run() returns: exit 0
        assert await wait_for(client.wait()) == 0
    finally:
        await stop(client)
        receiver.close()


async def test_udp_examples_together_on_the_chapter_port_41234() -> None:
    if not port_41234_is_free():
        pytest.skip("UDP port 41234, fixed by the chapter, is taken on this machine")
    server = await start_example("03_udp_server.py", None)
    try:
        assert await read_line(server) == "server listening 0.0.0.0:41234"
        client = await start_example("04_udp_client.py", None)
        assert await wait_for(client.wait()) == 0
        line = await read_line(server)
        assert line.startswith("server got: 深入浅出Nodejs from 127.0.0.1:")
    finally:
        await stop(server)
