"""``nodish get URL [-v] [-o FILE] [-L] [--insecure]``: a small curl on nodish.http.

The body goes to standard output, or to FILE with ``-o`` (with a progress bar on
stderr for bodies of a megabyte or more; ``-s`` hides it). ``-v`` prints the request
and response heads on stderr (``>`` and ``<`` lines, as curl does). Redirects are
followed with ``-L`` (at most ``--max-redirects``); without it a redirect is printed as
it came, with a note on stderr. ``https://`` URLs are fetched over nodish.tls, checking
the certificate against the system's CAs plus ``--ca FILE`` (``-k`` skips the check).
An answer of 400 or more is printed too, and the exit status is 8.
"""

from __future__ import annotations

import errno
import sys
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from . import _common

REDIRECTS = (301, 302, 303, 307, 308)
PROGRESS_FROM = 1 << 20  # bytes: smaller bodies arrive too fast for a bar to help


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int | None, out: Any = None) -> None:
        self.total = total
        self.done = 0
        self.out = out or sys.stderr
        self.shown = False
        self.start = self._last = time.monotonic()

    def add(self, n: int) -> None:
        """``n`` more bytes arrived."""
        self.done += n
        now = time.monotonic()
        if self.done >= PROGRESS_FROM and now - self._last >= 0.1:
            self._last = now
            self.draw()

    def draw(self) -> None:
        """Redraw the line."""
        self.shown = True
        rate = self.done / max(time.monotonic() - self.start, 1e-6)
        size = f"{self.done / 1e6:.1f} MB"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            line = f"[{bar:<30}] {frac * 100:5.1f}% {size} of {self.total / 1e6:.1f} MB"
        else:
            line = size
        self.out.write(f"\r{line} {rate / 1e6:.1f} MB/s")
        self.out.flush()

    def finish(self) -> None:
        """The last redraw, then a newline (only if a bar was shown or deserved)."""
        if self.shown or self.done >= PROGRESS_FROM:
            self.draw()
            self.out.write("\n")
            self.out.flush()


def _target(url: str) -> tuple[bool, str, int, str, str]:
    """(secure, host, port, path, Host header) of an http(s) URL.

    Raises:
        ValueError: not an http or https URL.
    """
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http:// and https:// URLs: {url}")
    if not parts.hostname:
        raise ValueError(f"no host in {url}")
    secure = parts.scheme == "https"
    default = 443 if secure else 80
    try:
        port = parts.port or default
    except ValueError:
        raise ValueError(f"bad port in {url}") from None
    from ..http.client import _url_options

    path = _url_options(url)["path"]  # percent-encoded as Node's new URL() does
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    return secure, host, port, path, host_header


async def fetch(args: Any) -> int:
    """Fetch ``args.url`` as the options say; returns the exit status."""
    from .. import http
    from ..errors import system_error

    url = args.url
    tls = _common.tls_client_options(args)
    for _hop in range(args.max_redirects + 1):
        secure, host, port, path, host_header = _target(url)
        headers = {"Host": host_header, "User-Agent": "nodish-get", "Accept": "*/*"}
        headers.update(_common.parse_headers(args.header))
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "path": path,
            "method": args.method,
            "headers": headers,
            "timeout": args.timeout,
            "agent": False,
        }
        if secure:
            from .. import tls as tls_module
            from .._address import is_ip

            opts = dict(tls)
            if not is_ip(host):
                opts.setdefault("servername", host)
            options["create_connection"] = lambda *_a, o=opts, p=port, h=host: tls_module.connect(
                p, h, **o
            )
        req = http.request(**options)
        req.on(
            "timeout",
            lambda r=req, h=host, p=port: r.destroy(system_error(errno.ETIMEDOUT, "read", h, p)),
        )
        res = await req
        if args.verbose:
            _print_heads(req, res)
        location = res.headers.get("location")
        if res.status_code in REDIRECTS and location:
            if args.location:
                res.resume()  # the body of a redirect is not wanted
                url = urljoin(url if "://" in url else "http://" + url, location)
                if res.status_code == 303 or (
                    res.status_code in (301, 302) and args.method == "POST"
                ):
                    args.method = "GET"
                continue
            print(
                f"nodish get: {res.status_code} redirect to {location} (follow it with -L)",
                file=sys.stderr,
            )
        return await _save(args, res)
    print(f"nodish get: more than {args.max_redirects} redirects", file=sys.stderr)
    return _common.EXIT_PEER


def _print_heads(req: Any, res: Any) -> None:
    head = getattr(req, "_header", None) or b""
    for line in head.decode("latin-1").split("\r\n"):
        if line:
            print(f"> {line}", file=sys.stderr)
    print(f"< HTTP/{res.http_version} {res.status_code} {res.status_message}", file=sys.stderr)
    raw = res.raw_headers
    for i in range(0, len(raw), 2):
        print(f"< {raw[i]}: {raw[i + 1]}", file=sys.stderr)
    print("<", file=sys.stderr, flush=True)


async def _save(args: Any, res: Any) -> int:
    length = res.headers.get("content-length")
    total = int(length) if isinstance(length, str) and length.isdigit() else None
    progress = Progress(total) if args.output and not args.silent else None
    if not args.output:
        async for chunk in res:
            _common.write_stdout(chunk)  # stops everything quietly if the reader has gone
            if _common.stdout_gone():
                return _common.EXIT_OK
    else:
        with open(args.output, "wb") as out:
            async for chunk in res:
                out.write(chunk)
                if progress is not None:
                    progress.add(len(chunk))
    if progress is not None:
        progress.finish()
    if res.status_code >= 400:
        print(f"nodish get: HTTP {res.status_code} {res.status_message}", file=sys.stderr)
        return _common.EXIT_PEER
    return _common.EXIT_OK


def _run(args: Any) -> int:
    import nodish

    try:
        _target(args.url)
    except ValueError as err:
        print(f"nodish get: {err}", file=sys.stderr)
        return _common.EXIT_USAGE
    status = _common.EXIT_OK

    async def main() -> None:
        nonlocal status
        try:
            status = await fetch(args)
        except Exception as err:
            if _common.interrupted():
                return  # Ctrl-C closed the connection: nothing to report
            if not isinstance(err, OSError) and _common.error_code(err) is None:
                raise
            status = _common.fail("get", err)

    _common.stop_on_interrupt()
    nodish.run(main)
    return 130 if _common.interrupted() else status


def register(sub: Any) -> None:
    """Add ``nodish get`` to the command line."""
    p = _common.add_tool(sub, "get", "fetch a URL over HTTP or HTTPS (a small curl)", __doc__)
    p.add_argument("url", help="http:// or https:// URL (http:// when no scheme is given)")
    p.add_argument("-v", "--verbose", action="store_true", help="print both heads on stderr")
    p.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE")
    p.add_argument("-s", "--silent", action="store_true", help="no progress bar")
    p.add_argument("-L", "--location", action="store_true", help="follow redirects")
    p.add_argument(
        "--max-redirects",
        type=_common.count,
        default=10,
        metavar="N",
        help="with -L (default 10)",
    )
    p.add_argument("-X", "--method", default="GET", help="request method (default GET)")
    _common.add_header_option(p, "request")
    p.add_argument(
        "--timeout",
        type=_common.seconds,
        default=30.0,
        help="give up after this many seconds without progress (default 30; 0: never)",
    )
    _common.add_tls_client_options(p, flag=False)
    p.set_defaults(func=_run)
