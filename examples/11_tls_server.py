# Run:  sh examples/10_make_keys.sh, then  python examples/11_tls_server.py
# then: python examples/12_tls_client.py  (or: openssl s_client -connect localhost:8000
#       -CAfile keys/ca.crt -cert keys/client.crt -key keys/client.key)
"""The seed chapter's TLS server, line for line: mutual TLS on port 8000.

    var options = {
      key: fs.readFileSync('./keys/server.key'),
      cert: fs.readFileSync('./keys/server.crt'),
      requestCert: true,
      ca: [ fs.readFileSync('./keys/ca.crt') ]
    };
    var server = tls.createServer(options, function (stream) {
      console.log('server connected', stream.authorized ? 'authorized' : 'unauthorized');
      stream.write("welcome!\\n");
      stream.setEncoding('utf8');
      stream.pipe(stream);
    });
    server.listen(8000, function () { console.log('server bound'); });

KEYS (default ./keys) is where 10_make_keys.sh wrote the files; PORT overrides 8000.
"""

import os
from pathlib import Path

import nodish
from nodish import tls

keys = Path(os.environ.get("KEYS", "keys"))
options = {
    "key": (keys / "server.key").read_bytes(),
    "cert": (keys / "server.crt").read_bytes(),
    "request_cert": True,
    "ca": [(keys / "ca.crt").read_bytes()],
}


def on_secure_connection(stream):
    print("server connected", "authorized" if stream.authorized else "unauthorized", flush=True)
    stream.write("welcome!\n")
    stream.set_encoding("utf8")
    stream.pipe(stream)


server = tls.create_server(on_secure_connection, **options)
server.listen(
    int(os.environ.get("PORT", 8000)),
    callback=lambda: print("server bound", server.address().port, flush=True),
)

nodish.run()
