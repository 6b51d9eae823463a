"""tls/_openssl: OpenSSL functions pyOpenSSL does not bind, found in the symbol table
of the extension module that holds pyOpenSSL's OpenSSL."""

from __future__ import annotations

import ctypes

import pytest
from OpenSSL import SSL

from nodish.tls import _openssl


def test_any_function_by_name_restype_and_argtypes() -> None:
    assert _openssl.reason() is None, _openssl.reason()
    set_num = _openssl.function(
        "SSL_CTX_set_num_tickets", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t]
    )
    get_num = _openssl.function("SSL_CTX_get_num_tickets", ctypes.c_size_t, [ctypes.c_void_p])
    assert _openssl.function("SSL_CTX_set_num_tickets", ctypes.c_int, []) is set_num  # cached
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ptr = _openssl.context_pointer(ctx)
    assert get_num(ptr) == 2  # OpenSSL's default
    assert set_num(ptr, 5) == 1
    assert get_num(ptr) == 5


def test_ticket_keys_round_trip_through_openssl() -> None:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    before = _openssl.get_ticket_keys(ctx)
    assert len(before) == _openssl.TICKET_KEY_LENGTH == 80
    keys = bytes(range(80))
    _openssl.set_ticket_keys(ctx, keys)
    assert _openssl.get_ticket_keys(ctx) == keys
    with pytest.raises(ValueError):
        _openssl.set_ticket_keys(ctx, keys[:48])


def test_an_unknown_name_is_unavailable_with_its_reason() -> None:
    with pytest.raises(_openssl.UnavailableError, match="has no function named SSL_no_such"):
        _openssl.function("SSL_no_such", ctypes.c_int, [])
    assert _openssl.reason("SSL_no_such").endswith("has no function named SSL_no_such")
    assert _openssl.reason() is None  # the others still work
