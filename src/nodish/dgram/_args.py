"""Argument checks shared by the ``dgram`` socket's methods (Node's validators)."""

from __future__ import annotations

from typing import Any

from ..errors import ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE

__all__ = ["check_address", "check_callback", "check_int", "to_bytes"]

_BytesLike = (bytes, bytearray, memoryview)


def to_bytes(msg: Any, offset: int, length: int | None) -> bytes | bytearray | memoryview:
    """Node's message forms: bytes-like, str (UTF-8), or a list of them (one datagram)."""
    if isinstance(msg, (list, tuple)):
        if offset or length is not None:
            raise ERR_INVALID_ARG_TYPE(
                "buffer", "bytes-like or str when offset or length is given", "a list"
            )
        parts: list[bytes | bytearray | memoryview] = []
        for part in msg:
            if isinstance(part, str):
                parts.append(part.encode())
            elif isinstance(part, _BytesLike):
                parts.append(part)
            else:
                raise ERR_INVALID_ARG_TYPE(
                    "buffer list arguments",
                    "of type bytes, bytearray, memoryview or str",
                    type(part).__name__,
                )
        return b"".join(parts)
    if isinstance(msg, str):
        data: bytes | bytearray | memoryview = msg.encode()
    elif isinstance(msg, _BytesLike):
        data = msg
    else:
        raise ERR_INVALID_ARG_TYPE(
            "buffer",
            "of type bytes, bytearray, memoryview, str or a list of them",
            type(msg).__name__,
        )
    if not offset and length is None:
        return data
    for name, value in (("offset", offset), ("length", length)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ERR_INVALID_ARG_TYPE(name, "of type int", type(value).__name__)
    view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
    size = len(view)
    if not 0 <= offset <= size:
        raise ERR_OUT_OF_RANGE("offset", f">= 0 and <= {size}", offset)
    if length is None:
        length = size - offset
    if not 0 <= length <= size - offset:
        raise ERR_OUT_OF_RANGE("length", f">= 0 and <= {size - offset}", length)
    return view[offset : offset + length]


def check_callback(callback: Any) -> None:
    if callback is not None and not callable(callback):
        raise ERR_INVALID_ARG_TYPE("callback", "a function", type(callback).__name__)


def check_address(address: Any, name: str = "address") -> None:
    if address is not None and not isinstance(address, str):
        raise ERR_INVALID_ARG_TYPE(name, "of type str", type(address).__name__)


def check_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ERR_INVALID_ARG_TYPE(name, "of type int", type(value).__name__)
