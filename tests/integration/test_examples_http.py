"""The seed chapter's HTTP examples, run as programs against each other and curl."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from tests.helpers import DEFAULT_TIMEOUT, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def start(name: str, port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        env={**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line_of(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await wait_for(proc.stdout.readline())
    if not line:
        err = await proc.stderr.read() if proc.stderr else b""
        pytest.fail(f"example exited: {err.decode(errors='replace')}")
    return line.decode().rstrip("\n")


async def test_server_client_and_get_examples() -> None:
    server = await start("05_http_server.py", 0)
    try:
        first = await line_of(server)
        assert first.startswith("Server running at http://127.0.0.1:")
        port = int(first.rsplit(":", 1)[1].strip("/"))
        curl = await asyncio.create_subprocess_exec(
            "curl", "-s", "-i", f"http://127.0.0.1:{port}/", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(curl.communicate(), DEFAULT_TIMEOUT)
        assert out.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        assert out.endswith(b"\r\n\r\nHello World\n")

        client = await start("06_http_client.py", port)
        assert await line_of(client) == "STATUS: 200"
        headers = await line_of(client)
        assert headers.startswith('HEADERS: {"content-type": "text/plain"')
        chunks = [await line_of(client)]  # console.log per chunk, as in Node
        while "World" not in chunks[-1]:
            chunks.append(await line_of(client))
        assert "".join(c for c in chunks if c) == "Hello World"
        assert await wait_for(client.wait()) == 0  # the pooled socket does not hold it

        get = await start("07_http_get.py", port)
        lines = [await line_of(get) for _ in range(11)]
        assert lines[:10] == [f"{i} 200 Hello World" for i in range(10)]
        assert lines[10] == "sockets opened: 1"
        assert await wait_for(get.wait()) == 0
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
        await wait_for(server.wait())
