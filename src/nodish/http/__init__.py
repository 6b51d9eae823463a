"""``nodish.http``: HTTP/1.1 servers and clients, Node's ``http`` module.

    from nodish import http

    def handler(req, res):
        res.write_head(200, {'Content-Type': 'text/plain'})
        res.end('hello\\n')

    http.create_server(handler).listen(8000)

    res = await http.get('http://localhost:8000/')     # or http.get(url, callback=...)
    print(res.status_code, await consumers.text(res))

Mirrors https://nodejs.org/docs/latest-v20.x/api/http.html with Python names
(``create_server``, ``write_head``, ``keep_alive_timeout=``) and durations in seconds.
Parsing is llhttp (Node's own parser, through httptools) behind a sans-I/O engine
(:mod:`nodish.http.parser`).
"""

from __future__ import annotations

from .agent import Agent, global_agent
from .client import ClientRequest, get, request
from .incoming import IncomingMessage
from .outgoing import OutgoingMessage, validate_header_name, validate_header_value
from .parser import ParseError
from .response import ServerResponse
from .server import Server, create_server
from .status import METHODS, STATUS_CODES

#: Node's default ``maxHeaderSize`` (bytes).
max_header_size = 16384

__all__ = [
    "METHODS",
    "STATUS_CODES",
    "Agent",
    "ClientRequest",
    "IncomingMessage",
    "OutgoingMessage",
    "ParseError",
    "Server",
    "ServerResponse",
    "create_server",
    "get",
    "global_agent",
    "max_header_size",
    "request",
    "validate_header_name",
    "validate_header_value",
]
