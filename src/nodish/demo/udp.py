"""The demo's UDP server: the seed chapter's, on port 41234; logs each message and rinfo."""

from __future__ import annotations

from typing import Any

from . import Context, ListenError, Service, preview


async def start(ctx: Context) -> Service:
    """Bind ``ctx.host``, port ``ctx.ports['udp']``."""
    from .. import dgram

    server = dgram.create_socket("udp6" if ":" in ctx.host else "udp4")

    def on_message(msg: bytes, rinfo: Any) -> None:
        ctx.log("udp", f"message {preview(msg)} from {rinfo.address}:{rinfo.port}")

    server.on("message", on_message)
    port = ctx.ports["udp"]
    try:
        await server.bind(port, ctx.host)
    except OSError as err:
        raise ListenError("UDP", port, err) from None
    server.on("error", lambda err: ctx.log("udp", f"error: {err}"))
    bound = server.address().port
    host = ctx.client_host()
    return Service(
        "UDP",
        f"udp://{ctx.url_host()}:{bound}",
        f"nodish connect --udp {host} {bound}",
        server.close,
    )
