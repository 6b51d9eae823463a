"""A bare uvloop ``asyncio.Protocol`` short-connection server: what Python can reach.

Reference column of bench_tcp_short: answers the first chunk with a short reply, sends
FIN (as ``end()`` does) and closes once the peer's FIN arrives. Listens on 127.0.0.1,
port 0, prints the port.
"""

from __future__ import annotations

import asyncio
import signal
from typing import cast

import uvloop

REPLY = b"hello\n"


class Short(asyncio.Protocol):
    """Reply once, then half-close; close on the peer's FIN."""

    __slots__ = ("answered", "transport")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self.answered = False

    def data_received(self, data: bytes) -> None:
        if not self.answered:
            self.answered = True
            self.transport.write(REPLY)
            self.transport.write_eof()

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        pass


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    server = await loop.create_server(Short, "127.0.0.1", 0, backlog=511)
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop
    server.close()


if __name__ == "__main__":
    uvloop.run(main())
