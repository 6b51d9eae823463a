"""The seed chapter's TCP examples, run as programs, driven the way telnet would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from tests.helpers import wait_event, wait_for

from nodish import net

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def start_example(name: str, port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        env={**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"},
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


async def test_tcp_server_example_driven_like_telnet() -> None:
    proc = await start_example("01_tcp_server.py", 0)
    try:
        line = await read_line(proc)
        assert line.startswith("server bound ")
        port = int(line.split()[-1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = await wait_for(reader.readline())
        assert greeting.decode() == "深入浅出Nodejs\n"
        writer.write(b"hello\r\n")  # what telnet sends for a typed line
        reply = await wait_for(reader.readexactly(len("你好".encode())))
        assert reply.decode() == "你好"
        writer.write_eof()  # telnet's quit closes the connection
        assert await wait_for(reader.read()) == b""
        writer.close()
        assert await read_line(proc) == "连接断开"
    finally:
        code = await stop(proc)
    assert code == 130  # Ctrl-C


async def test_tcp_client_example_against_nodish_server() -> None:
    got: list[bytes] = []

    def on_conn(sock):
        sock.on("data", lambda d: (got.append(d), sock.write("你好")))

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    proc = await start_example("02_tcp_client.py", server.address().port)
    out, err = await wait_for(proc.communicate())
    assert proc.returncode == 0, err.decode()
    assert out.decode().splitlines() == ["client connected", "你好", "client disconnected"]
    assert b"".join(got) == b"world!\r\n"
    server.close()
    await wait_event(server, "close")
