"""The seed chapter's HTTP examples, run as programs against each other and curl."""

from __future__ import annotations

import asyncio
import signal

from tests.helpers import DEFAULT_TIMEOUT, wait_for
from tests.integration.test_examples_net import read_line as line_of
from tests.integration.test_examples_net import start_example as start


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
