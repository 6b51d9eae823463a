"""A message's stream state is set up on first use (nodish.http._lazy), invisibly."""

from __future__ import annotations

from nodish.http import ServerResponse
from nodish.http.incoming import IncomingMessage
from nodish.http.outgoing import OutgoingMessage
from nodish.http.parser import Head


def _response(cls: type[ServerResponse] = ServerResponse) -> ServerResponse:
    return cls(IncomingMessage(None, Head()))


def test_an_unused_response_looks_like_its_class() -> None:
    res = _response()
    assert isinstance(res, ServerResponse)
    assert isinstance(res, OutgoingMessage)
    assert type(res).__name__ == "ServerResponse"
    assert type(res).__qualname__ == "ServerResponse"
    assert "ServerResponse 200" in repr(res)


def test_first_stream_read_sets_up_state_consistent_with_the_message() -> None:
    res = _response()
    res.end(b"x")  # no socket: kept for later, ended but not finished
    assert res.writable_aborted is False  # the first read of the Writable's own state
    assert type(res) is ServerResponse  # the real class from now on
    assert res._w_ended is True
    assert res._w_finished is False
    assert res.writable_ended is True
    assert res.writable_object_mode is False


def test_first_stream_write_sets_up_state() -> None:
    res = _response()
    res._w_default_encoding = "latin1"  # assigned before any was read
    assert type(res) is ServerResponse
    assert res._w_default_encoding == "latin1"
    assert res.writable_object_mode is False


def test_subclasses_get_their_own_lazy_twin() -> None:
    class Mine(ServerResponse):
        __slots__ = ("extra",)

        def __init__(self, req: IncomingMessage) -> None:
            super().__init__(req)
            self.extra = 1

    res = _response(Mine)
    assert isinstance(res, Mine)
    assert type(res).__name__ == "Mine"
    assert res.extra == 1
    assert res.writable_object_mode is False
    assert type(res) is Mine
    assert res.extra == 1


def test_an_unread_request_sets_up_its_stream_when_read() -> None:
    req = IncomingMessage(None, Head())
    assert isinstance(req, IncomingMessage)
    assert type(req).__name__ == "IncomingMessage"
    req._on_end(None)  # the body (none) ended before anyone read it
    assert req.complete is True
    assert req.readable_ended is False  # the first read of stream state
    assert type(req) is IncomingMessage
    assert req._r_ended is True  # the EOF that came before was replayed
    assert req.read() is None


def test_set_encoding_first_keeps_the_decoder() -> None:
    req = IncomingMessage(None, Head())
    req.set_encoding("utf8")
    assert type(req) is IncomingMessage
    assert req.readable_encoding == "utf8"
    req.push("é".encode())
    assert req.read() == "é"
