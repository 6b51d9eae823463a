# Run:  python examples/13_https_server.py  in one terminal, then
#       python examples/14_https_client.py  in another.
"""The seed chapter's HTTPS client, line for line (with the client certificate).

    var options = {
      hostname: 'localhost', port: 8000, path: '/', method: 'GET',
      key: fs.readFileSync('./keys/client.key'),
      cert: fs.readFileSync('./keys/client.crt'),
      ca: [fs.readFileSync('./keys/ca.crt')]
    };
    options.agent = new https.Agent(options);
    var req = https.request(options, function (res) {
      res.setEncoding('utf-8');
      res.on('data', function (d) { console.log(d); });
    });
    req.end();
    req.on('error', function (e) { console.log(e); });

KEYS (default ./keys) and PORT (default 8000) as for the server.
"""

import os
from pathlib import Path

import nodish
from nodish import https

keys = Path(os.environ.get("KEYS", "keys"))
options = {
    "hostname": "localhost",
    "port": int(os.environ.get("PORT", 8000)),
    "path": "/",
    "method": "GET",
    "key": (keys / "client.key").read_bytes(),
    "cert": (keys / "client.crt").read_bytes(),
    "ca": [(keys / "ca.crt").read_bytes()],
}
options["agent"] = https.Agent(**{k: options[k] for k in ("key", "cert", "ca")})


def on_response(res):
    res.set_encoding("utf-8")
    res.on("data", lambda d: print(d, end="", flush=True))


req = https.request(callback=on_response, **options)
req.end()
req.on("error", lambda e: print(e, flush=True))

nodish.run()
