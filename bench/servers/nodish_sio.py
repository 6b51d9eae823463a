"""nodish's Socket.IO server for bench_socketio: prints its port, then serves.

Events: ``'echo'`` answers its ack with its arguments; ``'fanout'``(count, payload)
broadcasts ``'tick'`` ``count`` times to every socket. ``--redis PORT`` puts the
server on the Redis adapter; ``'bridge'``(count, payload) then broadcasts through it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import nodish
from nodish import socketio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", type=int, default=None)
    args = ap.parse_args()
    adapter = None
    if args.redis is not None:
        import redis.asyncio as aioredis

        def client() -> Any:
            return aioredis.Redis(host="127.0.0.1", port=args.redis)

        adapter = socketio.create_redis_adapter(client(), client())
    io = socketio.Server(adapter=adapter, transports=["websocket"])

    def on_connection(socket: socketio.Socket) -> None:
        def echo(*a: Any) -> None:
            a[-1](*a[:-1])

        def fanout(count: int, payload: Any) -> None:
            for i in range(count):
                io.emit("tick", i, payload)

        socket.on("echo", echo)
        socket.on("fanout", fanout)

    io.on("connection", on_connection)

    def listening() -> None:
        print(io.address().port, flush=True)

    io.listen(0, "127.0.0.1", callback=listening)
    nodish.run()


if __name__ == "__main__":
    sys.exit(main())
