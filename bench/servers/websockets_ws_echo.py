"""The ``websockets`` library's echo server for bench_ws (its asyncio API, on uvloop).

Listens on 127.0.0.1, port 0, and prints the port once listening.
"""

import asyncio

import uvloop
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws):  # type: ignore[no-untyped-def]
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # the load client closing while an echo is in flight


async def main() -> None:
    async with serve(
        echo, "127.0.0.1", 0, compression=None, max_size=None, open_timeout=None, backlog=1024
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


uvloop.run(main())
