"""nodish's HTTPS hello-world server for bench_tls, as a user writes it.

Key and certificate paths in argv; listens on 127.0.0.1, port 0, prints the port. Until
``nodish.https`` exists, the same bytes are answered by a TLS server that reads each
request head itself (the ``tls`` row says which one ran).
"""

import os
import signal
import sys
from pathlib import Path

import nodish
from nodish import tls

KEY, CERT = (Path(p).read_bytes() for p in sys.argv[1:3])
BODY = b"hello world\n"

try:
    from nodish import https
except ImportError:
    https = None

if https is not None:

    def on_request(req, res):
        res.write_head(200, {"Content-Type": "text/plain", "Content-Length": "12"})
        res.end(BODY)

    server = https.create_server(on_request, key=KEY, cert=CERT)
else:
    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n" + BODY

    def on_secure(sock):
        buf = [b""]

        def on_data(data):
            buf[0] += data
            while b"\r\n\r\n" in buf[0]:
                head, _, buf[0] = buf[0].partition(b"\r\n\r\n")
                if b"\nconnection: close" in head.lower():
                    sock.end(RESPONSE)
                    return
                sock.write(RESPONSE)

        sock.on("data", on_data)
        sock.on("error", lambda err: None)

    server = tls.create_server(on_secure, key=KEY, cert=CERT)

# Full and resumed handshakes, printed when the bench stops the server (SIGTERM): wrk
# resumes TLS 1.3 sessions whenever the server gives it a fresh ticket.
handshakes = {"new": 0, "reused": 0}


def count(sock):
    handshakes["reused" if sock.is_session_reused() else "new"] += 1


def report(*_):
    print(f"handshakes new={handshakes['new']} reused={handshakes['reused']}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(0)


server.on("secureConnection", count)
signal.signal(signal.SIGTERM, report)
server.listen(0, "127.0.0.1", callback=lambda: print(server.address().port, flush=True))
nodish.run()
