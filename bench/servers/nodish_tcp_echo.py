"""nodish's TCP echo server for bench_tcp: the Node-style program, as a user writes it.

Listens on 127.0.0.1, port 0, and prints the port once listening.
"""

import nodish
from nodish import net

server = net.create_server(lambda sock: sock.on("data", sock.write))
server.listen(
    0,
    "127.0.0.1",
    callback=lambda: print(server.address().port, flush=True),  # type: ignore[union-attr]
)
nodish.run()
