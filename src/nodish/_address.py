"""Address helpers shared by ``net`` and ``dgram``.

Node's ``net.isIP``/``isIPv4``/``isIPv6``, its port validation (``validatePort``) and
the plain result objects it returns for addresses: ``server.address()``,
``socket.address()`` and UDP's ``rinfo``.

The result objects are named tuples (so ``host, family, port = sock.address()`` works)
that also answer to Node's spelling, ``addr['port']``, and compare equal to a dict with
the same fields. They are read-only, and cheap to build: ``dgram`` makes one
:class:`RemoteInfo` per datagram received.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import ipaddress
import math
import socket as _socket
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple, cast

from .errors import ERR_INVALID_ARG_TYPE, ERR_SOCKET_BAD_PORT, system_error, translate_os_error

__all__ = [
    "IPV4",
    "IPV6",
    "AddressInfo",
    "RemoteInfo",
    "family_name",
    "is_ip",
    "is_ipv4",
    "is_ipv6",
    "lookup",
    "validate_host",
    "validate_port",
]

IPV4 = "IPv4"
"""Node's family name for IPv4 addresses (``address().family``)."""
IPV6 = "IPv6"
"""Node's family name for IPv6 addresses."""


def is_ip(s: object) -> int:
    """``4`` for an IPv4 address in dotted-decimal form, ``6`` for IPv6, else ``0``.

    Node's ``net.isIP``: strict textual forms only. No leading zeros in IPv4
    (``'01.2.3.4'`` is not an address), no shortened IPv4 (``'127.1'``); IPv6 may carry a
    zone (``'fe80::1%eth0'``) and an embedded IPv4 tail (``'::ffff:127.0.0.1'``).
    Anything that is not a ``str`` is ``0``.
    """
    if not isinstance(s, str) or not s or len(s) > 64:
        return 0
    return _is_ip(s)


@lru_cache(maxsize=1024)
def _is_ip(s: str) -> int:
    if ":" in s:
        addr, _, zone = s.partition("%")
        if "%" in s and not zone:
            return 0
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            return 0
        return 6
    try:
        ipaddress.IPv4Address(s)
    except ValueError:
        return 0
    return 4


def is_ipv4(s: object) -> bool:
    """True if ``s`` is an IPv4 address in dotted-decimal form (Node's ``net.isIPv4``)."""
    return is_ip(s) == 4


def is_ipv6(s: object) -> bool:
    """True if ``s`` is an IPv6 address (Node's ``net.isIPv6``)."""
    return is_ip(s) == 6


def family_name(address: str) -> str:
    """``'IPv6'`` if ``address`` is an IPv6 address, else ``'IPv4'``."""
    return IPV6 if ":" in address else IPV4


def validate_port(port: object, name: str = "Port", allow_zero: bool = True) -> int:
    """Check a port number the way Node's ``validatePort`` does, and return it as an int.

    Accepted: an ``int`` (not ``bool``), an integral ``float``, or a ``str`` of such a
    number (surrounding blanks allowed), from 0 (1 when ``allow_zero`` is false) to 65535.

    Raises:
        ERR_SOCKET_BAD_PORT: at once, for anything else.
    """
    value: float | None = None
    if isinstance(port, bool):
        value = None
    elif isinstance(port, int):
        value = port
    elif isinstance(port, float):
        value = port if math.isfinite(port) else None
    elif isinstance(port, str) and port.strip():
        try:
            value = float(port)  # Node's +port: '80', ' 80 ', '80.0'
        except ValueError:
            value = None
        if value is not None and not math.isfinite(value):
            value = None
    if (
        value is None
        or value != int(value)
        or not 0 <= value <= 0xFFFF
        or (value == 0 and not allow_zero)
    ):
        op = ">=" if allow_zero else ">"
        raise ERR_SOCKET_BAD_PORT(
            message=f"{name} should be {op} 0 and < 65536. Received {port!r}."
        )
    return int(value)


def validate_host(host: object, name: str = "host") -> None:
    """``ERR_INVALID_ARG_TYPE`` at once unless ``host`` is a ``str`` (or None)."""
    if host is not None and not isinstance(host, str):
        raise ERR_INVALID_ARG_TYPE(name, "of type str", type(host).__name__)


async def lookup(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int | None = None,
    *,
    family: int = 0,
    type: int = 0,
    flags: int = 0,
) -> list[Any]:
    """``loop.getaddrinfo``, with every failure a Node-coded ``getaddrinfo`` error.

    Python's resolver also fails outside ``OSError``: the IDNA codec raises
    ``UnicodeError`` for an empty label or one over 63 characters (``'a..b'``), and for
    a lone surrogate. Node reports the first kind as ``ENOTFOUND`` and a name that is
    not valid Unicode as ``EINVAL``; so does this. No result at all is ``ENOTFOUND``.

    Raises:
        NodeSystemError: a ``socket.gaierror`` with ``.code``, ``.syscall ==
            'getaddrinfo'`` and ``.hostname``.
    """
    try:
        infos = await loop.getaddrinfo(host, port, family=family, type=type, flags=flags)
    except OSError as exc:
        raise translate_os_error(exc, "getaddrinfo", host) from exc
    except (UnicodeError, ValueError) as exc:
        try:
            host.encode("utf-8")
            bad = "\0" in host
        except UnicodeError:
            bad = True
        if bad:
            # the message stays printable: the name is not valid Unicode
            shown = host.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            err = system_error(
                _errno.EINVAL,
                "getaddrinfo",
                hostname=host,
                code="EINVAL",
                message=f"getaddrinfo EINVAL {shown}",
            )
        else:
            err = system_error(_socket.EAI_NONAME, "getaddrinfo", hostname=host)
        raise err from exc
    if not infos:
        raise system_error(_socket.EAI_NONAME, "getaddrinfo", hostname=host)
    return infos


class _Info:
    """Mixin for Node's plain result objects: ``obj['field']``, ``keys()``, ``get()``."""

    __slots__ = ()
    _keys: ClassVar[tuple[str, ...]]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key in self._keys:
                return getattr(self, key)
            raise KeyError(key)
        return tuple.__getitem__(cast(tuple[Any, ...], self), key)

    def keys(self) -> tuple[str, ...]:
        """The field names, in Node's order (so ``dict(obj)`` gives Node's object)."""
        return self._keys

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key``, or ``default`` when there is no such field."""
        return getattr(self, key) if key in self._keys else default

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` with Node's field names."""
        return {k: getattr(self, k) for k in self._keys}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return tuple.__eq__(cast(tuple[Any, ...], self), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


class _AddressInfo(NamedTuple):
    address: str
    family: str
    port: int


class _RemoteInfo(NamedTuple):
    address: str
    family: str
    port: int
    size: int


class AddressInfo(_Info, _AddressInfo):
    """Node's ``address()`` result: ``address``, ``family`` (``'IPv4'``/``'IPv6'``), ``port``.

    A named tuple; ``info.port`` and ``info['port']`` both work.
    """

    __slots__ = ()
    _keys = _AddressInfo._fields


class RemoteInfo(_Info, _RemoteInfo):
    """Node's UDP ``rinfo``: the sender's ``address``, ``family``, ``port``, and ``size``.

    ``size`` is the datagram's length in bytes. A named tuple; ``rinfo.port`` and
    ``rinfo['port']`` both work.
    """

    __slots__ = ()
    _keys = _RemoteInfo._fields
