"""Errors with Node's codes.

Theory of operation
-------------------
Two families, as in Node:

* **Library errors** (``ERR_*``): one class per Node code, generated from the table
  ``_CODES`` below, which is Node's ``E(code, message, Base)`` list in Python form. Each
  class is named exactly like its code, derives from :class:`NodeError` and from the
  Python built-in that matches Node's base (``TypeError`` for Node's TypeError,
  ``ValueError`` for Node's RangeError), so ``except TypeError`` and
  ``err.code == 'ERR_INVALID_ARG_TYPE'`` both work. ``str(err)`` is the message alone;
  the class name already says the code.
* **System errors** (``ECONNREFUSED``, ``EADDRINUSE``, ``ENOTFOUND`` ...): Python's own
  ``OSError`` subclasses (``ConnectionRefusedError`` ...) mixed with
  :class:`NodeSystemError`, carrying Node's fields ``code``, ``errno``, ``syscall``,
  ``address``, ``port`` (and ``hostname`` for DNS) and Node's message
  (``connect ECONNREFUSED 127.0.0.1:8080``). ``errno`` is Python's positive errno (or
  the ``socket.EAI_*`` value for DNS failures), so it compares with the ``errno``
  module; Node's negative numbers are a libuv detail we do not copy.

OS and DNS failures are translated here, once, by :func:`system_error` and
:func:`translate_os_error`; transports call them at the boundary and nothing above
sees a raw ``OSError``.

Codes are the contract; messages are prose and may change.
"""

from __future__ import annotations

import asyncio
import errno as _errno
import os
import re
import socket
from typing import Any

__all__ = [
    "AbortError",
    "NodeError",
    "NodeSystemError",
    "codes",
    "system_error",
    "translate_os_error",
    "validate_callback",
]


class NodeError(Exception):
    """Base of every ``ERR_*`` error: ``.code`` is Node's code, ``.message`` the text."""

    code: str = "ERR_NODISH"
    template: str = "{}"

    def __init__(self, *args: Any, message: str | None = None) -> None:
        if message is None:
            if args:
                try:
                    message = self.template.format(*args)
                except IndexError:
                    message = " ".join(str(a) for a in args)
            else:
                message = self.template.replace(" {}", "").replace("{}", "")
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> Any:
        # Exception's default pickling re-runs __init__ with the message as the first
        # template argument, which would format it a second time.
        return (_rebuild_node_error, (type(self), self.message), self.__dict__)


def _rebuild_node_error(cls: type[NodeError], message: str) -> NodeError:
    return cls(message=message)


class AbortError(NodeError):
    """An operation was aborted (Node's ``AbortError``, code ``ABORT_ERR``)."""

    code = "ABORT_ERR"
    template = "The operation was aborted"


# (code, message template with {} placeholders, Python base besides NodeError)
# Node's TypeError -> TypeError, RangeError -> ValueError, Error -> NodeError alone.
# ERR_INVALID_ARG_VALUE is a TypeError in Node and a bad value in Python's terms: it is
# both, so ``except TypeError`` (Node's habit) and ``except ValueError`` (Python's) work.
_Base = type[Exception] | tuple[type[Exception], ...] | None
_CODES: list[tuple[str, str, _Base]] = [
    ("ERR_INVALID_ARG_TYPE", 'The "{}" argument must be {}. Received {}', TypeError),
    ("ERR_INVALID_ARG_VALUE", "The argument '{}' is invalid. Received {}", (TypeError, ValueError)),
    (
        "ERR_OUT_OF_RANGE",
        'The value of "{}" is out of range. It must be {}. Received {}',
        ValueError,
    ),
    ("ERR_MISSING_ARGS", 'The "{}" argument must be specified', TypeError),
    ("ERR_INVALID_RETURN_VALUE", 'Expected {} to be returned from the "{}" function', TypeError),
    ("ERR_INVALID_STATE", "Invalid state: {}", None),
    # nodish's own (Node has one thread per loop): an object used from a thread
    # other than its loop's
    ("ERR_INVALID_THREAD", "{}", RuntimeError),
    ("ERR_METHOD_NOT_IMPLEMENTED", "The {} method is not implemented", None),
    ("ERR_MULTIPLE_CALLBACK", "Callback called multiple times", None),
    ("ERR_UNHANDLED_ERROR", "Unhandled error. ({})", None),
    ("ERR_STREAM_WRITE_AFTER_END", "write after end", None),
    ("ERR_STREAM_DESTROYED", "Cannot call {} after a stream was destroyed", None),
    ("ERR_STREAM_PREMATURE_CLOSE", "Premature close", None),
    ("ERR_STREAM_PUSH_AFTER_EOF", "stream.push() after EOF", None),
    ("ERR_STREAM_UNSHIFT_AFTER_END_EVENT", "stream.unshift() after end event", None),
    ("ERR_STREAM_NULL_VALUES", "May not write null values to stream", TypeError),
    ("ERR_STREAM_ALREADY_FINISHED", "Cannot call {} after a stream was finished", None),
    ("ERR_STREAM_CANNOT_PIPE", "Cannot pipe, not readable", None),
    ("ERR_UNKNOWN_ENCODING", "Unknown encoding: {}", TypeError),
    ("ERR_SOCKET_CLOSED", "Socket is closed", None),
    (
        "ERR_SOCKET_CLOSED_BEFORE_CONNECTION",
        "Socket closed before the connection was established",
        None,
    ),
    ("ERR_SOCKET_CONNECTION_TIMEOUT", "Socket connection timeout", None),
    ("ERR_SOCKET_BAD_PORT", "{} should be >= 0 and < 65536. Received {}", ValueError),
    ("ERR_SOCKET_BAD_TYPE", "Bad socket type specified. Valid types are: udp4, udp6", TypeError),
    ("ERR_SOCKET_BAD_BUFFER_SIZE", "Buffer size must be a positive integer", TypeError),
    ("ERR_SOCKET_BUFFER_SIZE", "Could not get or set buffer size: {}", None),
    ("ERR_SOCKET_ALREADY_BOUND", "Socket is already bound", None),
    ("ERR_SOCKET_DGRAM_NOT_RUNNING", "Not running", None),
    ("ERR_SOCKET_DGRAM_IS_CONNECTED", "Already connected", None),
    ("ERR_SOCKET_DGRAM_NOT_CONNECTED", "Not connected", None),
    ("ERR_SERVER_NOT_RUNNING", "Server is not running.", None),
    (
        "ERR_SERVER_ALREADY_LISTEN",
        "Listen method has been called more than once without closing.",
        None,
    ),
    ("ERR_INVALID_IP_ADDRESS", "Invalid IP address: {}", TypeError),
    ("ERR_INVALID_ADDRESS_FAMILY", "Invalid address family: {} {}:{}", ValueError),
    ("ERR_INVALID_HANDLE_TYPE", "This handle type cannot be sent", TypeError),
    ("ERR_SYSTEM_ERROR", "A system error occurred: {}", None),
    ("ERR_UNKNOWN_SIGNAL", "Unknown signal: {}", TypeError),
    ("ERR_IPC_CHANNEL_CLOSED", "Channel closed", None),
    ("ERR_IPC_DISCONNECTED", "IPC channel is already disconnected", None),
    # nodish's own: a cluster IPC frame that is not one JSON value, or too long
    ("ERR_IPC_BAD_MESSAGE", "{}", ValueError),
    ("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match certificate's altnames: {}", None),
    ("ERR_TLS_HANDSHAKE_TIMEOUT", "TLS handshake timeout", None),
    ("ERR_TLS_INVALID_PROTOCOL_VERSION", "{} is not a valid {} TLS protocol version", TypeError),
    ("ERR_TLS_INVALID_CONTEXT", "{} must be a SecureContext", TypeError),
    (
        "ERR_TLS_PROTOCOL_VERSION_CONFLICT",
        "TLS protocol version {} conflicts with {}",
        TypeError,
    ),
    ("ERR_TLS_SESSION_ATTACK", "TLS session renegotiation attack detected", None),
    (
        "ERR_TLS_ALPN_CALLBACK_INVALID_RESULT",
        "ALPN callback returned a value ({}) that did not match any of the client's offered "
        "protocols ({})",
        TypeError,
    ),
    # http
    ("ERR_HTTP_HEADERS_SENT", "Cannot {} headers after they are sent to the client", None),
    ("ERR_HTTP_INVALID_HEADER_VALUE", 'Invalid value "{}" for header "{}"', TypeError),
    ("ERR_HTTP_INVALID_STATUS_CODE", "Invalid status code: {}", ValueError),
    ("ERR_HTTP_REQUEST_TIMEOUT", "Request timeout", None),
    ("ERR_HTTP_TRAILER_INVALID", "Trailers are invalid with this transfer encoding", None),
    (
        "ERR_HTTP_BODY_NOT_ALLOWED",
        "Adding content for this request method or response status is not allowed.",
        None,
    ),
    (
        "ERR_HTTP_CONTENT_LENGTH_MISMATCH",
        "Response body's content-length of {} byte(s) does not match the content-length "
        "of {} byte(s) set in header",
        None,
    ),
    ("ERR_INVALID_HTTP_TOKEN", '{} must be a valid HTTP token ["{}"]', TypeError),
    ("ERR_INVALID_CHAR", 'Invalid character in {} ["{}"]', TypeError),
    ("ERR_UNESCAPED_CHARACTERS", "{} contains unescaped characters", TypeError),
    ("ERR_INVALID_PROTOCOL", 'Protocol "{}" not supported. Expected "{}"', TypeError),
    ("ERR_INVALID_URL", "Invalid URL", TypeError),
]


class _Codes:
    """Namespace of the generated ``ERR_*`` classes, like Node's ``errors.codes``."""

    def __getattr__(self, name: str) -> type[NodeError]:
        raise AttributeError(f"no error code {name!r}")


codes: Any = _Codes()


def _make(code: str, template: str, base: _Base) -> type[NodeError]:
    if base is None:
        bases: tuple[type, ...] = (NodeError,)
    elif isinstance(base, tuple):
        bases = (NodeError, *base)
    else:
        bases = (NodeError, base)
    cls = type(code, bases, {"code": code, "template": template, "__module__": __name__})
    cls.__doc__ = f"Node's {code}: {template}"
    return cls


for _code, _template, _base in _CODES:
    _cls = _make(_code, _template, _base)
    setattr(codes, _code, _cls)
    globals()[_code] = _cls
    __all__.append(_code)

# Typed aliases for the codes the library raises most (mypy cannot see generated names).
ERR_INVALID_ARG_TYPE: type[NodeError] = codes.ERR_INVALID_ARG_TYPE
ERR_INVALID_ARG_VALUE: type[NodeError] = codes.ERR_INVALID_ARG_VALUE
ERR_OUT_OF_RANGE: type[NodeError] = codes.ERR_OUT_OF_RANGE
ERR_MISSING_ARGS: type[NodeError] = codes.ERR_MISSING_ARGS
ERR_INVALID_RETURN_VALUE: type[NodeError] = codes.ERR_INVALID_RETURN_VALUE
ERR_INVALID_STATE: type[NodeError] = codes.ERR_INVALID_STATE
ERR_INVALID_THREAD: type[NodeError] = codes.ERR_INVALID_THREAD
ERR_METHOD_NOT_IMPLEMENTED: type[NodeError] = codes.ERR_METHOD_NOT_IMPLEMENTED
ERR_MULTIPLE_CALLBACK: type[NodeError] = codes.ERR_MULTIPLE_CALLBACK
ERR_UNHANDLED_ERROR: type[NodeError] = codes.ERR_UNHANDLED_ERROR
ERR_STREAM_WRITE_AFTER_END: type[NodeError] = codes.ERR_STREAM_WRITE_AFTER_END
ERR_STREAM_DESTROYED: type[NodeError] = codes.ERR_STREAM_DESTROYED
ERR_STREAM_PREMATURE_CLOSE: type[NodeError] = codes.ERR_STREAM_PREMATURE_CLOSE
ERR_STREAM_PUSH_AFTER_EOF: type[NodeError] = codes.ERR_STREAM_PUSH_AFTER_EOF
ERR_STREAM_UNSHIFT_AFTER_END_EVENT: type[NodeError] = codes.ERR_STREAM_UNSHIFT_AFTER_END_EVENT
ERR_STREAM_NULL_VALUES: type[NodeError] = codes.ERR_STREAM_NULL_VALUES
ERR_STREAM_ALREADY_FINISHED: type[NodeError] = codes.ERR_STREAM_ALREADY_FINISHED
ERR_STREAM_CANNOT_PIPE: type[NodeError] = codes.ERR_STREAM_CANNOT_PIPE
ERR_UNKNOWN_ENCODING: type[NodeError] = codes.ERR_UNKNOWN_ENCODING
ERR_SOCKET_CLOSED: type[NodeError] = codes.ERR_SOCKET_CLOSED
ERR_SOCKET_CLOSED_BEFORE_CONNECTION: type[NodeError] = codes.ERR_SOCKET_CLOSED_BEFORE_CONNECTION
ERR_SOCKET_CONNECTION_TIMEOUT: type[NodeError] = codes.ERR_SOCKET_CONNECTION_TIMEOUT
ERR_SOCKET_BAD_PORT: type[NodeError] = codes.ERR_SOCKET_BAD_PORT
ERR_SOCKET_BAD_TYPE: type[NodeError] = codes.ERR_SOCKET_BAD_TYPE
ERR_SOCKET_BAD_BUFFER_SIZE: type[NodeError] = codes.ERR_SOCKET_BAD_BUFFER_SIZE
ERR_SOCKET_BUFFER_SIZE: type[NodeError] = codes.ERR_SOCKET_BUFFER_SIZE
ERR_SOCKET_ALREADY_BOUND: type[NodeError] = codes.ERR_SOCKET_ALREADY_BOUND
ERR_SOCKET_DGRAM_NOT_RUNNING: type[NodeError] = codes.ERR_SOCKET_DGRAM_NOT_RUNNING
ERR_SOCKET_DGRAM_IS_CONNECTED: type[NodeError] = codes.ERR_SOCKET_DGRAM_IS_CONNECTED
ERR_SOCKET_DGRAM_NOT_CONNECTED: type[NodeError] = codes.ERR_SOCKET_DGRAM_NOT_CONNECTED
ERR_SERVER_NOT_RUNNING: type[NodeError] = codes.ERR_SERVER_NOT_RUNNING
ERR_IPC_CHANNEL_CLOSED: type[NodeError] = codes.ERR_IPC_CHANNEL_CLOSED
ERR_UNKNOWN_SIGNAL: type[NodeError] = codes.ERR_UNKNOWN_SIGNAL
ERR_IPC_DISCONNECTED: type[NodeError] = codes.ERR_IPC_DISCONNECTED
ERR_IPC_BAD_MESSAGE: type[NodeError] = codes.ERR_IPC_BAD_MESSAGE
ERR_SERVER_ALREADY_LISTEN: type[NodeError] = codes.ERR_SERVER_ALREADY_LISTEN
ERR_INVALID_IP_ADDRESS: type[NodeError] = codes.ERR_INVALID_IP_ADDRESS
ERR_INVALID_ADDRESS_FAMILY: type[NodeError] = codes.ERR_INVALID_ADDRESS_FAMILY
ERR_INVALID_HANDLE_TYPE: type[NodeError] = codes.ERR_INVALID_HANDLE_TYPE
ERR_SYSTEM_ERROR: type[NodeError] = codes.ERR_SYSTEM_ERROR
ERR_TLS_CERT_ALTNAME_INVALID: type[NodeError] = codes.ERR_TLS_CERT_ALTNAME_INVALID
ERR_TLS_HANDSHAKE_TIMEOUT: type[NodeError] = codes.ERR_TLS_HANDSHAKE_TIMEOUT
ERR_TLS_INVALID_PROTOCOL_VERSION: type[NodeError] = codes.ERR_TLS_INVALID_PROTOCOL_VERSION
ERR_TLS_INVALID_CONTEXT: type[NodeError] = codes.ERR_TLS_INVALID_CONTEXT
ERR_TLS_PROTOCOL_VERSION_CONFLICT: type[NodeError] = codes.ERR_TLS_PROTOCOL_VERSION_CONFLICT
ERR_TLS_ALPN_CALLBACK_INVALID_RESULT: type[NodeError] = codes.ERR_TLS_ALPN_CALLBACK_INVALID_RESULT


def validate_callback(callback: Any, name: str = "callback") -> None:
    """Raise ``ERR_INVALID_ARG_TYPE`` unless ``callback`` is None or callable.

    Node ignores a non-function callback in a few places (``write``, ``end``); a Python
    ``callback=`` that is not callable is always a mistake, so nodish refuses it at the
    call rather than failing later, away from its cause.
    """
    if callback is not None and not callable(callback):
        raise ERR_INVALID_ARG_TYPE(name, "a function", type(callback).__name__)


ERR_HTTP_HEADERS_SENT: type[NodeError] = codes.ERR_HTTP_HEADERS_SENT
ERR_HTTP_INVALID_HEADER_VALUE: type[NodeError] = codes.ERR_HTTP_INVALID_HEADER_VALUE
ERR_HTTP_INVALID_STATUS_CODE: type[NodeError] = codes.ERR_HTTP_INVALID_STATUS_CODE
ERR_HTTP_REQUEST_TIMEOUT: type[NodeError] = codes.ERR_HTTP_REQUEST_TIMEOUT
ERR_HTTP_TRAILER_INVALID: type[NodeError] = codes.ERR_HTTP_TRAILER_INVALID
ERR_HTTP_BODY_NOT_ALLOWED: type[NodeError] = codes.ERR_HTTP_BODY_NOT_ALLOWED
ERR_HTTP_CONTENT_LENGTH_MISMATCH: type[NodeError] = codes.ERR_HTTP_CONTENT_LENGTH_MISMATCH
ERR_INVALID_HTTP_TOKEN: type[NodeError] = codes.ERR_INVALID_HTTP_TOKEN
ERR_INVALID_CHAR: type[NodeError] = codes.ERR_INVALID_CHAR
ERR_UNESCAPED_CHARACTERS: type[NodeError] = codes.ERR_UNESCAPED_CHARACTERS
ERR_INVALID_PROTOCOL: type[NodeError] = codes.ERR_INVALID_PROTOCOL
ERR_INVALID_URL: type[NodeError] = codes.ERR_INVALID_URL


# ---------------------------------------------------------------------------
# System errors

# libuv's description of each code (``uv_strerror``), which Node puts in the message of
# errors built by ``uvExceptionWithHostPort`` (``listen EADDRINUSE: address already in
# use 127.0.0.1:8124``). Taken from Node 20's ``util.getSystemErrorMap()``; keyed by code
# name because errno numbers differ between platforms. The glibc wording
# (``os.strerror``) differs for several codes (EADDRNOTAVAIL, EHOSTUNREACH, ...), which is
# why the table exists.
_UV_MESSAGES: dict[str, str] = {
    "E2BIG": "argument list too long",
    "EACCES": "permission denied",
    "EADDRINUSE": "address already in use",
    "EADDRNOTAVAIL": "address not available",
    "EAFNOSUPPORT": "address family not supported",
    "EAGAIN": "resource temporarily unavailable",
    "EAI_ADDRFAMILY": "address family not supported",
    "EAI_AGAIN": "temporary failure",
    "EAI_BADFLAGS": "bad ai_flags value",
    "EAI_BADHINTS": "invalid value for hints",
    "EAI_CANCELED": "request canceled",
    "EAI_FAIL": "permanent failure",
    "EAI_FAMILY": "ai_family not supported",
    "EAI_MEMORY": "out of memory",
    "EAI_NODATA": "no address",
    "EAI_NONAME": "unknown node or service",
    "EAI_OVERFLOW": "argument buffer overflow",
    "EAI_PROTOCOL": "resolved protocol is unknown",
    "EAI_SERVICE": "service not available for socket type",
    "EAI_SOCKTYPE": "socket type not supported",
    "EALREADY": "connection already in progress",
    "EBADF": "bad file descriptor",
    "EBUSY": "resource busy or locked",
    "ECANCELED": "operation canceled",
    "ECHARSET": "invalid Unicode character",
    "ECONNABORTED": "software caused connection abort",
    "ECONNREFUSED": "connection refused",
    "ECONNRESET": "connection reset by peer",
    "EDESTADDRREQ": "destination address required",
    "EEXIST": "file already exists",
    "EFAULT": "bad address in system call argument",
    "EFBIG": "file too large",
    "EFTYPE": "inappropriate file type or format",
    "EHOSTDOWN": "host is down",
    "EHOSTUNREACH": "host is unreachable",
    "EILSEQ": "illegal byte sequence",
    "EINTR": "interrupted system call",
    "EINVAL": "invalid argument",
    "EIO": "i/o error",
    "EISCONN": "socket is already connected",
    "EISDIR": "illegal operation on a directory",
    "ELOOP": "too many symbolic links encountered",
    "EMFILE": "too many open files",
    "EMLINK": "too many links",
    "EMSGSIZE": "message too long",
    "ENAMETOOLONG": "name too long",
    "ENETDOWN": "network is down",
    "ENETUNREACH": "network is unreachable",
    "ENFILE": "file table overflow",
    "ENOBUFS": "no buffer space available",
    "ENODATA": "no data available",
    "ENODEV": "no such device",
    "ENOENT": "no such file or directory",
    "ENOMEM": "not enough memory",
    "ENONET": "machine is not on the network",
    "ENOPROTOOPT": "protocol not available",
    "ENOSPC": "no space left on device",
    "ENOSYS": "function not implemented",
    "ENOTCONN": "socket is not connected",
    "ENOTDIR": "not a directory",
    "ENOTEMPTY": "directory not empty",
    "ENOTSOCK": "socket operation on non-socket",
    "ENOTSUP": "operation not supported on socket",
    "ENOTTY": "inappropriate ioctl for device",
    "ENXIO": "no such device or address",
    "EOF": "end of file",
    "EOVERFLOW": "value too large for defined data type",
    "EPERM": "operation not permitted",
    "EPIPE": "broken pipe",
    "EPROTO": "protocol error",
    "EPROTONOSUPPORT": "protocol not supported",
    "EPROTOTYPE": "protocol wrong type for socket",
    "ERANGE": "result too large",
    "EREMOTEIO": "remote I/O error",
    "EROFS": "read-only file system",
    "ESHUTDOWN": "cannot send after transport endpoint shutdown",
    "ESOCKTNOSUPPORT": "socket type not supported",
    "ESPIPE": "invalid seek",
    "ESRCH": "no such process",
    "ETIMEDOUT": "connection timed out",
    "ETXTBSY": "text file is busy",
    "EUNATCH": "protocol driver not attached",
    "EXDEV": "cross-device link not permitted",
    "UNKNOWN": "unknown error",
}


class NodeSystemError(OSError):
    """An OS-level failure with Node's fields.

    Attributes:
        code: Node's code, e.g. ``'ECONNREFUSED'``, ``'ENOTFOUND'``.
        errno: Python's errno value (``errno.ECONNREFUSED``), or the ``socket.EAI_*``
            value for name resolution failures.
        syscall: the operation that failed: ``'connect'``, ``'listen'``, ``'bind'``,
            ``'getaddrinfo'``, ``'read'``, ``'write'``, ``'send'``.
        address, port: the peer or local address involved, when there is one.
        hostname: for DNS failures, the name that did not resolve.
        message: the whole message, Node's format (also ``str(err)``).
    """

    code: str
    syscall: str
    address: str | None
    port: int | None
    hostname: str | None
    message: str

    def __init__(
        self,
        errno_: int,
        code: str,
        syscall: str,
        message: str,
        *,
        address: str | None = None,
        port: int | None = None,
        hostname: str | None = None,
    ) -> None:
        super().__init__(errno_, message)
        self.code = code
        self.syscall = syscall
        self.address = address
        self.port = port
        self.hostname = hostname
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> Any:  # keep pickling (and copy) working with keyword fields
        return (
            _rebuild_system_error,
            (
                self.errno,
                self.code,
                self.syscall,
                self.message,
                self.address,
                self.port,
                self.hostname,
            ),
        )


def _rebuild_system_error(*args: Any) -> NodeSystemError:
    err, code, syscall, message, address, port, hostname = args
    return system_error(err, syscall, address, port, hostname=hostname, code=code, message=message)


_classes: dict[type[OSError], type[NodeSystemError]] = {}


def _class_for(builtin: type[OSError]) -> type[NodeSystemError]:
    """``NodeSystemError`` mixed with ``builtin`` (one class per builtin, made once)."""
    cls = _classes.get(builtin)
    if cls is None:
        if builtin is OSError:
            cls = NodeSystemError
        else:
            cls = type(builtin.__name__, (NodeSystemError, builtin), {"__module__": __name__})
            cls.__doc__ = f"A :class:`NodeSystemError` that is also a ``{builtin.__name__}``."
        _classes[builtin] = cls
    return cls


_builtin_for_errno: dict[int, type[OSError]] = {}


def _builtin_for(err: int) -> type[OSError]:
    """The ``OSError`` subclass Python itself picks for ``err`` (``ConnectionRefusedError``)."""
    builtin = _builtin_for_errno.get(err)
    if builtin is None:
        builtin = _builtin_for_errno[err] = type(OSError(err, ""))
    return builtin


# getaddrinfo failures. Node's dnsException turns EAI_NODATA and EAI_NONAME into
# ENOTFOUND and keeps libuv's name for the rest (EAI_AGAIN, EAI_FAIL ...).
_EAI_CODES: dict[int, str] = {}
for _name in (
    "EAI_ADDRFAMILY",
    "EAI_AGAIN",
    "EAI_BADFLAGS",
    "EAI_FAIL",
    "EAI_FAMILY",
    "EAI_MEMORY",
    "EAI_OVERFLOW",
    "EAI_SERVICE",
    "EAI_SOCKTYPE",
    "EAI_NODATA",
    "EAI_NONAME",
):
    if hasattr(socket, _name):
        _EAI_CODES[getattr(socket, _name)] = _name
for _name in ("EAI_NODATA", "EAI_NONAME"):
    if hasattr(socket, _name):
        _EAI_CODES[getattr(socket, _name)] = "ENOTFOUND"


def errno_code(err: int) -> str:
    """Node's code for a positive errno value (``111`` → ``'ECONNREFUSED'``)."""
    return _errno.errorcode.get(err, "UNKNOWN")


def uv_message(code: str, err: int = 0) -> str:
    """libuv's description of ``code`` (``'EADDRINUSE'`` → ``'address already in use'``)."""
    text = _UV_MESSAGES.get(code)
    if text is None:
        text = os.strerror(err).lower() if err > 0 else "unknown error"
    return text


def system_error(
    err: int,
    syscall: str,
    address: str | None = None,
    port: int | None = None,
    *,
    hostname: str | None = None,
    code: str | None = None,
    message: str | None = None,
    detail: bool = False,
) -> NodeSystemError:
    """Build a Node-shaped system error.

    The message follows Node's builders (``lib/internal/errors.js``):
    ``exceptionWithHostPort`` gives ``connect ECONNREFUSED 127.0.0.1:8080``,
    ``uvExceptionWithHostPort`` (``detail=True``) gives
    ``listen EADDRINUSE: address already in use 127.0.0.1:8124``, and ``dnsException``
    gives ``getaddrinfo ENOTFOUND nope.invalid``. As in Node, the port is shown only
    when it is above 0, the address alone otherwise.

    Args:
        err: the errno (positive) or, for ``syscall='getaddrinfo'``, the EAI value.
        syscall: the failed operation.
        address, port: appended to the message as Node does (``127.0.0.1:8080``).
        hostname: for DNS failures, the name looked up.
        code: overrides the code derived from ``err``.
        message: overrides the message entirely.
        detail: include libuv's description of the code, as Node's ``listen`` and
            ``bind`` errors do.

    Returns:
        A :class:`NodeSystemError` that is also the ``OSError`` subclass Python picks
        for ``err`` (``ConnectionRefusedError`` ...), or a ``socket.gaierror`` for
        ``getaddrinfo``.
    """
    dns = syscall == "getaddrinfo"
    if code is None:
        code = _EAI_CODES.get(err, "EAI_FAIL") if dns else errno_code(err)
    if message is None:
        if dns:
            name = hostname if hostname is not None else address
            message = f"getaddrinfo {code} {name}" if name else f"getaddrinfo {code}"
        else:
            message = f"{syscall} {code}"
            if detail:
                message += f": {uv_message(code, err)}"
            if port is not None and port > 0 and address is not None:
                message += f" {address}:{port}"
            elif address:
                message += f" {address}"
    if dns:
        return _class_for(socket.gaierror)(
            err, code, syscall, message, hostname=hostname if hostname is not None else address
        )
    return _class_for(_builtin_for(err))(
        err, code, syscall, message, address=address, port=port, hostname=hostname
    )


_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")


def translate_os_error(
    exc: BaseException,
    syscall: str,
    address: str | None = None,
    port: int | None = None,
    *,
    detail: bool = False,
) -> BaseException:
    """Turn an ``OSError`` (or ``socket.gaierror``) into a :class:`NodeSystemError`.

    Anything that is already a Node error, or is not an ``OSError``, is returned as is.
    The original exception is kept as ``__cause__``.

    Args:
        exc: what the socket call raised.
        syscall: Node's name for the failed operation (``'connect'``, ``'listen'``,
            ``'getaddrinfo'`` ...). A ``socket.gaierror`` is always ``getaddrinfo``.
        address, port: the address involved (for ``getaddrinfo``: the host name).
        detail: Node's ``uvExceptionWithHostPort`` format (``listen`` and ``bind``).
    """
    original = exc
    if isinstance(exc, asyncio.TimeoutError) and not isinstance(exc, OSError):
        exc = TimeoutError()  # Python 3.10: asyncio's TimeoutError is not the builtin
    if isinstance(exc, (NodeSystemError, NodeError)) or not isinstance(exc, OSError):
        return exc
    if isinstance(exc, socket.gaierror):
        out = system_error(exc.errno or 0, "getaddrinfo", hostname=address)
    elif isinstance(exc, TimeoutError) and exc.errno is None:
        out = system_error(_errno.ETIMEDOUT, syscall, address, port, detail=detail)
    else:
        err = exc.errno
        if err is None:
            # asyncio's create_connection/create_server fold several failures into one
            # OSError('Multiple exceptions: [Errno 111] ...') without an errno: take the
            # first one named in the text.
            found = _ERRNO_IN_TEXT.search(str(exc))
            err = int(found.group(1)) if found else _errno.EIO
        out = system_error(err, syscall, address, port, detail=detail)
    out.__cause__ = original
    return out
