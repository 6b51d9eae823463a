"""``nodish ws URL``: an interactive WebSocket client, like wscat, on nodish.ws.

Each line of standard input is sent as one text message (without its newline); each
message received is printed on its own line (a binary one as ``<binary: N bytes>`` and
its hex, unless ``--raw``, which writes its bytes as they are). End of input (Ctrl-D)
closes the connection with 1000 and waits for the server's close frame. The close code
and reason go to stderr with ``-v``. A refused handshake (an HTTP answer other than
101) is exit status 8, with the status; a close with a code other than 1000, 1001 or
1005 is exit status 8 too.
"""

from __future__ import annotations

import errno
import sys
from typing import Any
from urllib.parse import urlsplit

from . import _common
from ._common import StdinReader, write_stdout

NORMAL_CLOSE = (1000, 1001, 1005)


def _run(args: Any) -> int:
    import nodish
    from nodish import timers
    from nodish import ws as ws_module
    from nodish.errors import system_error

    url = args.url if "://" in args.url else "ws://" + args.url
    headers = _common.parse_headers(args.header)
    try:
        tls = _common.tls_client_options(args)
    except OSError as err:
        return _common.fail("ws", err)
    status = _common.EXIT_OK
    interactive = sys.stdin.isatty()

    try:
        ws = ws_module.WebSocket(
            url,
            args.protocol or None,
            headers=headers,
            ca=tls.get("ca"),
            reject_unauthorized=tls["reject_unauthorized"],
            servername=tls.get("servername"),
        )
    except (ValueError, TypeError) as err:
        print(f"nodish ws: {err}", file=sys.stderr)
        return _common.EXIT_USAGE

    failed = False

    def on_timeout() -> None:
        # the tool's own deadline, so that it reads as ETIMEDOUT (exit 5) like the others
        nonlocal status, failed
        if ws.ready_state == ws.CONNECTING:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
            status = _common.fail(
                "ws", system_error(errno.ETIMEDOUT, "connect", parts.hostname, port)
            )
            failed = True
            ws.terminate()

    timer = timers.set_timeout(on_timeout, args.timeout) if args.timeout else None

    def on_open() -> None:
        timers.clear_timeout(timer)
        if interactive or args.verbose:
            print(f"connected to {url} (Ctrl-D closes, Ctrl-C quits)", file=sys.stderr, flush=True)

        def on_line(line: bytes) -> None:
            if ws.ready_state == ws.OPEN:
                ws.send(line.rstrip(b"\r\n").decode(errors="replace"))

        def on_end() -> None:
            if ws.ready_state == ws.OPEN:
                ws.close(1000)

        StdinReader(on_line, on_end, lines=True)

    def on_message(data: Any, is_binary: bool) -> None:
        if not is_binary:
            text = data if isinstance(data, str) else bytes(data).decode(errors="replace")
            write_stdout(text.encode() + b"\n")
        elif args.raw:
            write_stdout(bytes(data))
        else:
            write_stdout(f"<binary: {len(data)} bytes> {bytes(data).hex()}\n".encode())

    def on_close(code: int, reason: Any) -> None:
        nonlocal status
        timers.clear_timeout(timer)
        if failed or _common.stdout_gone() or _common.interrupted():
            return
        reason_text = reason.decode() if isinstance(reason, bytes) else str(reason)
        if args.verbose:
            print(f"closed: {code} {reason_text}".rstrip(), file=sys.stderr, flush=True)
        if code not in NORMAL_CLOSE and status == _common.EXIT_OK:
            line = f"nodish ws: the connection closed with {code} {reason_text}".rstrip()
            print(line, file=sys.stderr, flush=True)
            status = _common.EXIT_PEER

    def on_error(err: BaseException) -> None:
        nonlocal status, failed
        if failed or _common.stdout_gone() or _common.interrupted():
            return
        failed = True
        code = _common.error_code(err)
        if (code or "").startswith("WS_ERR") or getattr(err, "status_code", None):
            print(f"nodish ws: {_common.describe(err)}", file=sys.stderr, flush=True)
            status = _common.EXIT_PEER
        else:
            status = _common.fail("ws", err)

    ws.on("open", on_open)
    ws.on("message", on_message)
    ws.on("close", on_close)
    ws.on("error", on_error)
    _common.stop_on_interrupt()
    nodish.run()
    return 130 if _common.interrupted() else status


def register(sub: Any) -> None:
    """Add ``nodish ws`` to the command line."""
    p = _common.add_tool(sub, "ws", "an interactive WebSocket client (like wscat)", __doc__)
    p.add_argument("url", help="ws:// or wss:// URL (ws:// when no scheme is given)")
    p.add_argument("-v", "--verbose", action="store_true", help="report open and close")
    p.add_argument("-p", "--protocol", action="append", default=[], help="offer a subprotocol")
    _common.add_header_option(p, "handshake")
    p.add_argument("--raw", action="store_true", help="binary messages as raw bytes")
    p.add_argument(
        "--timeout",
        type=_common.seconds,
        default=10.0,
        help="handshake deadline in seconds (default 10; 0: none)",
    )
    _common.add_tls_client_options(p, flag=False)
    p.set_defaults(func=_run)
