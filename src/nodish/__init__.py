"""nodish: Node.js's network programming model for Python.

TCP (``net``), UDP (``dgram``), and the layers that build on them, with Node's objects,
events and edge cases, Python's naming, on one event loop (uvloop when available).

    import nodish
    from nodish import net

    def on_connection(sock):
        sock.write('hello\\n')
        sock.on('data', sock.write)

    net.create_server(on_connection).listen(8124)
    nodish.run()
"""

from __future__ import annotations

import os as _os

from . import dgram, errors, events, http, net, runtime, stream, timers, ws
from .process import process
from .runtime import call_from_thread, get_loop, run

__version__ = "0.1.0"

if "NODISH_UNIQUE_ID" in _os.environ:
    # a cluster worker connects to its primary at start-up, as Node's workers do,
    # whether or not the script imports nodish.cluster itself
    from . import cluster as _cluster  # noqa: F401

# Modules on heavier dependencies (cryptography, ssl) load on first use, so that
# `import nodish` stays fast: `nodish.certs` works all the same.
_LAZY = ("certs", "cluster", "https", "socketio", "tls")


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "__version__",
    "call_from_thread",
    "certs",
    "cluster",
    "dgram",
    "errors",
    "events",
    "get_loop",
    "http",
    "https",
    "net",
    "process",
    "run",
    "runtime",
    "socketio",
    "stream",
    "timers",
    "tls",
    "ws",
]
