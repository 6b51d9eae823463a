"""The ``nodish`` command line.

``nodish echo [--port N] [--host H]`` runs the seed chapter's TCP server;
``nodish version`` prints the version.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nodish`` console script."""
    parser = argparse.ArgumentParser(prog="nodish", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the version")
    echo = sub.add_parser("echo", help="run the seed chapter's TCP server (port 8124)")
    echo.add_argument("--port", type=int, default=8124)
    echo.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "echo":
        from .demo import tcp_server

        tcp_server(args.port, args.host)
        return 0
    parser.print_help()
    return 0
