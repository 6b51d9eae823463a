"""``nodish echo [--port N] [--host H]``: a TCP echo server (Ctrl-C stops it)."""

from __future__ import annotations

import sys
from typing import Any


def _echo(port: int, host: str) -> int:
    import nodish

    try:
        from .. import net
    except ImportError as exc:  # the net module is not part of this build
        print(f"nodish echo: the net module is not available ({exc})", file=sys.stderr)
        return 1

    def on_connection(sock: Any) -> None:
        sock.on("data", sock.write)
        sock.on("end", sock.end)

    server = net.create_server(on_connection)
    server.on("error", lambda err: print(f"nodish echo: {err}", file=sys.stderr, flush=True))

    def bound() -> None:
        addr: Any = server.address()
        print(f"echo server listening on {addr.address}:{addr.port}", flush=True)

    server.listen(port, host, callback=bound)
    nodish.run()
    return 0


def register(sub: Any) -> None:
    """Add ``nodish echo`` to the command line."""
    echo = sub.add_parser("echo", help="run a TCP echo server")
    echo.add_argument("--port", type=int, default=8124, help="port (default 8124, 0: any)")
    echo.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    echo.set_defaults(func=lambda args: _echo(args.port, args.host))
