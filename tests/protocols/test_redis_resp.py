"""The fallback RESP reader of the Redis adapter agrees with hiredis, fed in any pieces."""

from __future__ import annotations

import hiredis
from hypothesis import given
from hypothesis import strategies as st

from nodish.socketio.redis_adapter import _Resp

STREAM = (
    b"*3\r\n$9\r\nsubscribe\r\n$3\r\nabc\r\n:1\r\n"
    b">4\r\n$8\r\npmessage\r\n$3\r\na#*\r\n$4\r\na#r#\r\n$5\r\n\x93\xa6\r\n\x00\r\n"
    b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$0\r\n\r\n"
    b"+OK\r\n$-1\r\n*0\r\n"
)


def drain(reader: object, chunks: list[bytes]) -> list[object]:
    out = []
    for chunk in chunks:
        reader.feed(chunk)  # type: ignore[attr-defined]
        while (msg := reader.gets()) is not False:  # type: ignore[attr-defined]
            out.append(msg)
    return out


def test_whole_and_byte_by_byte_match_hiredis() -> None:
    expected = drain(hiredis.Reader(), [STREAM])
    assert len(expected) == 6
    assert drain(_Resp(), [STREAM]) == expected
    assert drain(_Resp(), [STREAM[i : i + 1] for i in range(len(STREAM))]) == expected


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=10))
def test_any_split_matches_hiredis(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert drain(_Resp(), chunks) == drain(hiredis.Reader(), [STREAM])


def test_error_replies_are_exceptions_as_with_hiredis() -> None:
    # a refused command (NOAUTH, NOPERM) must not pass for a reply line
    stream = b"-NOPERM no permissions\r\n:1\r\n"
    ours, theirs = drain(_Resp(), [stream]), drain(hiredis.Reader(), [stream])
    assert isinstance(ours[0], Exception) and isinstance(theirs[0], Exception)
    assert str(ours[0]) == str(theirs[0]) == "NOPERM no permissions"
    assert ours[1:] == theirs[1:] == [1]
