"""Checks of the options given to ``Server(...)`` and ``connect(...)``.

Node's socket.io takes its options as they come, and a wrong one shows much later
(a string of transports is searched as text, a delay given as a string breaks the
reconnection timer inside a callback). Here a wrong option raises at once, from the
call, with Node's error codes: ``ERR_INVALID_ARG_TYPE`` for a wrong type,
``ERR_OUT_OF_RANGE`` for a number outside its range, ``ERR_INVALID_ARG_VALUE`` for a
transport name that does not exist.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE

TRANSPORTS = ("polling", "websocket")


def _type_name(value: Any) -> str:
    return type(value).__name__


def seconds(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """A duration (or count) in seconds: a real number >= 0, finite unless ``allow_inf``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ERR_INVALID_ARG_TYPE(name, "of type number", _type_name(value))
    if value < 0 or math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ERR_OUT_OF_RANGE(name, ">= 0" if allow_inf else ">= 0 and finite", repr(value))
    return float(value)


def fraction(name: str, value: Any) -> float:
    """A number from 0 to 1 (``randomization_factor``)."""
    number = seconds(name, value)
    if number > 1:
        raise ERR_OUT_OF_RANGE(name, ">= 0 and <= 1", repr(value))
    return number


def size(name: str, value: Any) -> int:
    """A size in bytes: an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ERR_INVALID_ARG_TYPE(name, "of type integer", _type_name(value))
    if value <= 0:
        raise ERR_OUT_OF_RANGE(name, "> 0", repr(value))
    return value


def transports(name: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of transport names among ``'polling'`` and ``'websocket'``."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ERR_INVALID_ARG_TYPE(name, "a list of transport names", _type_name(value))
    if not value or any(t not in TRANSPORTS for t in value):
        raise ERR_INVALID_ARG_VALUE(name, repr(value))
    return tuple(value)


def string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ERR_INVALID_ARG_TYPE(name, "of type string", _type_name(value))
    return value


def mapping(name: str, value: Any) -> Any:
    """A dict, or None."""
    if value is not None and not isinstance(value, dict):
        raise ERR_INVALID_ARG_TYPE(name, "a dict or None", _type_name(value))
    return value


def function(name: str, value: Any) -> Any:
    """A callable, or None."""
    if value is not None and not callable(value):
        raise ERR_INVALID_ARG_TYPE(name, "of type function or None", _type_name(value))
    return value


def http_server(value: Any) -> Any:
    """An ``http.Server`` or ``https.Server`` (anything with their events)."""
    if not all(hasattr(value, m) for m in ("on", "listeners", "remove_all_listeners")):
        raise ERR_INVALID_ARG_TYPE(
            "http_server", "an http.Server or https.Server", _type_name(value)
        )
    return value


def tls(ca: Any, reject_unauthorized: Any, servername: Any) -> dict[str, Any]:
    """The client's TLS options, as keywords for ``https.request`` and ``ws.WebSocket``
    (only those that differ from the defaults)."""
    if ca is not None and not isinstance(ca, (str, bytes, list, tuple)):
        raise ERR_INVALID_ARG_TYPE("ca", "a PEM str or bytes, or a list of them", _type_name(ca))
    if not isinstance(reject_unauthorized, bool):
        raise ERR_INVALID_ARG_TYPE(
            "reject_unauthorized", "of type boolean", _type_name(reject_unauthorized)
        )
    if servername is not None:
        string("servername", servername)
    out: dict[str, Any] = {}
    if ca is not None:
        out["ca"] = ca
    if not reject_unauthorized:
        out["reject_unauthorized"] = False
    if servername is not None:
        out["servername"] = servername
    return out
