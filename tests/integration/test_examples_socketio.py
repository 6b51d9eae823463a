"""The Socket.IO examples, run as programs: the chat server and its two clients."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def start(*args: str, port: str = "0") -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**os.environ, "PORT": port, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    raw = await wait_for(proc.stdout.readline())
    assert raw, (await proc.stderr.read()).decode() if proc.stderr else "exited"
    return raw.decode().rstrip("\n")


async def test_chat_server_and_clients() -> None:
    server = await start(str(EXAMPLES / "20_socketio_chat.py"))
    try:
        first = await line(server)
        assert first.startswith("Chat on http://127.0.0.1:")
        url = first.removeprefix("Chat on ").rstrip("/")
        client = await start(str(EXAMPLES / "21_socketio_client.py"), url)
        out, err = await wait_for(client.communicate())
        assert client.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        assert "alice's message: delivered" in lines
        assert "bob heard alice: hello from nodish" in lines
        joined = {await line(server), await line(server)}
        assert joined == {"alice joined", "bob joined"}
    finally:
        server.send_signal(signal.SIGINT)
        await wait_for(server.wait())
