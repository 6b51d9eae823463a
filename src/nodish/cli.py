"""The ``nodish`` command line.

``nodish version`` prints the version; ``nodish echo [--port N] [--host H]`` runs a TCP
echo server (Ctrl-C stops it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__


def _echo(port: int, host: str) -> int:
    import nodish

    try:
        from . import net
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nodish`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="nodish", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the version")
    echo = sub.add_parser("echo", help="run a TCP echo server")
    echo.add_argument("--port", type=int, default=8124, help="port (default 8124, 0: any)")
    echo.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "echo":
        return _echo(args.port, args.host)
    parser.print_help()
    return 0
