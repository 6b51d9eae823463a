"""``nodish.stream``: Node's stream module (Readable, Writable, Duplex, Transform ...).

Mirrors https://nodejs.org/docs/latest-v20.x/api/stream.html with Python names:

    from nodish.stream import Readable, Writable, Transform, pipeline, promises

    upper = Transform(transform=lambda self, chunk, enc, cb: cb(None, chunk.upper()))
    await promises.pipeline(Readable.from_([b'a', b'b']), upper, sink)

Implementer hooks keep Node's names (``_read``, ``_write``, ``_writev``, ``_final``,
``_destroy``, ``_construct``, ``_transform``, ``_flush``) and may be given as
constructor keywords (``write=``, ``read=`` ...), called like methods with the stream
first. ``Readable.from_`` is Node's ``Readable.from`` (``from`` is a Python keyword).
Awaitable forms: ``async for chunk in readable``, ``await writable.drain()``,
``nodish.stream.promises`` (``pipeline``, ``finished``) and ``nodish.stream.consumers``.
"""

from __future__ import annotations

from . import consumers, promises
from ._base import Stream
from ._eos import finished
from .duplex import Duplex
from .pipeline import pipeline
from .readable import Readable
from .string_decoder import StringDecoder
from .transform import PassThrough, Transform
from .writable import DEFAULT_HIGH_WATER_MARK, DEFAULT_OBJECT_HIGH_WATER_MARK, Writable

__all__ = [
    "DEFAULT_HIGH_WATER_MARK",
    "DEFAULT_OBJECT_HIGH_WATER_MARK",
    "Duplex",
    "PassThrough",
    "Readable",
    "Stream",
    "StringDecoder",
    "Transform",
    "Writable",
    "consumers",
    "finished",
    "get_default_high_water_mark",
    "pipeline",
    "promises",
]


def get_default_high_water_mark(object_mode: bool = False) -> int:
    """Node's ``stream.getDefaultHighWaterMark(objectMode)``: 16384 bytes or 16 objects."""
    return DEFAULT_OBJECT_HIGH_WATER_MARK if object_mode else DEFAULT_HIGH_WATER_MARK
