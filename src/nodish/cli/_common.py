"""What every ``nodish`` tool shares: exit statuses, one-line errors, Ctrl-C, stdin.

Exit statuses are part of the command line's contract (scripts test them), one per kind
of failure, whatever the tool:

====  ==========================================  ===========================================
 0    success
 1    any other error
 2    a bad command line (argparse)
 3    connection refused, reset or unreachable    ``ECONNREFUSED``, ``ECONNRESET``, ``EPIPE``,
                                                  ``EHOSTUNREACH``, ``ENETUNREACH``
 4    host not found                              ``ENOTFOUND``, ``EAI_AGAIN``, ``EAI_FAIL``
 5    timed out                                   ``ETIMEDOUT``
 6    certificate not trusted                     ``UNABLE_TO_VERIFY_LEAF_SIGNATURE``,
                                                  ``SELF_SIGNED_CERT_IN_CHAIN``, ...
 7    cannot listen (port taken, not permitted)   ``EADDRINUSE``, ``EACCES``, ``EADDRNOTAVAIL``
 8    the peer answered with an error             an HTTP status >= 400, a refused upgrade
====  ==========================================  ===========================================

Errors print as one line on stderr: the tool, Node's message (which starts with the
syscall and the code, ``connect ECONNREFUSED 127.0.0.1:1``) and a hint. Never a
traceback: a user who mistyped a port should not read Python internals.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_TIMEOUT = 5
EXIT_CERT = 6
EXIT_LISTEN = 7
EXIT_PEER = 8

EXIT_STATUSES_HELP = (
    "exit status: 0 ok, 1 other error, 2 bad usage, 3 refused/reset, 4 host not found, "
    "5 timed out, 6 certificate not trusted, 7 cannot listen (port taken), "
    "8 the peer answered with an error"
)

# Node's error code -> (exit status, hint).
_KINDS: dict[str, tuple[int, str]] = {
    "ECONNREFUSED": (EXIT_REFUSED, "nothing is listening there"),
    "ECONNRESET": (EXIT_REFUSED, "the peer reset the connection"),
    "EPIPE": (EXIT_REFUSED, "the peer closed the connection"),
    "EHOSTUNREACH": (EXIT_REFUSED, "no route to that host"),
    "ENETUNREACH": (EXIT_REFUSED, "no route to that network"),
    "ENOTFOUND": (EXIT_NOT_FOUND, "that host name does not resolve"),
    "EAI_AGAIN": (EXIT_NOT_FOUND, "the name server did not answer; try again"),
    "EAI_FAIL": (EXIT_NOT_FOUND, "the name server failed"),
    "ETIMEDOUT": (EXIT_TIMEOUT, "no answer in time"),
    "EADDRINUSE": (EXIT_LISTEN, "another program uses that port"),
    "EACCES": (EXIT_LISTEN, "not permitted (ports below 1024 need privileges)"),
    "EADDRNOTAVAIL": (EXIT_LISTEN, "that address is not one of this machine's"),
    "ENOENT": (EXIT_ERROR, "no such file"),
}
_CERT_CODES = (
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "UNABLE_TO_GET_ISSUER_CERT",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "CERT_HAS_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_UNTRUSTED",
    "ERR_TLS_CERT_ALTNAME_INVALID",
)
for _code in _CERT_CODES:
    _KINDS[_code] = (
        EXIT_CERT,
        "the server's certificate is not trusted (--ca FILE to trust its CA, "
        "--insecure to skip the check)",
    )
_KINDS["ERR_TLS_CERT_ALTNAME_INVALID"] = (
    EXIT_CERT,
    "the certificate is not for that name (--servername NAME to check another, "
    "--insecure to skip the check)",
)


def error_code(err: BaseException) -> str | None:
    """Node's code of ``err`` (``'ECONNREFUSED'``), if it has one."""
    code = getattr(err, "code", None)
    return code if isinstance(code, str) else None


def exit_status(err: BaseException) -> int:
    """The exit status for ``err`` (see the table above)."""
    code = error_code(err)
    if code is None:
        return EXIT_ERROR
    return _KINDS.get(code, (EXIT_ERROR, ""))[0]


def describe(err: BaseException, hint: str | None = None) -> str:
    """``err`` as one line: Node's message, then a hint in parentheses."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    code = error_code(err)
    if code and code not in text:
        text = f"{code}: {text}"
    if hint is None and code is not None:
        hint = _KINDS.get(code, (0, ""))[1]
    return f"{text} ({hint})" if hint else text


def fail(tool: str, err: BaseException, hint: str | None = None) -> int:
    """Print ``err`` as the one-line error of ``nodish TOOL``; return its exit status."""
    print(f"nodish {tool}: {describe(err, hint)}", file=sys.stderr, flush=True)
    return exit_status(err)


_interrupted = False


def interrupted() -> bool:
    """Whether Ctrl-C was pressed (see :func:`stop_on_interrupt`): the errors of the
    connections it closes are the user's doing, not something to report."""
    return _interrupted


def stop_on_interrupt(on_stop: Callable[[], Any] | None = None) -> None:
    """Make Ctrl-C close every server and socket, so ``nodish.run()`` returns.

    ``on_stop`` is called first. A second Ctrl-C while closing exits at once with 130.
    Servers then exit 0 (stopping is how they end); clients return 130 themselves,
    as an interrupted program does.
    """
    from .. import runtime
    from ..process import process

    def on_sigint(_signal: str) -> None:
        global _interrupted
        if _interrupted:
            raise SystemExit(130)
        _interrupted = True
        if on_stop is not None:
            on_stop()
        runtime.close_all_handles(runtime.get_loop())

    process.on("SIGINT", on_sigint)


class StdinReader:
    """Standard input fed to ``on_data`` on the loop, then ``on_end()`` at EOF.

    A thread reads, so stdin may be a terminal, a pipe or a file, and stays blocking
    (a non-blocking terminal would make writes to stdout fail). With ``lines``, each
    call gets one line (its newline kept). :meth:`pause` stops reading until
    :meth:`resume` (backpressure from a socket's ``write()`` returning False). The
    thread does not keep the process alive.
    """

    def __init__(
        self, on_data: Callable[[bytes], Any], on_end: Callable[[], Any], *, lines: bool = False
    ) -> None:
        from .. import runtime

        self._loop = runtime.get_loop()
        self._on_data = on_data
        self._on_end = on_end
        self._lines = lines
        self._flowing = threading.Event()
        self._flowing.set()
        threading.Thread(target=self._read, name="nodish-stdin", daemon=True).start()

    def pause(self) -> None:
        """Stop reading after the current chunk."""
        self._flowing.clear()

    def resume(self) -> None:
        """Read again."""
        self._flowing.set()

    def _deliver(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the tool is done
            pass

    def _read(self) -> None:
        fd = sys.stdin.fileno()
        pending = b""
        while True:
            self._flowing.wait()
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if not self._lines:
                self._deliver(self._on_data, chunk)
                continue
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                self._deliver(self._on_data, line + b"\n")
        if pending:
            self._deliver(self._on_data, pending)
        self._deliver(self._on_end)


_stdout_gone = False


def stdout_gone() -> bool:
    """Whether the reader of standard output has gone (see :func:`write_stdout`)."""
    return _stdout_gone


def write_stdout(data: bytes) -> None:
    """Write ``data`` to standard output at once (the user is watching).

    When the reader has gone (``nodish connect ... | head -1``), the tool stops quietly,
    as ``cat`` does: every socket is closed, so ``nodish.run()`` returns.
    """
    out = sys.stdout.buffer
    try:
        out.write(data)
        out.flush()
    except BrokenPipeError:
        from .. import runtime

        global _stdout_gone
        _stdout_gone = True
        # Python's advice: point stdout at devnull so the flush at exit does not fail too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        runtime.close_all_handles(runtime.get_loop())


def port_number(text: str) -> int:
    """An argparse type: a port, 0 to 65535 (0: any free port, for servers)."""
    import argparse

    try:
        port = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def remote_port(text: str) -> int:
    """An argparse type: a port to connect to, 1 to 65535."""
    import argparse

    port = port_number(text)
    if port == 0:
        raise argparse.ArgumentTypeError("port 0 cannot be connected to")
    return port


def add_tool(sub: Any, name: str, summary: str, doc: str | None) -> Any:
    """Add ``nodish NAME``'s parser: ``summary`` in ``nodish --help``, the module's
    docstring after its first paragraph as the description, the exit statuses last."""
    import argparse

    return sub.add_parser(
        name,
        help=summary,
        description=doc.split("\n\n", 1)[-1].replace("``", "") if doc else None,
        epilog=EXIT_STATUSES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_tls_client_options(p: Any, *, flag: bool = True) -> None:
    """``--tls`` (unless the URL says), ``--ca FILE``, ``--insecure``, ``--servername
    NAME`` on a client tool."""
    if flag:
        p.add_argument("--tls", action="store_true", help="connect over TLS")
    p.add_argument(
        "--ca", metavar="FILE", help="trust the CA certificates in FILE (PEM) besides the system's"
    )
    p.add_argument(
        "-k", "--insecure", action="store_true", help="do not check the server's certificate"
    )
    p.add_argument("--servername", metavar="NAME", help="the name sent in SNI and checked")


def tls_client_options(args: Any) -> dict[str, Any]:
    """``tls.connect`` keywords from :func:`add_tls_client_options`'s arguments.

    Raises:
        OSError: the ``--ca`` file cannot be read (``ENOENT`` ...), with Node's code.
    """
    from ..errors import translate_os_error

    options: dict[str, Any] = {"reject_unauthorized": not args.insecure}
    if args.ca:
        try:
            with open(args.ca, "rb") as f:
                options["ca"] = f.read()
        except OSError as exc:
            raise translate_os_error(exc, "open", args.ca) from None  # type: ignore[misc]
    if args.servername:
        options["servername"] = args.servername
    return options


def add_tls_server_options(p: Any) -> None:
    """``--tls``, ``--cert FILE``, ``--key FILE`` on a server tool."""
    p.add_argument("--tls", action="store_true", help="serve over TLS")
    p.add_argument(
        "--cert",
        metavar="FILE",
        help="certificate chain (PEM); default: one issued by the development CA of "
        "nodish demo, made on first use",
    )
    p.add_argument("--key", metavar="FILE", help="the certificate's private key (PEM)")


def tls_server_options(args: Any, host: str) -> tuple[dict[str, Any], str | None]:
    """``tls.create_server`` keywords from :func:`add_tls_server_options`'s arguments,
    and the CA file clients should trust (None when the user gave the certificate).

    Raises:
        OSError: a file cannot be read, with Node's code.
        ValueError: only one of ``--cert`` and ``--key``.
    """
    from ..errors import translate_os_error

    if args.cert or args.key:
        if not (args.cert and args.key):
            raise ValueError("--cert and --key go together")
        try:
            with open(args.cert, "rb") as c, open(args.key, "rb") as k:
                return {"cert": c.read(), "key": k.read()}, None
        except OSError as exc:
            raise translate_os_error(exc, "open", exc.filename) from None  # type: ignore[misc]
    from ..demo.devca import DevCA, data_dir

    ca = DevCA(data_dir())
    leaf = ca.server_certificate(host)
    return {"cert": leaf.chain_pem, "key": leaf.key_pem()}, str(ca.cert_path)


def add_header_option(p: Any, what: str) -> None:
    """``-H 'NAME: VALUE'``, repeatable, on a client tool."""
    p.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help=f"an extra {what} header (repeatable)",
    )


def parse_headers(lines: list[str]) -> dict[str, str]:
    """``['Name: value', ...]`` as a dict."""
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return headers


def seconds(text: str) -> float:
    """An argparse type: a duration in seconds, finite and not negative."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"seconds must be 0 or more: {text}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    import argparse

    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value
