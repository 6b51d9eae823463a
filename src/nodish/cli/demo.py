"""``nodish demo``: the seed chapter's servers together (``make demo`` runs it).

One process serving the chapter's systems on one loop, on 127.0.0.1 unless --host
says otherwise: the TCP server on port 8124 (greets, answers; try telnet), the UDP
server on 41234 (logs each datagram with its sender), an HTTP server on 8080 whose page
chats live over WebSocket between every open tab, and the same over HTTPS and WSS on
8443, with a development CA made on first run in the user's data directory (the
console and the page say how to trust it; --no-tls to go without). It prints what runs
where, logs every event as the chapter describes it, and Ctrl-C stops everything (exit
0). A port that is taken stops it with one line naming the port: move every port with
--port-offset N, or one with its own option.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import _common

SERVICES = ("tcp", "udp", "http", "https")


def _run(args: Any) -> int:
    from ..demo import PORTS, run_demo

    ports = {}
    for name in SERVICES:
        explicit = getattr(args, f"{name}_port")
        ports[name] = explicit if explicit is not None else PORTS[name] + args.port_offset
        if not 0 <= ports[name] <= 65535:
            print(
                f"nodish demo: --port-offset {args.port_offset} puts the {name.upper()} port "
                f"at {ports[name]}, outside 0-65535",
                file=sys.stderr,
            )
            return _common.EXIT_USAGE
    tls_dir = tls_files = None
    if bool(args.tls_cert) != bool(args.tls_key):
        print("nodish demo: --tls-cert and --tls-key go together", file=sys.stderr)
        return _common.EXIT_USAGE
    if args.tls_cert and not args.no_tls:
        tls_files = (Path(args.tls_cert), Path(args.tls_key))
    elif not args.no_tls:
        from ..demo.devca import data_dir

        tls_dir = Path(args.tls_dir) if args.tls_dir else data_dir()
    return run_demo(args.host, ports, tls_dir, tls_files)


def register(sub: Any) -> None:
    """Add ``nodish demo`` to the command line."""
    from ..demo import PORTS

    p = _common.add_tool(
        sub,
        "demo",
        "run the seed chapter's servers together (TCP, UDP, HTTP and WebSocket chat, HTTPS)",
        __doc__,
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address every server listens on (default 127.0.0.1)"
    )
    p.add_argument(
        "--port-offset",
        type=int,
        default=0,
        metavar="N",
        help="add N to every port (to avoid taken ports, or run a second demo)",
    )
    for name in SERVICES:
        p.add_argument(
            f"--{name}-port",
            type=_common.port_number,
            default=None,
            metavar="PORT",
            help=f"the {name.upper()} port (default {PORTS[name]} + offset; 0: any free port)",
        )
    p.add_argument("--no-tls", action="store_true", help="no HTTPS/WSS server (and no CA)")
    p.add_argument(
        "--tls-dir",
        metavar="DIR",
        help="where the development CA is kept (made there on first run; default: "
        "nodish/demo in the user's data directory)",
    )
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve HTTPS with this certificate (PEM, chain included) instead of the CA's",
    )
    p.add_argument("--tls-key", metavar="FILE", help="the key of --tls-cert (PEM)")
    p.set_defaults(func=_run)
