"""A bare uvloop ``asyncio.Protocol`` echo server: what Python can reach on this machine.

Reference column of bench_tcp. Listens on 127.0.0.1, port 0, prints the port.
"""

from __future__ import annotations

import asyncio
import signal
from typing import cast

import uvloop


class Echo(asyncio.Protocol):
    """Write every chunk back on the same transport."""

    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=511)
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop
    server.close()


if __name__ == "__main__":
    uvloop.run(main())
