"""The Redis bridge alone, adapter to adapter: prints {"rate": messages/s, "cpu": ...}.

Two Socket.IO servers in this process, each on its own Redis adapter (one pub/sub
connection each, as two machines would have); server A broadcasts N messages, 1,000
per turn of the loop; the rate counts them arriving at server B's adapter. No client
is involved: this is what batching and the bulk reader buy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

import redis.asyncio as aioredis

from nodish import socketio
from nodish.socketio import adapter as adapter_mod


async def main(port: int, count: int) -> None:
    def client() -> Any:
        return aioredis.Redis(host="127.0.0.1", port=port)

    fa = socketio.create_redis_adapter(client(), client())
    fb = socketio.create_redis_adapter(client(), client())
    a, b = socketio.Server(adapter=fa), socketio.Server(adapter=fb)
    while not (fa.connected and fb.connected):
        await asyncio.sleep(0.01)
    target = b.sockets.adapter
    seen = 0
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    local = adapter_mod.Adapter.broadcast

    def counting(self: Any, packet: Any, opts: Any) -> None:
        nonlocal seen
        if self is target:
            seen += 1
            if seen == count:
                done.set_result(None)
        local(self, packet, opts)

    adapter_mod.Adapter.broadcast = counting  # type: ignore[method-assign]
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for i in range(count):
        a.emit("tick", i, "x" * 32)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    await asyncio.wait_for(done, 120)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - usage0.ru_utime + usage.ru_stime - usage0.ru_stime) / wall
    print(json.dumps({"rate": count / wall, "cpu": cpu}))
    a.close()
    b.close()
    await fa.aclose()
    await fb.aclose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", type=int, required=True)
    ap.add_argument("--count", type=int, default=50000)
    args = ap.parse_args()
    import uvloop

    uvloop.run(main(args.redis, args.count))
