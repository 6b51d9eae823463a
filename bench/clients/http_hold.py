"""Hold N idle keep-alive HTTP connections to 127.0.0.1:PORT (bench_http's memory run).

``python http_hold.py PORT N``: each connection makes one GET and reads the whole
response (so the server has fully set it up), then stays open. Prints
``{"held": n}`` and keeps everything open until stdin closes.
"""

import json
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def main() -> None:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    held = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(REQUEST)
        buf = b""
        while b"hello world\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit(f"closed after {len(held)} connections")
            buf += chunk
        held.append(s)
    print(json.dumps({"held": len(held)}), flush=True)
    sys.stdin.read()


main()
