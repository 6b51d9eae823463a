"""The ceiling for bench_http: a bare uvloop Protocol driving httptools, no API layer.

Answers every request with the same bytes as the other servers (a cached Date line,
keep-alive unless the request asks to close). Binds 127.0.0.1:0 and prints the port.
"""

import asyncio
import time
from email.utils import formatdate

import httptools
import uvloop

BODY = b"hello world\n"
_date = [0, b""]


def date_line() -> bytes:
    now = int(time.time())
    if now != _date[0]:
        _date[0] = now
        _date[1] = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return _date[1]


class HelloProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self):
        keep = self.parser.should_keep_alive()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
            + date_line()
            + (b"Connection: keep-alive\r\n\r\n" if keep else b"Connection: close\r\n\r\n")
            + BODY
        )
        if not keep:
            self.transport.close()


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HelloProtocol, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


uvloop.run(main())
