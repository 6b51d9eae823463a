# Run:  python examples/05_http_server.py  in one terminal, then
#       python examples/06_http_client.py  in another.
"""The seed chapter's HTTP client, line for line.

    var options = {
      hostname: '127.0.0.1',
      port: 1334,
      path: '/',
      method: 'GET'
    };
    var req = http.request(options, function(res) {
      console.log('STATUS: ' + res.statusCode);
      console.log('HEADERS: ' + JSON.stringify(res.headers));
      res.setEncoding('utf8');
      res.on('data', function (chunk) {
        console.log(chunk);
      });
    });
    req.end();

PORT overrides the port (the chapter's 1334; 1337 is where 05_http_server.py listens).
"""

import json
import os

import nodish
from nodish import http

options = {
    "hostname": "127.0.0.1",
    "port": int(os.environ.get("PORT", 1334)),
    "path": "/",
    "method": "GET",
}


def on_response(res):
    print("STATUS: " + str(res.status_code), flush=True)
    print("HEADERS: " + json.dumps(res.headers), flush=True)
    res.set_encoding("utf8")
    res.on("data", lambda chunk: print(chunk, flush=True))


req = http.request(callback=on_response, **options)
req.end()

nodish.run()
