"""StringDecoder and the encodings streams accept: Node's string_decoder rules.

Expected values were produced by Node 20 (``new StringDecoder(enc).write(...)``).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodish import errors
from nodish.stream import StringDecoder
from nodish.stream._encoding import decode, encode, normalize_encoding

TEXT = "深入浅出Nodejs"
DATA = TEXT.encode()


@pytest.mark.parametrize("cut", range(len(DATA) + 1))
def test_utf8_never_splits_a_character_whatever_the_cut(cut: int) -> None:
    d = StringDecoder("utf8")
    first = d.write(DATA[:cut])
    second = d.write(DATA[cut:])
    assert first + second + d.end() == TEXT
    # what was emitted is whole characters only
    assert TEXT.startswith(first)


def test_utf8_one_byte_at_a_time() -> None:
    d = StringDecoder()
    out = [d.write(DATA[i : i + 1]) for i in range(len(DATA))]
    assert "".join(out) == TEXT
    assert all(len(piece) <= 1 for piece in out)
    assert d.end() == ""


@given(st.text(), st.lists(st.integers(min_value=0, max_value=64), max_size=8))
def test_utf8_any_text_any_split(text: str, cuts: list[int]) -> None:
    data = text.encode("utf-8", "replace")
    expected = data.decode("utf-8", "replace")
    points = sorted({min(c, len(data)) for c in cuts})
    d = StringDecoder("utf-8")
    out = []
    last = 0
    for p in points:
        out.append(d.write(data[last:p]))
        last = p
    out.append(d.end(data[last:]))
    assert "".join(out) == expected


def test_utf8_incomplete_sequence_at_end_is_replacement_char() -> None:
    d = StringDecoder("utf8")
    assert d.write(bytes([0xE6, 0xB7])) == ""
    assert d.end() == "\ufffd"
    # the decoder is reusable after end()
    assert d.write(b"ok") == "ok"


def test_utf8_invalid_bytes_become_replacement_chars_like_node() -> None:
    d = StringDecoder("utf8")
    assert d.write(bytes([0xFF, 0x41])) == "\ufffdA"
    assert d.write(bytes([0xE6])) == ""
    assert d.write(bytes([0x41])) == "\ufffdA"


def test_base64_emits_whole_three_byte_groups() -> None:
    d = StringDecoder("base64")
    assert d.write(b"ab") == ""
    assert d.write(b"cde") == "YWJj"
    assert d.end() == "ZGU="


def test_base64url_has_no_padding() -> None:
    d = StringDecoder("base64url")
    assert d.write(bytes([0xFB, 0xFF])) == ""
    assert d.end() == "-_8"


def test_hex_and_latin1_and_ascii() -> None:
    assert StringDecoder("hex").write(b"ab") == "6162"
    assert StringDecoder("hex").end(b"c") == "63"
    assert StringDecoder("latin1").write(b"\xe9") == "é"
    assert StringDecoder("binary").write(b"\xe9") == "é"
    # Node clears the high bit when decoding ascii
    assert StringDecoder("ascii").write(bytes([0xE9, 0x41])) == "iA"


def test_utf16le_holds_back_split_code_units_and_surrogate_pairs() -> None:
    smile = "😀".encode("utf-16-le")  # 3d d8 00 de
    d = StringDecoder("utf16le")
    assert d.write(smile[:1]) == ""
    assert d.write(smile[1:3]) == ""  # a lone high surrogate waits for its pair
    assert d.write(smile[3:]) == "😀"
    assert d.end() == ""
    d2 = StringDecoder("ucs2")
    assert d2.write(smile[:2]) == ""
    assert d2.end() == "\ud83d"  # what is left of the pair, as Node gives it
    d3 = StringDecoder("utf-16le")
    assert d3.write(b"a\x00b") == "a"
    assert d3.end() == ""  # an odd trailing byte is dropped


def test_str_passes_through_write() -> None:
    assert StringDecoder().write("already text") == "already text"


def test_encoding_names_are_normalized_like_node() -> None:
    assert StringDecoder().encoding == "utf8"
    assert StringDecoder(None).encoding == "utf8"
    assert StringDecoder("UTF-8").encoding == "utf8"
    assert StringDecoder("UCS2").encoding == "utf16le"
    assert StringDecoder("binary").encoding == "latin1"
    assert normalize_encoding("Base64URL") == "base64url"


def test_unknown_encoding_is_ERR_UNKNOWN_ENCODING() -> None:
    with pytest.raises(errors.NodeError) as info:
        StringDecoder("nope")
    assert info.value.code == "ERR_UNKNOWN_ENCODING"
    assert isinstance(info.value, TypeError)
    assert StringDecoder("utf8").write(b"still works") == "still works"


def test_encode_follows_buffer_from_leniencies() -> None:
    assert encode("\ud83d", "utf8") == b"\xef\xbf\xbd"  # lone surrogate -> U+FFFD
    assert encode("\ud83d\ude00", "utf8") == "😀".encode()
    assert encode("é€😀", "latin1") == bytes([0xE9, 0xAC, 0x3D, 0x00])
    assert encode("abzcd", "hex") == b"\xab"
    assert encode("ab cd", "hex") == b"\xab"
    assert encode("abc", "hex") == b"\xab"
    assert encode("aGVsbG8", "base64") == b"hello"
    assert encode("aGV sbG8=", "base64") == b"hello"
    assert encode("aGVsbG8=x=", "base64") == b"hello"
    assert encode("a-_b", "base64") == bytes([0x6B, 0xEF, 0xDB])
    assert encode("a+/b", "base64url") == bytes([0x6B, 0xEF, 0xDB])


def test_decode_whole_buffers() -> None:
    assert decode(b"\xff", "utf8") == "\ufffd"
    assert decode(b"\xfb\xff", "base64") == "+/8="
    assert decode(b"a\x00", "utf16le") == "a"
    assert decode(b"\x01\x02", "hex") == "0102"


@given(st.binary(max_size=64), st.lists(st.integers(min_value=0, max_value=64), max_size=8))
def test_utf8_any_bytes_any_split_equals_whole_decoding(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    d = StringDecoder("utf8")
    out = []
    last = 0
    for p in points:
        out.append(d.write(data[last:p]))
        last = p
    out.append(d.end(data[last:]))
    assert "".join(out) == decode(data, "utf8")
