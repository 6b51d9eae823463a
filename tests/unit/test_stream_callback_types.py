"""A ``callback=`` that is not callable is refused at the call, on every stream.

Node ignores a non-function callback of ``write()``/``end()``; in Python a
``callback=123`` is always a mistake, and accepting it made the stream fail later, away
from the cause (the socket was destroyed and the rest of the data silently dropped).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.helpers import wait_for

from nodish import errors, events, stream
from nodish.stream import Duplex, PassThrough, Transform, Writable

BAD = [123, "cb", b"x", object()]


def writable() -> tuple[Writable, list[Any]]:
    got: list[Any] = []

    def write(self: Writable, chunk: Any, encoding: str, callback: Any) -> None:
        got.append(chunk)
        callback()

    return Writable(write=write), got


def duplex() -> tuple[Writable, list[Any]]:
    got: list[Any] = []

    def write(self: Duplex, chunk: Any, encoding: str, callback: Any) -> None:
        got.append(chunk)
        callback()

    return Duplex(write=write, read=lambda self, n: None), got


def transform() -> tuple[Writable, list[Any]]:
    got: list[Any] = []
    t = Transform(transform=lambda self, chunk, enc, cb: cb(None, chunk))
    t.on("data", got.append)
    return t, got


def passthrough() -> tuple[Writable, list[Any]]:
    got: list[Any] = []
    p = PassThrough()
    p.on("data", got.append)
    return p, got


MAKERS = [writable, duplex, transform, passthrough]


@pytest.mark.parametrize("make", MAKERS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("bad", BAD, ids=lambda b: type(b).__name__)
async def test_write_and_end_refuse_a_non_callable_callback(make: Any, bad: Any) -> None:
    s, got = make()
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE) as info:
        s.write(b"lost", callback=bad)
    assert isinstance(info.value, TypeError)
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        s.write("lost too", callback=bad)
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        s.end(b"lost at the end", callback=bad)
    # nothing was written, nothing destroyed: the stream goes on as if never called
    assert not s.destroyed and not s.writable_ended
    finished = events.once(s, "finish")
    s.write(b"a")
    s.end(b"b")
    await wait_for(finished)
    assert b"".join(got) == b"ab"


async def test_pipeline_refuses_a_non_callable_callback() -> None:
    src = stream.Readable.from_([b"x"])
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        stream.pipeline(src, PassThrough(), callback=42)
    src.destroy()
