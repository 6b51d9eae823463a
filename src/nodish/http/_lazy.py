"""Stream state set up on first use, without ``__getattr__``.

Theory of operation
-------------------
Most messages never use their stream side (a hello-world response is written with
``end(body)``; a GET has no body to read), so their Readable/Writable state (the
``Stream`` slots, some forty) is set up only when something first touches it.

A ``__getattr__`` hook would do it, but CPython then specializes no attribute load on
the class (3.11+ specializes ``LOAD_ATTR`` only for the generic lookup), so every
``self.x`` of every message would take the slow path on the hot path. Instead each
message class gets a *twin*: a subclass with the same name and no slots of its own,
whose ``Stream`` slot names are descriptors. Objects are created as the twin (the
class's ``__new__``); the first get, set or delete of a stream slot switches the object
to its real class (``__class__`` assignment: same layout) and calls its
``_init_stream()``, after which every attribute is a plain slot. All other attributes
are plain slots from the start.
"""

from __future__ import annotations

from typing import Any

from ..stream._base import Stream

__all__ = ["LazyStream", "lazy_twin", "wake"]


def wake(obj: Any) -> None:
    """Give ``obj`` its stream state now (its real class, ``_init_stream()``)."""
    cls = type(obj)
    if cls.__dict__.get("_is_lazy_twin"):
        obj.__class__ = cls.__bases__[0]
    obj._init_stream()


class LazyStream:
    """Base of a message class whose objects start as its twin (module notes).

    The class must define ``_init_stream()`` (idempotent: it starts with
    :meth:`_start_stream`) and a ``_stream_ready`` slot.
    """

    __slots__ = ()

    _lazy_twin: type[Any]

    def _start_stream(self) -> bool:
        """Set up the ``Stream`` state, once (False if it was already), keeping the
        emitter's (the message's listeners); ``_init_stream`` then sets up its side's,
        Readable's or Writable's."""
        me: Any = self  # (its slots are its class's: a Readable or Writable message)
        if me._stream_ready:
            return False
        me._stream_ready = True
        Stream._init_stream_state(me)
        me._start_construct()
        return True

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls._lazy_twin)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_lazy_twin" not in cls.__dict__:
            cls._lazy_twin = lazy_twin(cls)


class _Trap:
    """A stream slot of a twin: the first use wakes the object, then acts as the slot."""

    __slots__ = ("member",)

    def __init__(self, member: Any) -> None:
        self.member = member

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self.member
        wake(obj)
        return self.member.__get__(obj, owner)

    def __set__(self, obj: Any, value: Any) -> None:
        wake(obj)
        self.member.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        wake(obj)
        self.member.__delete__(obj)


def lazy_twin(cls: type[Any]) -> type[Any]:
    """The twin of ``cls`` (see the module notes); ``cls`` must define ``_init_stream``."""
    ns: dict[str, Any] = {
        "__slots__": (),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "_is_lazy_twin": True,
        "_lazy_twin": None,  # set below: the twin's own objects are twins
    }
    for name in Stream.__slots__:
        ns[name] = _Trap(Stream.__dict__[name])
    twin: Any = type(cls.__name__, (cls,), ns)
    twin._lazy_twin = twin
    return twin  # type: ignore[no-any-return]
