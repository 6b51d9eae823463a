"""A worker whose script runs its own loop (asyncio.run), not nodish.run(): its channel
follows it there, so round-robin connections and messages still reach it."""

import asyncio

import nodish
from nodish import cluster, net

if cluster.is_primary:
    cluster.setup_primary(heartbeat=0.2)  # beats from the worker's own loop
    w = cluster.fork()
    w.on("listening", lambda a: print("listening", flush=True))

    def on_message(msg, _handle):
        print("primary got", msg, flush=True)
        w.send("bye")

    w.on("message", on_message)
    w.on("exit", lambda code, sig: print("exit", code, sig, flush=True))
    nodish.run()
else:

    async def main():
        server = net.create_server(lambda s: s.end(b"hi\n"))
        await server.listen(0, "127.0.0.1")
        # a connection to the shared port: the primary accepts it and hands it here
        sock = await net.connect(server.address().port, "127.0.0.1")
        data = await asyncio.wait_for(nodish.stream.consumers.buffer(sock), 10)
        answer = asyncio.get_running_loop().create_future()
        nodish.process.on("message", lambda msg, handle: answer.set_result(msg))
        await asyncio.sleep(1)  # the scenario: 5 heartbeats' time, and the worker lives on
        nodish.process.send(f"served {data!r}")
        print("worker got", await asyncio.wait_for(answer, 10), flush=True)
        server.close()
        nodish.process.disconnect()

    asyncio.run(main())
