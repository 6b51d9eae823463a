"""The demo's TCP server: the seed chapter's, on port 8124 (``telnet localhost 8124``).

It greets each connection with the chapter's line and answers each chunk of data with
``你好``, logging ``connection``, ``data``, ``end`` and ``close`` as they happen.
"""

from __future__ import annotations

from typing import Any

from . import Context, ListenError, Service, preview

GREETING = "深入浅出Nodejs\n"
ANSWER = "你好"


async def start(ctx: Context) -> Service:
    """Listen on ``ctx.host``, port ``ctx.ports['tcp']``."""
    from .. import net

    def on_connection(socket: Any) -> None:
        peer = f"{socket.remote_address}:{socket.remote_port}"
        ctx.log("tcp", f"connection from {peer}")

        def on_data(data: bytes) -> None:
            ctx.log("tcp", f"data from {peer}: {preview(data)}")
            if not socket.write(ANSWER):  # a client that sends and never reads: wait for it
                socket.pause()
                socket.once("drain", socket.resume)

        socket.on("data", on_data)
        socket.on("end", lambda: ctx.log("tcp", f"end from {peer}"))
        socket.on("error", lambda err: ctx.log("tcp", f"error from {peer}: {err}"))
        socket.on("close", lambda *_: ctx.log("tcp", f"close {peer}"))
        socket.write(GREETING)

    server = net.create_server(on_connection)
    port = ctx.ports["tcp"]
    try:
        await server.listen(port, ctx.host)
    except OSError as err:
        raise ListenError("TCP", port, err) from None
    bound = server.address().port  # type: ignore[union-attr]
    host = ctx.client_host()
    return Service(
        "TCP",
        f"tcp://{ctx.url_host()}:{bound}",
        f"telnet {host} {bound}   or: nodish connect {host} {bound}",
        server.close,
    )
