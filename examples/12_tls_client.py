# Run:  python examples/11_tls_server.py  in one terminal, then
#       python examples/12_tls_client.py  in another, and type: each line comes back.
"""The seed chapter's TLS client, line for line: mutual TLS to port 8000.

    var options = {
      key: fs.readFileSync('./keys/client.key'),
      cert: fs.readFileSync('./keys/client.crt'),
      ca: [ fs.readFileSync('./keys/ca.crt') ]
    };
    var stream = tls.connect(8000, options, function () {
      console.log('client connected', stream.authorized ? 'authorized' : 'unauthorized');
      process.stdin.pipe(stream);
    });
    stream.setEncoding('utf8');
    stream.on('data', function (data) { console.log(data); });
    stream.on('end', function () { server.close(); });

Ctrl-D ends stdin: the client half-closes, the server's pipe ends too, and both exit
the conversation. KEYS (default ./keys) and PORT (default 8000) as for the server.
"""

import os
import sys
from pathlib import Path

import nodish
from nodish import tls

keys = Path(os.environ.get("KEYS", "keys"))
options = {
    "key": (keys / "client.key").read_bytes(),
    "cert": (keys / "client.crt").read_bytes(),
    "ca": [(keys / "ca.crt").read_bytes()],
}


def on_secure_connect():
    print("client connected", "authorized" if stream.authorized else "unauthorized", flush=True)
    # process.stdin.pipe(stream): what is typed goes to the server, Ctrl-D ends it
    nodish.get_loop().add_reader(sys.stdin.fileno(), on_stdin)


def on_stdin():
    data = os.read(sys.stdin.fileno(), 65536)
    if data:
        stream.write(data)
    else:
        nodish.get_loop().remove_reader(sys.stdin.fileno())
        stream.end()


stream = tls.connect(int(os.environ.get("PORT", 8000)), callback=on_secure_connect, **options)
stream.set_encoding("utf8")
stream.on("data", lambda data: print(data, end="", flush=True))
stream.on("end", lambda: print("client disconnected", flush=True))

nodish.run()
