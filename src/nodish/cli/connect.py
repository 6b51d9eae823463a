"""``nodish connect HOST PORT [--udp]``: a telnet/netcat-like client on nodish.

TCP: standard input goes to the socket, the socket to standard output. End of input
(Ctrl-D on a terminal) half-closes: a FIN is sent and what the server still sends is
printed until it closes too. UDP (``--udp``): each input line is one datagram to HOST
PORT, each datagram received is printed; after end of input the tool waits until every
datagram sent has had an answer, or ``--wait`` seconds without one.
"""

from __future__ import annotations

import errno
import ipaddress
import sys
from typing import Any

from . import _common
from ._common import StdinReader, fail, write_stdout


def _timed_out(host: str, port: int) -> BaseException:
    from ..errors import system_error

    return system_error(errno.ETIMEDOUT, "connect", host, port)


def connect_tcp(host: str, port: int, timeout: float, tls: dict[str, Any] | None = None) -> int:
    """Run the TCP client until the connection closes; returns the exit status.

    ``tls``: connect over TLS with these ``tls.connect`` options (None: plain TCP).
    """
    import nodish

    status = _common.EXIT_OK
    connected = False
    if tls is None:
        from nodish import net

        sock: Any = net.connect(port, host)
        ready = "connect"
    else:
        from nodish import tls as tls_module

        sock = tls_module.connect(port, host, **tls)
        ready = "secureConnect"
    # Node's net.connect has no connect deadline of its own ('timeout' is idle time):
    # the tool gives up after ``timeout`` seconds without a connection (and handshake).
    sock.set_timeout(timeout)

    def on_timeout() -> None:
        if not connected:
            sock.destroy(_timed_out(host, port))

    def on_connect() -> None:
        nonlocal connected
        connected = True
        sock.set_timeout(0)
        if sys.stdin.isatty():
            how = f" over {sock.get_protocol()}" if tls is not None else ""
            print(
                f"connected to {sock.remote_address}:{sock.remote_port}{how} "
                "(Ctrl-D ends sending, Ctrl-C quits)",
                file=sys.stderr,
                flush=True,
            )
        reader: StdinReader

        def on_input(data: bytes) -> None:
            if not sock.destroyed and not sock.write(data):
                reader.pause()
                sock.once("drain", reader.resume)

        def on_input_end() -> None:
            if not sock.destroyed:
                sock.end()

        reader = StdinReader(on_input, on_input_end)

    def on_error(err: BaseException) -> None:
        nonlocal status
        status = fail("connect", err)

    sock.on("timeout", on_timeout)
    sock.on(ready, on_connect)
    sock.on("data", write_stdout)
    sock.on("error", on_error)
    nodish.run()
    return status


def connect_udp(host: str, port: int, wait: float) -> int:
    """Run the UDP client until input ends and answers are in; returns the exit status."""
    import nodish
    from nodish import dgram, timers

    status = _common.EXIT_OK
    try:
        v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        v6 = False
    sock = dgram.create_socket("udp6" if v6 else "udp4")
    sent = answered = 0
    input_done = closed = False
    timer: Any = None

    def close() -> None:
        nonlocal closed, timer
        if timer is not None:
            timers.clear_timeout(timer)
            timer = None
        if not closed:
            closed = True
            sock.close()

    def maybe_close() -> None:
        nonlocal timer
        if not input_done:
            return
        if timer is not None:
            timers.clear_timeout(timer)
            timer = None
        if answered >= sent:
            close()
        else:  # answers may still come: wait for them, not forever
            timer = timers.set_timeout(close, wait)

    def on_input(line: bytes) -> None:
        nonlocal sent
        sent += 1
        if not closed:
            sock.send(line)

    def on_input_end() -> None:
        nonlocal input_done
        input_done = True
        maybe_close()

    def on_message(msg: bytes, _rinfo: Any) -> None:
        nonlocal answered
        answered += 1
        write_stdout(msg)
        maybe_close()

    def on_connect(err: BaseException | None = None) -> None:
        if err is not None:
            on_error(err)
            return
        StdinReader(on_input, on_input_end, lines=True)

    def on_error(err: BaseException) -> None:
        nonlocal status
        hint = None
        if _common.error_code(err) == "ECONNREFUSED":  # ICMP port unreachable
            hint = f"nothing is listening on UDP {host}:{port}"
        status = fail("connect", err, hint)
        close()

    sock.on("message", on_message)
    sock.on("error", on_error)
    sock.connect(port, host, on_connect)
    nodish.run()
    return status


def _run(args: Any) -> int:
    if args.udp:
        if args.tls:
            print("nodish connect: --tls and --udp exclude each other", file=sys.stderr)
            return _common.EXIT_USAGE
        return connect_udp(args.host, args.port, args.wait)
    tls = None
    if args.tls:
        try:
            tls = _common.tls_client_options(args)
        except OSError as err:
            return fail("connect", err)
    return connect_tcp(args.host, args.port, args.timeout, tls)


def register(sub: Any) -> None:
    """Add ``nodish connect`` to the command line."""
    p = _common.add_tool(
        sub,
        "connect",
        "connect to a TCP or UDP server: stdin to the socket, the socket to stdout",
        __doc__,
    )
    p.add_argument("host", help="host name or address")
    p.add_argument("port", type=_common.remote_port, help="port")
    p.add_argument("--udp", action="store_true", help="UDP: one datagram per input line")
    _common.add_tls_client_options(p)
    p.add_argument(
        "--timeout",
        type=_common.seconds,
        default=10.0,
        help="TCP: give up connecting after this many seconds (default 10; 0: never)",
    )
    p.add_argument(
        "--wait",
        type=_common.seconds,
        default=2.0,
        help="UDP: after end of input, wait this long for answers (default 2)",
    )
    p.set_defaults(func=_run)
