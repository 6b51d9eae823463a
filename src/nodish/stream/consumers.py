"""``nodish.stream.consumers``: read a whole stream into one value (``node:stream/consumers``).

    from nodish.stream import consumers

    body = await consumers.text(req)
    data = await consumers.json(req)
    raw = await consumers.buffer(req)   # also consumers.bytes_(req)

Each accepts a Readable or any async iterable of ``bytes``/``str`` chunks, reads it to
the end and raises its error. ``buffer`` is Node's name for the ``bytes`` result;
``bytes_`` is the same function under the Python type's name. Node's ``arrayBuffer``
and ``blob`` have no Python counterpart and are not provided.
"""

from __future__ import annotations

import codecs
import json as _json
from typing import Any

__all__ = ["buffer", "bytes_", "json", "text"]


async def buffer(stream: Any) -> bytes:
    """All the stream's data as ``bytes`` (``str`` chunks are encoded as UTF-8)."""
    parts: list[bytes] = []
    async for chunk in stream:
        if isinstance(chunk, str):
            parts.append(chunk.encode("utf-8", "surrogatepass"))
        else:
            parts.append(bytes(chunk))
    return b"".join(parts)


bytes_ = buffer


async def text(stream: Any) -> str:
    """All the stream's data as ``str``, decoded as UTF-8 (bad bytes become U+FFFD)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    parts: list[str] = []
    async for chunk in stream:
        if isinstance(chunk, str):
            parts.append(chunk)
        else:
            parts.append(decoder.decode(chunk))
    parts.append(decoder.decode(b"", True))
    return "".join(parts)


async def json(stream: Any) -> Any:
    """The stream's data parsed as JSON.

    Raises:
        json.JSONDecodeError: the text is not JSON (Node: a SyntaxError).
    """
    return _json.loads(await text(stream))
