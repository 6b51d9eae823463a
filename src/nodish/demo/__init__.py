"""``nodish demo``: the seed chapter's servers together, on one loop, in one process.

Theory of operation
-------------------
Each service is a small module here (``tcp``, ``udp``, ``web`` for HTTP and HTTPS with
the ``chat`` room over WebSocket) with an ``async start(ctx)`` that listens and returns
a :class:`Service` (its name, URL and what to try). The demo starts them one after the
other, in the chapter's order, on ``ctx.host`` and each one's port plus
``--port-offset``, prints what runs where (and how to trust the development CA of
:mod:`.devca`), then logs every event as the chapter describes it (connection, data,
end, close; message and rinfo; request; open, message, close). A port that cannot be
bound stops the demo, closing what had started, with a one-line message naming the
port and the option to change it (exit status 7; 4 for a host that does not resolve).
Ctrl-C runs the ``on_stop`` hooks (the chat tells its clients 1001, going away), closes
every server and connection, and the process exits 0.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ..cli import _common

# The seed chapter's ports (TCP, UDP), then the web's usual ones.
PORTS = {"tcp": 8124, "udp": 41234, "http": 8080, "https": 8443}


@dataclasses.dataclass
class Service:
    """What one started service prints in the banner."""

    name: str
    url: str
    hint: str
    closer: Callable[[], Any]


@dataclasses.dataclass
class Context:
    """What the services share: where to listen and how to log."""

    host: str
    ports: dict[str, int]
    tls: Any = None  # the development CA (devca.DevCA), None with --no-tls
    out: Any = dataclasses.field(default_factory=lambda: sys.stdout)
    # called on Ctrl-C before every handle is closed (a chat says goodbye with 1001)
    on_stop: list[Callable[[], Any]] = dataclasses.field(default_factory=list)

    def log(self, service: str, text: str) -> None:
        """One event, one line: ``12:00:01 [tcp] connection from 127.0.0.1:5555``.

        If the reader of the log has gone (``nodish demo | head``), the demo keeps
        serving and stops logging.
        """
        stamp = datetime.now().strftime("%H:%M:%S")
        self.say(f"{stamp} [{service}] {text}")

    def say(self, line: str) -> None:
        """Print ``line`` on the demo's output, unless its reader has gone."""
        try:
            print(line, file=self.out, flush=True)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.out.fileno())  # so the flush at exit does not fail too

    def client_host(self) -> str:
        """The host a client on this machine connects to (any-address: localhost)."""
        return "localhost" if self.host in ("0.0.0.0", "::", "") else self.host

    def url_host(self) -> str:
        """The host as a URL shows it (IPv6 in brackets)."""
        host = self.client_host()
        return f"[{host}]" if ":" in host else host


def preview(data: bytes, limit: int = 60) -> str:
    """A datagram or chunk as a log shows it: text when it decodes, its size always."""
    try:
        text = repr(data[:limit].decode())
    except UnicodeDecodeError:
        text = repr(data[:limit])
    more = "…" if len(data) > limit else ""
    return f"{text}{more} ({len(data)} bytes)"


class ListenError(Exception):
    """A service could not listen: the message says why and which option changes it."""

    def __init__(self, service: str, port: int, err: BaseException) -> None:
        code = _common.error_code(err)
        why = _common.describe(err, "")
        if code in ("ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL"):
            text = f"cannot listen on that host: {why} — choose another with --host"
        elif code == "EACCES":
            text = (
                f"{service} port {port} is not permitted: {why} — ports below 1024 need "
                "privileges; choose others with --port-offset N"
            )
        else:
            text = (
                f"{service} port {port} is not available: {why} — choose other ports with "
                "--port-offset N (or stop the program using it)"
            )
        super().__init__(text)
        self.status = _common.exit_status(err)


StartFn = Callable[[Context], Awaitable[Service]]


def _starters(ctx: Context) -> list[StartFn]:
    from . import tcp, udp, web

    site = web.Web(ctx)
    starters: list[StartFn] = [tcp.start, udp.start, site.start_http]
    if ctx.tls is not None:
        starters.append(site.start_https)
    return starters


async def start_all(ctx: Context) -> list[Service]:
    """Start every service, in the chapter's order; on a failure close those started."""
    started: list[Service] = []
    try:
        for start in _starters(ctx):
            started.append(await start(ctx))
    except BaseException:
        for service in started:
            service.closer()
        raise
    return started


def banner(ctx: Context, services: list[Service]) -> str:
    """What runs where, and what to try."""
    lines = ["nodish demo: the seed chapter's servers on one loop (Ctrl-C stops them all)"]
    for s in services:
        lines.append(f"  {s.name:<6} {s.url:<28} try: {s.hint}")
    if ctx.tls is not None:
        lines.append("HTTPS and WSS:")
        lines.extend(f"  {line}" for line in ctx.tls.how_to_trust())
    return "\n".join(lines)


def run_demo(host: str, ports: dict[str, int], tls_dir: Any = None, tls_files: Any = None) -> int:
    """Run the demo until Ctrl-C; returns the exit status.

    Args:
        host: the address every server listens on.
        ports: the port of each service (``PORTS``' keys).
        tls_dir: where the development CA lives (made there on first run); None for
            no HTTPS.
        tls_files: (certificate, key) paths to serve HTTPS with instead of the CA.
    """
    import nodish

    ctx = Context(host, ports)
    from .devca import DevCA, GivenCertificate

    try:
        if tls_files is not None:
            ctx.tls = GivenCertificate(*tls_files)
        elif tls_dir is not None:
            ctx.tls = DevCA(tls_dir)
    except (OSError, ValueError) as exc:
        where = tls_files[0] if tls_files is not None else f"the development CA in {tls_dir}"
        print(f"nodish demo: {where}: {exc}", file=sys.stderr)
        return _common.EXIT_ERROR
    status = _common.EXIT_OK

    async def main() -> None:
        nonlocal status
        try:
            services = await start_all(ctx)
        except ListenError as exc:
            print(f"nodish demo: {exc}", file=sys.stderr, flush=True)
            status = exc.status
            return
        print(banner(ctx, services), flush=True)
        print("ready", flush=True)

    def stop() -> None:
        ctx.say("stopping: closing every server")
        for fn in ctx.on_stop:
            fn()

    _common.stop_on_interrupt(stop)
    nodish.run(main)
    return status
