# Run:  python examples/08_websocket_server.py
# then: open http://127.0.0.1:12010/ in a browser (the page is examples/09_websocket_page.html),
#       or: nodish ws ws://127.0.0.1:12010/updates
"""The seed chapter's WebSocket server: an HTTP server whose 'upgrade' becomes a WebSocket.

The chapter answers the browser's upgrade request by hand, in Node:

    server.on('upgrade', function (req, socket, upgradeHead) {
      var key = req.headers['sec-websocket-key'];
      key = crypto.createHash('sha1').update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                     .digest('base64');
      var headers = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket',
                     'Connection: Upgrade', 'Sec-WebSocket-Accept: ' + key];
      socket.setNoDelay(true);
      socket.write(headers.concat('', '').join('\\r\\n'));
      var websocket = new WebSocket();
      websocket.setSocket(socket);
    });

nodish.ws does exactly that in ``WebSocketServer.handle_upgrade`` (and checks the
request, which the chapter leaves out). Here it is called from the same 'upgrade'
listener, so the chapter's shape stays visible. The page (served at /) sends an update
every 50 ms while nothing is waiting to be sent (``bufferedAmount == 0``); the server
answers each with how many it has received, and pushes the time once a second.

PORT in the environment overrides 12010 (0 picks a free port; the bound port is printed).
"""

import os
import time
from pathlib import Path

import nodish
from nodish import http, timers
from nodish.ws import WebSocketServer

PAGE = (Path(__file__).parent / "09_websocket_page.html").read_bytes()


def on_request(req, res):
    res.write_head(200, {"Content-Type": "text/html; charset=utf-8"})
    res.end(PAGE)


server = http.create_server(on_request)
wss = WebSocketServer(no_server=True)


def on_upgrade(req, socket, upgrade_head):
    if req.url != "/updates":
        socket.destroy()
        return
    socket.set_no_delay(True)
    wss.handle_upgrade(req, socket, upgrade_head, on_websocket)


def on_websocket(websocket, req):
    print("websocket open from", req.socket.remote_address, flush=True)
    received = 0

    def on_message(data, is_binary):
        nonlocal received
        received += 1
        websocket.send(f"got {received} updates, the last: {data}")

    def push_time():
        websocket.send("server time " + time.strftime("%H:%M:%S"))

    ticker = timers.set_interval(push_time, 1.0)
    websocket.on("message", on_message)
    websocket.on(
        "close",
        lambda code, reason: (
            timers.clear_interval(ticker),
            print("websocket closed", code, flush=True),
        ),
    )


server.on("upgrade", on_upgrade)
server.listen(
    int(os.environ.get("PORT", 12010)),
    "127.0.0.1",
    callback=lambda: print("listening on", server.address().port, flush=True),
)

nodish.run()
