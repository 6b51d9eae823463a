"""uvicorn (uvloop + httptools) hello-world ASGI app for bench_http.

Binds 127.0.0.1 on a free port, prints it, serves the same bytes as the other servers.
"""

import socket

import uvicorn

BODY = b"hello world\n"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"12")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(
    app,
    loop="uvloop",
    http="httptools",
    log_level="warning",
    access_log=False,
    lifespan="off",
    date_header=True,
    server_header=False,
)
uvicorn.Server(config).run(sockets=[sock])
