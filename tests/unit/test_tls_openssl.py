"""tls/_openssl: OpenSSL functions pyOpenSSL does not bind, found in the symbol table
of the extension module that holds pyOpenSSL's OpenSSL."""

from __future__ import annotations

import ctypes
import os
import subprocess

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


SHARED_LIBSSL_CHECK = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_openssl", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
from OpenSSL import SSL
assert m.reason(m.TICKET_FUNCTION) is None, m.reason(m.TICKET_FUNCTION)
ctx = SSL.Context(SSL.TLS_METHOD)
before = m.get_ticket_keys(ctx)
m.set_ticket_keys(ctx, bytes(range(80)))
assert m.get_ticket_keys(ctx) == bytes(range(80)) != before
print(m._load().path)
print(m.reason("SSL_no_such"))
"""


def test_a_cryptography_built_against_the_shared_libssl() -> None:
    """Debian's python3-cryptography (scripts/setup-system) links the system's libssl, as
    conda's links its own: the functions are that library's exports."""
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", SHARED_LIBSSL_CHECK, _openssl.__file__],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    path, missing = proc.stdout.splitlines()
    assert os.path.basename(path).startswith("libssl.so")
    assert missing.endswith("exports no function named SSL_no_such")
