"""``nodish echo tcp|udp|http|ws [--port N] [--host H] [--tls]``: echo servers.

``tcp`` sends back every byte it receives and half-closes when the client does; ``udp``
sends every datagram back to its sender; ``http`` answers every request with the
request itself (its head, a blank line, its body); ``ws`` sends every WebSocket message
back (text as text, binary as binary). The first line printed is where the server
listens (``echo tcp listening on 127.0.0.1:8124``), then one line per connection or
datagram on stderr with ``-v``. ``--tls`` serves TLS, HTTPS or WSS, with ``--cert`` and
``--key``, or with a certificate issued by the development CA of ``nodish demo``
(clients then trust it with ``--ca`` and the file named on stderr). Ctrl-C stops the
server (exit 0).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from . import _common

# The seed chapter's ports (TCP 8124, UDP 41234), the web's usual one for HTTP and ws.
DEFAULT_PORTS = {"tcp": 8124, "udp": 41234, "http": 8080, "ws": 8080}


def _log(verbose: bool) -> Callable[[str], None]:
    def log(line: str) -> None:
        if verbose:
            print(line, file=sys.stderr, flush=True)

    return log


def _listening(proto: str, address: Any) -> None:
    print(f"echo {proto} listening on {address.address}:{address.port}", flush=True)


def _trust_hint(ca_file: str | None) -> None:
    if ca_file is not None:
        print(
            f"the certificate is issued by the development CA {ca_file}: "
            f"clients trust it with --ca {ca_file}",
            file=sys.stderr,
            flush=True,
        )


def echo_tcp(host: str, port: int, verbose: bool, tls: dict[str, Any] | None = None) -> int:
    """Serve TCP (or, with ``tls`` options, TLS) echo until Ctrl-C; returns the status."""
    import nodish

    log = _log(verbose)
    status = _common.EXIT_OK

    def on_connection(sock: Any) -> None:
        peer = f"{sock.remote_address}:{sock.remote_port}"
        log(f"connection from {peer}")
        sock.pipe(sock)  # pipe() ends the socket after the client's FIN: a half-close echo
        sock.on("error", lambda err: log(f"{peer}: {_common.describe(err)}"))
        sock.on("close", lambda *_: log(f"{peer} closed"))

    if tls is None:
        from nodish import net

        server: Any = net.create_server(on_connection, allow_half_open=True)
    else:
        from nodish import tls as tls_module

        server = tls_module.create_server(on_connection, allow_half_open=True, **tls)
        server.on(
            "tlsClientError",
            lambda err, _sock: log(f"TLS handshake failed: {_common.describe(err)}"),
        )

    def on_error(err: BaseException) -> None:
        nonlocal status
        status = _common.fail("echo", err, _listen_hint(err))

    server.on("error", on_error)
    proto = "tcp" if tls is None else "tls"
    server.listen(port, host, callback=lambda: _listening(proto, server.address()))
    _common.stop_on_interrupt()
    nodish.run()
    return status


def echo_udp(host: str, port: int, verbose: bool) -> int:
    """Serve UDP echo until Ctrl-C; returns the exit status."""
    import nodish
    from nodish import dgram

    log = _log(verbose)
    status = _common.EXIT_OK
    sock = dgram.create_socket("udp6" if ":" in host else "udp4")

    def on_message(msg: bytes, rinfo: Any) -> None:
        log(f"{len(msg)} bytes from {rinfo.address}:{rinfo.port}")
        sock.send(msg, rinfo.port, rinfo.address)

    def on_error(err: BaseException) -> None:
        nonlocal status
        status = _common.fail("echo", err, _listen_hint(err))
        sock.close()

    sock.on("message", on_message)
    sock.on("error", on_error)
    sock.on("listening", lambda: _listening("udp", sock.address()))
    sock.bind(port, host)
    _common.stop_on_interrupt()
    nodish.run()
    return status


def _web_server(tls: dict[str, Any] | None, listener: Any) -> Any:
    if tls is None:
        from nodish import http

        return http.create_server(listener)
    from nodish import https

    return https.create_server(listener, **tls)


def _serve_web(server: Any, proto: str, host: str, port: int) -> int:
    """Listen, run until Ctrl-C; the exit status."""
    import nodish

    status = _common.EXIT_OK

    def on_error(err: BaseException) -> None:
        nonlocal status
        status = _common.fail("echo", err, _listen_hint(err))

    server.on("error", on_error)
    server.listen(port, host, callback=lambda: _listening(proto, server.address()))
    _common.stop_on_interrupt()
    nodish.run()
    return status


def echo_http(host: str, port: int, verbose: bool, tls: dict[str, Any] | None = None) -> int:
    """Answer every request with the request itself: its head, a blank line, its body."""
    log = _log(verbose)

    def on_request(req: Any, res: Any) -> None:
        chunks: list[bytes] = []
        req.on("data", chunks.append)

        def on_end() -> None:
            raw = req.raw_headers
            head = [f"{req.method} {req.url} HTTP/{req.http_version}"]
            head += [f"{raw[i]}: {raw[i + 1]}" for i in range(0, len(raw), 2)]
            body = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + b"".join(chunks)
            log(f"{req.method} {req.url} from {req.socket.remote_address}")
            res.write_head(200, {"Content-Type": "text/plain", "Content-Length": str(len(body))})
            res.end(body if req.method != "HEAD" else None)

        req.on("end", on_end)

    return _serve_web(_web_server(tls, on_request), "https" if tls else "http", host, port)


def echo_ws(host: str, port: int, verbose: bool, tls: dict[str, Any] | None = None) -> int:
    """Send every WebSocket message back, text as text and binary as binary."""
    from nodish.ws import WebSocketServer

    log = _log(verbose)

    def refuse(_req: Any, res: Any) -> None:
        body = b"a WebSocket echo server: connect with ws:// (nodish ws URL)\n"
        res.write_head(426, {"Content-Type": "text/plain", "Content-Length": str(len(body))})
        res.end(body)

    server = _web_server(tls, refuse)
    wss = WebSocketServer(server=server)

    def on_connection(ws: Any, req: Any) -> None:
        peer = f"{req.socket.remote_address}:{req.socket.remote_port}"
        log(f"open from {peer}")
        ws.on("message", lambda data, is_binary: ws.send(data, binary=is_binary))
        ws.on("close", lambda code, _reason: log(f"{peer} closed ({code})"))

    wss.on("connection", on_connection)
    return _serve_web(server, "wss" if tls else "ws", host, port)


def _listen_hint(err: BaseException) -> str | None:
    if _common.error_code(err) == "EADDRINUSE":
        return "the port is taken: choose another with --port, or 0 for any free port"
    return None


SERVERS: dict[str, Callable[..., int]] = {
    "tcp": echo_tcp,
    "udp": echo_udp,
    "http": echo_http,
    "ws": echo_ws,
}
TLS_CAPABLE = ("tcp", "http", "ws")


def _run(args: Any) -> int:
    port = DEFAULT_PORTS[args.protocol] if args.port is None else args.port
    if not args.tls:
        return SERVERS[args.protocol](args.host, port, args.verbose)
    if args.protocol not in TLS_CAPABLE:
        print(f"nodish echo: --tls does not apply to {args.protocol}", file=sys.stderr)
        return _common.EXIT_USAGE
    try:
        tls, ca_file = _common.tls_server_options(args, args.host)
    except ValueError as err:
        print(f"nodish echo: {err}", file=sys.stderr)
        return _common.EXIT_USAGE
    except OSError as err:
        return _common.fail("echo", err)
    _trust_hint(ca_file)
    return SERVERS[args.protocol](args.host, port, args.verbose, tls)


def register(sub: Any) -> None:
    """Add ``nodish echo`` to the command line."""
    p = _common.add_tool(sub, "echo", "run an echo server (tcp, udp, http, ws)", __doc__)
    p.add_argument(
        "protocol",
        nargs="?",
        default="tcp",
        choices=sorted(SERVERS),
        help="what to echo (default tcp)",
    )
    p.add_argument(
        "--port",
        type=_common.port_number,
        default=None,
        help="port (default: tcp 8124, udp 41234, http and ws 8080; 0: any free port)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each connection or datagram")
    _common.add_tls_server_options(p)
    p.set_defaults(func=_run)
