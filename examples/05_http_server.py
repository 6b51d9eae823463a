# Run:  python examples/05_http_server.py   then:  curl http://127.0.0.1:1337/
"""The seed chapter's HTTP server, line for line.

    var http = require('http');
    http.createServer(function (req, res) {
      res.writeHead(200, {'Content-Type': 'text/plain'});
      res.end('Hello World\\n');
    }).listen(1337, '127.0.0.1');
    console.log('Server running at http://127.0.0.1:1337/');

The head, then the body in pieces (``write``), then ``end``: as the chapter's
walk through ``res.writeHead`` / ``res.write`` / ``res.end``. PORT overrides 1337.
"""

import os

import nodish
from nodish import http


def on_request(req, res):
    res.write_head(200, {"Content-Type": "text/plain"})
    res.write("Hello ")
    res.end("World\n")


server = http.create_server(on_request)
server.listen(
    int(os.environ.get("PORT", 1337)),
    "127.0.0.1",
    callback=lambda: print(
        f"Server running at http://127.0.0.1:{server.address().port}/", flush=True
    ),
)

nodish.run()
