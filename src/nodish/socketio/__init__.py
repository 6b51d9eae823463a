"""Socket.IO for nodish: Engine.IO v4 and Socket.IO v5, server, client and Redis adapter.

The protocol codecs (:mod:`.engine_parser`, :mod:`.parser`) are sans-I/O and usable
alone.
"""

from __future__ import annotations

from . import engine_parser, parser

__all__ = ["engine_parser", "parser"]
