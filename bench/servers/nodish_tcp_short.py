"""nodish's short-connection TCP server for bench_tcp_short: the Node-style program, as
a user writes it. Each connection's first chunk (the request) is answered with a short
reply and the connection ended. Listens on 127.0.0.1, port 0, prints the port.
"""

import nodish
from nodish import net

REPLY = b"hello\n"


def on_connection(sock: net.Socket) -> None:
    sock.on("error", lambda err: None)  # a client gone at the end of a run
    sock.once("data", lambda data: sock.end(REPLY))


server = net.create_server(on_connection)
server.listen(
    0,
    "127.0.0.1",
    511,
    callback=lambda: print(server.address().port, flush=True),  # type: ignore[union-attr]
)
nodish.run()
