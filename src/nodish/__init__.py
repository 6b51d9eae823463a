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

from . import dgram, errors, events, runtime, stream, timers, ws
from .process import process
from .runtime import get_loop, run

__version__ = "0.1.0"

# Modules on heavier dependencies (cryptography, ssl) load on first use, so that
# `import nodish` stays fast: `nodish.certs` works all the same.
_LAZY = ("certs",)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "__version__",
    "certs",
    "dgram",
    "errors",
    "events",
    "get_loop",
    "process",
    "run",
    "runtime",
    "stream",
    "timers",
    "ws",
]
