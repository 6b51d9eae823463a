"""The official socket.io client served at ``{path}/socket.io.js`` (Node's ``serveClient``).

Theory of operation
-------------------
socket.io's ``Server`` answers the URLs that match
``{path}/socket.io(.msgpack|.esm)?(.min)?.js(.map)?`` (query string allowed) before
Engine.IO sees them, and we do the same. nodish ships the ``dist/`` files of
``socket.io-client`` 4.8.1 (:data:`CLIENT_VERSION`, the version the interop tests pin)
in ``vendor/socket.io-client/``, with the client's license: ``socket.io.js``, ``socket.io.min.js``,
``socket.io.esm.min.js`` and their source maps. The msgpack build is not shipped: it
speaks a parser this server does not (Node serves it; here it is a 404, as is any
other name that matches and is missing).

Headers are socket.io's (``lib/index.ts``, ``serve``): ``Cache-Control: public,
max-age=0``, ``Content-Type: application/javascript; charset=utf-8`` (``application/json``
for a map), ``ETag: "4.8.1"``, and a bare 304 when ``If-None-Match`` holds that tag or
its weak form. Like Node, the body is compressed when the client accepts it: gzip or
deflate (Node also offers Brotli, which the standard library lacks); unlike Node, the
answer says ``Vary: Accept-Encoding`` so that a cache keeps the variants apart, and
carries a ``Content-Length``.

``serve_client`` may also be a directory holding such files, or one bundle file, served
for both ``socket.io.js`` and ``socket.io.min.js`` (the option's earlier meaning); those
get an ETag made from their content, since their version is not known. Files are read
once, on first request, and kept with their compressed forms.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import zlib
from pathlib import Path
from typing import Any

from ..errors import ERR_INVALID_ARG_TYPE

__all__ = ["CLIENT_DIR", "CLIENT_VERSION", "ClientFiles"]

#: The socket.io-client release shipped in :data:`CLIENT_DIR`.
CLIENT_VERSION = "4.8.1"
#: Where the shipped client files are.
CLIENT_DIR = Path(__file__).parent / "vendor" / "socket.io-client"

_NAME = re.compile(r"socket\.io(\.msgpack|\.esm)?(\.min)?\.js(\.map)?")


class _File:
    __slots__ = ("body", "deflate", "etag", "gzip", "map")

    def __init__(self, body: bytes, is_map: bool, etag: str | None) -> None:
        self.body = body
        self.map = is_map
        self.etag = etag or '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        self.gzip: bytes | None = None
        self.deflate: bytes | None = None


class ClientFiles:
    """Answers the requests for the client bundle under ``path``."""

    def __init__(self, path: str, source: bool | str | os.PathLike[str]) -> None:
        self.prefix = path.rstrip("/") + "/"
        self._single: Path | None = None
        self._dir = CLIENT_DIR
        self.etag: str | None = None
        if source is True:
            self.etag = f'"{CLIENT_VERSION}"'
        else:
            if not isinstance(source, (str, os.PathLike)):
                raise ERR_INVALID_ARG_TYPE(
                    "serve_client", "a bool or a path", type(source).__name__
                )
            where = Path(os.fspath(source))
            if not where.exists():
                # a bad argument is refused at once, not by a 404 on every request
                raise FileNotFoundError(errno.ENOENT, "no client bundle here", str(where))
            if where.is_dir():
                self._dir = where
            else:
                self._single = where
        self._files: dict[str, _File | None] = {}

    def matches(self, url: str) -> bool:
        """Whether ``url`` names a client file (socket.io's ``clientPathRegex``)."""
        if not url.startswith(self.prefix):
            return False
        name = url[len(self.prefix) :].partition("?")[0]
        return _NAME.fullmatch(name) is not None

    def _file(self, name: str) -> _File | None:
        if name in self._files:
            return self._files[name]
        if self._single is not None:
            path = self._single if name in ("socket.io.js", "socket.io.min.js") else None
        else:
            path = self._dir / name
        found: _File | None = None
        if path is not None:
            try:
                found = _File(path.read_bytes(), name.endswith(".map"), self.etag)
            except OSError:
                found = None
        self._files[name] = found
        return found

    def serve(self, req: Any, res: Any, extra_headers: dict[str, str]) -> None:
        """Answer ``req`` (whose URL :meth:`matches`) with the file, a 304 or a 404."""
        name = req.url[len(self.prefix) :].partition("?")[0]
        file = self._file(name)
        if file is None:
            res.write_head(404, {**extra_headers, "Content-Length": "0"})
            res.end()
            return
        etag = file.etag
        if _fresh(req.headers.get("if-none-match"), etag):
            res.write_head(304, extra_headers)
            res.end()
            return
        headers = {
            **extra_headers,
            "Cache-Control": "public, max-age=0",
            "Content-Type": "application/"
            + ("json" if file.map else "javascript")
            + "; charset=utf-8",
            "ETag": etag,
            "Vary": "Accept-Encoding",
        }
        body = file.body
        coding = _coding(req.headers.get("accept-encoding"))
        if coding == "gzip":
            if file.gzip is None:
                file.gzip = _compress(body, 16 + zlib.MAX_WBITS)
            body = file.gzip
            headers["Content-Encoding"] = "gzip"
        elif coding == "deflate":
            if file.deflate is None:
                file.deflate = _compress(body, zlib.MAX_WBITS)
            body = file.deflate
            headers["Content-Encoding"] = "deflate"
        headers["Content-Length"] = str(len(body))
        res.write_head(200, headers)
        res.end(body)


def _compress(body: bytes, wbits: int) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return c.compress(body) + c.flush()


def _fresh(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names ``etag``, strong or weak (RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == etag or tag == "W/" + etag:
            return True
    return False


def _coding(accept_encoding: str | None) -> str | None:
    """The content coding to use among gzip and deflate (q-values honoured), or None."""
    if not accept_encoding:
        return None
    best: tuple[float, int] = (0.0, 0)
    choice = None
    for i, part in enumerate(accept_encoding.split(",")):
        token, _, params = part.strip().partition(";")
        token = token.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if token == "*":
            token = "gzip"
        if token in ("gzip", "deflate") and q > 0 and (q, -i) > best:
            best = (q, -i)
            choice = token
    return choice
