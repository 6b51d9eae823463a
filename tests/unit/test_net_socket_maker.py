"""A server's accepted sockets come from accepted_socket_maker: the same object the
constructor builds, slot for slot, whatever the server's options."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from nodish import events, net, runtime
from nodish.net.socket import Socket, accepted_socket_maker


def _slots(sock: Socket) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in type(sock).__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            try:
                out[name] = getattr(sock, name)
            except AttributeError:
                out[name] = "<unset>"
    return out


def _same(made: Socket, built: Socket, server: net.Server) -> None:
    a, b = _slots(made), _slots(built)
    assert a.keys() == b.keys()
    for name in a:
        if name == "_handle":
            for slot in runtime.HandleRef.__slots__:
                if slot != "closer":
                    assert getattr(a[name], slot) == getattr(b[name], slot), slot
            assert a[name].closer == made.destroy
        elif name == "_w_onwrite":
            assert a[name] == made._onwrite
        elif name == "_events":
            assert a[name] == b[name] == {}
            assert a[name] is not b[name]
        else:
            assert a[name] == b[name], name
    assert made._server is server


async def test_made_sockets_equal_constructed_ones_for_every_option() -> None:
    for opts in (
        {},
        {"allow_half_open": True, "no_delay": True},
        {"keep_alive": True, "keep_alive_initial_delay": 2.5, "high_water_mark": 1024},
        {"high_water_mark": 0, "pause_on_connect": True},
    ):
        server = net.Server(**opts)
        make = accepted_socket_maker(server, server._opts)
        assert make is not None
        first, second = make(server), make(server)
        _same(first, Socket(_server=server, **server._opts), server)
        assert first._events is not second._events
        assert first._handle is not second._handle


async def test_made_sockets_read_capture_rejections_when_made() -> None:
    server = net.Server()
    make = accepted_socket_maker(server, server._opts)
    assert make is not None
    events.EventEmitter.capture_rejections = True
    try:
        assert make(server)._capture_rejections is True
    finally:
        events.EventEmitter.capture_rejections = False
    assert make(server)._capture_rejections is False


async def test_a_value_it_cannot_copy_leaves_the_constructor_to_build_them() -> None:
    server = net.Server(keep_alive=True, keep_alive_initial_delay=Fraction(3, 2))
    assert accepted_socket_maker(server, server._opts) is None
    sock = server._factory()  # the constructor's socket
    assert sock._keep_alive_delay == Fraction(3, 2) and sock._server is server


async def test_tls_servers_make_their_sockets_too() -> None:
    from tests.tls_fixtures import pki

    from nodish import tls
    from nodish.tls import TLSSocket

    for opts in (
        {},
        {"request_cert": True, "reject_unauthorized": False, "handshake_timeout": 0},
        {"no_delay": True, "allow_half_open": True, "high_water_mark": 1024},
    ):
        server = tls.Server(**pki().server_options(), **opts)
        first, second = server._factory(), server._factory()
        assert server._make is not None and type(first) is TLSSocket
        built = server._new_socket()
        _same(first, built, server)
        assert first._opts is not second._opts and first._ctx is server._secure_context
        # a new context is for the connections that come after
        server.set_secure_context(pki().server_options())
        assert server._factory()._ctx is server._secure_context is not first._ctx
