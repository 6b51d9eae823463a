# Run:  sh examples/10_make_keys.sh, then  python examples/13_https_server.py
# then: python examples/14_https_client.py  (or: curl --cacert keys/ca.crt https://localhost:8000/)
"""The seed chapter's HTTPS server, line for line.

    var options = {
      key: fs.readFileSync('./keys/server.key'),
      cert: fs.readFileSync('./keys/server.crt')
    };
    https.createServer(options, function (req, res) {
      res.writeHead(200);
      res.end("hello world\\n");
    }).listen(8000);

KEYS (default ./keys) is where 10_make_keys.sh wrote the files; PORT overrides 8000.
"""

import os
from pathlib import Path

import nodish
from nodish import https

keys = Path(os.environ.get("KEYS", "keys"))
options = {
    "key": (keys / "server.key").read_bytes(),
    "cert": (keys / "server.crt").read_bytes(),
}


def on_request(req, res):
    res.write_head(200)
    res.end("hello world\n")


server = https.create_server(on_request, **options)
server.listen(
    int(os.environ.get("PORT", 8000)),
    callback=lambda: print("server bound", server.address().port, flush=True),
)

nodish.run()
