"""Helpers for the http tests: a server on port 0 and a raw client that reads answers."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import DEFAULT_TIMEOUT, wait_event

from nodish import http


async def serve(handler: Any = None, **opts: Any) -> http.Server:
    server = http.create_server(handler, **opts)
    await server.listen(0, "127.0.0.1")
    return server


async def shut(server: Any) -> None:
    if server.listening:
        server.close_all_connections()
        server.close()
        await wait_event(server, "close")


class Raw:
    """A plain TCP client speaking bytes, reading whole HTTP responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = b""

    @classmethod
    async def open(cls, port: int) -> Raw:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def _more(self, timeout: float) -> bool:
        chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
        self.buf += chunk
        return bool(chunk)

    async def response(self, timeout: float = DEFAULT_TIMEOUT, head_only: bool = False) -> Any:
        """One response: (status, headers dict lower-case, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            if not await self._more(timeout):
                raise EOFError(f"closed before a response: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                if not await self._more(timeout):
                    raise EOFError("closed in the body")
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, headers, body
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    if not await self._more(timeout):
                        raise EOFError("closed in a chunk")
                size_line, rest = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(rest) < size + 2:
                    if not await self._more(timeout):
                        raise EOFError("closed in a chunk")
                    rest = self.buf.split(b"\r\n", 1)[1]
                if size == 0:
                    self.buf = rest
                    while b"\r\n\r\n" not in b"\r\n" + self.buf:
                        if not await self._more(timeout):
                            raise EOFError("closed in trailers")
                    trailer, self.buf = (b"\r\n" + self.buf).split(b"\r\n\r\n", 1)
                    headers["__trailers__"] = trailer.decode("latin-1").strip()
                    return status, headers, body
                body += rest[:size]
                self.buf = rest[size + 2 :]
        # close-delimited
        while await self._more(timeout):
            pass
        body, self.buf = self.buf, b""
        return status, headers, body

    async def closed(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Read to EOF (or a reset); returns what arrived meanwhile."""
        try:
            while await self._more(timeout):
                pass
        except ConnectionResetError:
            pass
        self.writer.close()
        return self.buf

    def close(self) -> None:
        self.writer.close()


async def get_ok(port: int, path: str = "/") -> tuple[int, dict[str, str], bytes]:
    """A good client: one GET on a fresh connection."""
    c = await Raw.open(port)
    c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    try:
        return await c.response()  # type: ignore[no-any-return]
    finally:
        c.close()
