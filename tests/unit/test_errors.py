"""Errors: Node's codes on Python's exception types, Node's message formats."""

from __future__ import annotations

import copy
import errno
import json
import pickle
import shutil
import socket
import subprocess

import pytest

from nodish import errors
from nodish.errors import NodeError, NodeSystemError, codes, system_error, translate_os_error

NODE = shutil.which("node")

# Node's base class for each code (lib/internal/errors.js): TypeError -> TypeError,
# RangeError -> ValueError, Error and SystemError -> neither. ERR_INVALID_ARG_VALUE, a
# TypeError in Node that Python would call a ValueError, is both. Codes added to the
# table later are checked when they are listed here.
NODE_BASE = {
    "ERR_BUFFER_OUT_OF_BOUNDS": "RangeError",
    "ERR_HTTP_BODY_NOT_ALLOWED": "Error",
    "ERR_HTTP_CONTENT_LENGTH_MISMATCH": "Error",
    "ERR_HTTP_HEADERS_SENT": "Error",
    "ERR_HTTP_INVALID_HEADER_VALUE": "TypeError",
    "ERR_HTTP_INVALID_STATUS_CODE": "RangeError",
    "ERR_HTTP_REQUEST_TIMEOUT": "Error",
    "ERR_HTTP_SOCKET_ENCODING": "Error",
    "ERR_HTTP_TRAILER_INVALID": "Error",
    "ERR_ILLEGAL_CONSTRUCTOR": "TypeError",
    "ERR_INVALID_ADDRESS_FAMILY": "RangeError",
    "ERR_INVALID_ARG_TYPE": "TypeError",
    "ERR_INVALID_ARG_VALUE": "both",
    "ERR_INVALID_CHAR": "TypeError",
    "ERR_INVALID_FD": "RangeError",
    "ERR_INVALID_FD_TYPE": "TypeError",
    "ERR_INVALID_HANDLE_TYPE": "TypeError",
    "ERR_INVALID_HTTP_TOKEN": "TypeError",
    "ERR_INVALID_IP_ADDRESS": "TypeError",
    "ERR_INVALID_PROTOCOL": "TypeError",
    "ERR_INVALID_RETURN_VALUE": "TypeError",
    "ERR_INVALID_STATE": "Error",
    "ERR_INVALID_THIS": "TypeError",
    "ERR_INVALID_URL": "TypeError",
    "ERR_METHOD_NOT_IMPLEMENTED": "Error",
    "ERR_MISSING_ARGS": "TypeError",
    "ERR_MISSING_OPTION": "TypeError",
    "ERR_MULTIPLE_CALLBACK": "Error",
    "ERR_OUT_OF_RANGE": "RangeError",
    "ERR_SERVER_ALREADY_LISTEN": "Error",
    "ERR_SERVER_NOT_RUNNING": "Error",
    "ERR_SOCKET_ALREADY_BOUND": "Error",
    "ERR_SOCKET_BAD_BUFFER_SIZE": "TypeError",
    "ERR_SOCKET_BAD_PORT": "RangeError",
    "ERR_SOCKET_BAD_TYPE": "TypeError",
    "ERR_SOCKET_BUFFER_SIZE": "Error",
    "ERR_SOCKET_CLOSED": "Error",
    "ERR_SOCKET_CLOSED_BEFORE_CONNECTION": "Error",
    "ERR_SOCKET_CONNECTION_TIMEOUT": "Error",
    "ERR_SOCKET_DGRAM_IS_CONNECTED": "Error",
    "ERR_SOCKET_DGRAM_NOT_CONNECTED": "Error",
    "ERR_SOCKET_DGRAM_NOT_RUNNING": "Error",
    "ERR_STREAM_ALREADY_FINISHED": "Error",
    "ERR_STREAM_CANNOT_PIPE": "Error",
    "ERR_STREAM_DESTROYED": "Error",
    "ERR_STREAM_NULL_VALUES": "TypeError",
    "ERR_STREAM_PREMATURE_CLOSE": "Error",
    "ERR_STREAM_PUSH_AFTER_EOF": "Error",
    "ERR_STREAM_UNSHIFT_AFTER_END_EVENT": "Error",
    "ERR_STREAM_WRITE_AFTER_END": "Error",
    "ERR_SYSTEM_ERROR": "Error",
    "ERR_TLS_ALPN_CALLBACK_INVALID_RESULT": "TypeError",
    "ERR_TLS_CERT_ALTNAME_INVALID": "Error",
    "ERR_TLS_HANDSHAKE_TIMEOUT": "Error",
    "ERR_TLS_INVALID_CONTEXT": "TypeError",
    "ERR_TLS_INVALID_PROTOCOL_VERSION": "TypeError",
    "ERR_TLS_INVALID_STATE": "Error",
    "ERR_TLS_PROTOCOL_VERSION_CONFLICT": "TypeError",
    "ERR_TLS_RENEGOTIATION_DISABLED": "Error",
    "ERR_TLS_SNI_FROM_SERVER": "Error",
    "ERR_UNESCAPED_CHARACTERS": "TypeError",
    "ERR_UNHANDLED_ERROR": "Error",
    "ERR_UNKNOWN_ENCODING": "TypeError",
}
ALL_CODES = [code for code, _, _ in errors._CODES]


# -- ERR_* classes -----------------------------------------------------------------


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_err_class_is_named_after_its_code_and_carries_it(code: str) -> None:
    cls = getattr(codes, code)
    assert cls.__name__ == code
    assert getattr(errors, code) is cls
    assert code in errors.__all__
    err = cls("a", "b", "c")
    assert err.code == code
    assert isinstance(err, NodeError)
    assert str(err) == err.message


@pytest.mark.parametrize("code", [c for c in ALL_CODES if c in NODE_BASE])
def test_every_err_class_has_the_python_base_matching_nodes(code: str) -> None:
    cls = getattr(codes, code)
    node_base = NODE_BASE[code]
    assert issubclass(cls, TypeError) == (node_base in ("TypeError", "both"))
    assert issubclass(cls, ValueError) == (node_base in ("RangeError", "both"))


@pytest.mark.parametrize("code", [*ALL_CODES, "AbortError"])
def test_every_err_class_pickles_and_copies_with_its_message(code: str) -> None:
    cls = getattr(errors, code)
    err = cls("x", "y", "z")
    err.extra = "kept"
    for back in (pickle.loads(pickle.dumps(err)), copy.copy(err)):
        assert type(back) is cls
        assert back.message == err.message and str(back) == str(err)
        assert back.code == err.code
        assert back.extra == "kept"


def test_err_messages_follow_nodes_templates() -> None:
    err = errors.ERR_INVALID_ARG_TYPE("listener", "a function", "str")
    assert str(err) == 'The "listener" argument must be a function. Received str'
    assert repr(err) == f"ERR_INVALID_ARG_TYPE({err.message!r})"
    assert str(errors.ERR_SOCKET_CLOSED()) == "Socket is closed"
    assert str(errors.ERR_UNHANDLED_ERROR("'x'")) == "Unhandled error. ('x')"
    assert str(errors.ERR_STREAM_DESTROYED("write")) == (
        "Cannot call write after a stream was destroyed"
    )
    assert str(errors.ERR_SOCKET_CLOSED(message="custom")) == "custom"


def test_abort_error_has_nodes_abort_err_code() -> None:
    err = errors.AbortError()
    assert err.code == "ABORT_ERR"
    assert str(err) == "The operation was aborted"


def test_an_unknown_code_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        codes.ERR_NO_SUCH_THING  # noqa: B018


# -- system errors: Node's message formats --------------------------------------


def test_connect_errors_have_nodes_format_without_detail() -> None:
    err = system_error(errno.ECONNREFUSED, "connect", "127.0.0.1", 8080)
    assert str(err) == "connect ECONNREFUSED 127.0.0.1:8080"
    assert (err.code, err.errno, err.syscall, err.address, err.port) == (
        "ECONNREFUSED",
        errno.ECONNREFUSED,
        "connect",
        "127.0.0.1",
        8080,
    )


def test_listen_errors_have_nodes_format_with_libuvs_description() -> None:
    err = system_error(errno.EADDRINUSE, "listen", "127.0.0.1", 8124, detail=True)
    assert str(err) == "listen EADDRINUSE: address already in use 127.0.0.1:8124"
    # libuv's wording, not the C library's ("Cannot assign requested address")
    err = system_error(errno.EADDRNOTAVAIL, "listen", "192.0.2.1", 80, detail=True)
    assert str(err) == "listen EADDRNOTAVAIL: address not available 192.0.2.1:80"


def test_the_port_is_shown_only_when_above_zero_else_the_address_alone() -> None:
    assert str(system_error(errno.EACCES, "bind", "0.0.0.0", 0, detail=True)) == (
        "bind EACCES: permission denied 0.0.0.0"
    )
    assert str(system_error(errno.ENOENT, "connect", "/tmp/nope.sock")) == (
        "connect ENOENT /tmp/nope.sock"
    )
    assert str(system_error(errno.EPIPE, "write")) == "write EPIPE"


def test_dns_errors_have_nodes_format_and_enotfound_for_unknown_names() -> None:
    err = system_error(socket.EAI_NONAME, "getaddrinfo", hostname="nope.invalid")
    assert str(err) == "getaddrinfo ENOTFOUND nope.invalid"
    assert (err.code, err.syscall, err.hostname) == ("ENOTFOUND", "getaddrinfo", "nope.invalid")
    assert isinstance(err, socket.gaierror)
    again = system_error(socket.EAI_AGAIN, "getaddrinfo", hostname="example.com")
    assert str(again) == "getaddrinfo EAI_AGAIN example.com"


@pytest.mark.parametrize(
    ("err", "builtin"),
    [
        (errno.ECONNREFUSED, ConnectionRefusedError),
        (errno.ECONNRESET, ConnectionResetError),
        (errno.ECONNABORTED, ConnectionAbortedError),
        (errno.EPIPE, BrokenPipeError),
        (errno.ETIMEDOUT, TimeoutError),
        (errno.EACCES, PermissionError),
        (errno.ENOENT, FileNotFoundError),
        (errno.EAGAIN, BlockingIOError),
    ],
)
def test_system_errors_are_the_builtin_oserror_subclass_python_picks(
    err: int, builtin: type[OSError]
) -> None:
    e = system_error(err, "connect", "127.0.0.1", 1)
    assert isinstance(e, builtin)
    assert isinstance(e, NodeSystemError) and isinstance(e, OSError)
    assert type(e).__name__ == builtin.__name__
    try:
        raise e
    except builtin as caught:
        assert caught.code == errno.errorcode[err]  # type: ignore[attr-defined]


def test_an_errno_python_has_no_subclass_for_is_a_plain_node_system_error() -> None:
    e = system_error(errno.EADDRINUSE, "listen", "127.0.0.1", 1, detail=True)
    assert type(e) is NodeSystemError
    assert e.code == "EADDRINUSE"


def test_system_errors_pickle_and_copy_with_every_field() -> None:
    for e in (
        system_error(errno.ECONNREFUSED, "connect", "127.0.0.1", 8080),
        system_error(errno.EADDRINUSE, "listen", "::1", 8124, detail=True),
        system_error(socket.EAI_NONAME, "getaddrinfo", hostname="nope.invalid"),
    ):
        for back in (pickle.loads(pickle.dumps(e)), copy.copy(e)):
            assert type(back) is type(e)
            assert str(back) == str(e)
            fields = ("code", "errno", "syscall", "address", "port", "hostname")
            assert [getattr(back, f) for f in fields] == [getattr(e, f) for f in fields]


# -- translate_os_error on real failures ------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused(port: int) -> OSError:
    with socket.socket() as s:
        try:
            s.connect(("127.0.0.1", port))
        except OSError as exc:
            return exc
    raise AssertionError("the connect succeeded")


def addr_in_use(port: int) -> OSError:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    raise AssertionError("the bind succeeded")


def not_found(name: str) -> OSError:
    try:
        socket.getaddrinfo(name, 80)
    except OSError as exc:
        return exc
    raise AssertionError("the name resolved")


def test_a_refused_connect_translates_to_econnrefused() -> None:
    port = free_port()
    raw = refused(port)
    err = translate_os_error(raw, "connect", "127.0.0.1", port)
    assert isinstance(err, ConnectionRefusedError)
    assert err.code == "ECONNREFUSED"  # type: ignore[attr-defined]
    assert str(err) == f"connect ECONNREFUSED 127.0.0.1:{port}"
    assert err.__cause__ is raw


def test_a_taken_port_translates_to_eaddrinuse_in_listens_format() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        err = translate_os_error(addr_in_use(port), "listen", "127.0.0.1", port, detail=True)
    assert err.code == "EADDRINUSE"  # type: ignore[attr-defined]
    assert str(err) == f"listen EADDRINUSE: address already in use 127.0.0.1:{port}"


def test_a_failed_lookup_translates_to_enotfound() -> None:
    err = translate_os_error(not_found("nope.invalid"), "getaddrinfo", "nope.invalid")
    assert isinstance(err, socket.gaierror)
    assert err.code == "ENOTFOUND"  # type: ignore[attr-defined]
    assert str(err) == "getaddrinfo ENOTFOUND nope.invalid"


def test_a_timeout_without_errno_translates_to_etimedout() -> None:
    err = translate_os_error(TimeoutError(), "connect", "127.0.0.1", 9)
    assert isinstance(err, TimeoutError)
    assert str(err) == "connect ETIMEDOUT 127.0.0.1:9"


def test_asyncios_multiple_exceptions_error_takes_the_first_errno_named() -> None:
    raw = OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 99] Cannot")
    err = translate_os_error(raw, "connect", "localhost", 80)
    assert err.code == "ECONNREFUSED"  # type: ignore[attr-defined]


def test_what_is_not_an_os_error_or_already_translated_is_returned_as_is() -> None:
    node = errors.ERR_SOCKET_CLOSED()
    system = system_error(errno.EPIPE, "write")
    other = ValueError("x")
    for exc in (node, system, other):
        assert translate_os_error(exc, "write") is exc


@pytest.mark.skipif(NODE is None, reason="node is not installed on this machine")
def test_messages_match_what_node_itself_says_for_the_same_failures() -> None:
    port = free_port()  # nothing listens here: connect is refused
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        script = """
        const net = require('net');
        const [refusedPort, takenPort] = process.argv.slice(1).map(Number);
        const out = {};
        const done = () => { if (Object.keys(out).length === 3) console.log(JSON.stringify(out)); };
        const keep = (name) => (e) => { out[name] = [e.message, e.code, e.syscall]; done(); };
        net.connect(refusedPort, '127.0.0.1').on('error', keep('connect'));
        net.createServer().on('error', keep('listen')).listen(takenPort, '127.0.0.1');
        net.connect(80, 'nope.invalid').on('error', keep('dns'));
        """
        node = subprocess.run(
            [NODE, "-e", script, str(port), str(taken)],  # type: ignore[list-item]
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        ours = {
            "connect": translate_os_error(refused(port), "connect", "127.0.0.1", port),
            "listen": translate_os_error(
                addr_in_use(taken), "listen", "127.0.0.1", taken, detail=True
            ),
            "dns": translate_os_error(not_found("nope.invalid"), "getaddrinfo", "nope.invalid"),
        }
    theirs = json.loads(node.stdout)
    for name, err in ours.items():
        assert [str(err), err.code, err.syscall] == theirs[name], name  # type: ignore[attr-defined]


def test_asyncios_timeout_error_translates_to_etimedout_on_every_python() -> None:
    import asyncio

    raw = asyncio.TimeoutError()
    err = translate_os_error(raw, "connect", "127.0.0.1", 9)
    assert err.code == "ETIMEDOUT"  # type: ignore[attr-defined]
    assert err.__cause__ is raw
