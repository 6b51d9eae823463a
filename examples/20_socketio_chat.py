# Run:  python examples/20_socketio_chat.py   then:  python examples/21_socketio_client.py
"""A Socket.IO chat server: rooms, broadcasts and acknowledgements.

The same program in Node:

    const io = require('socket.io')(3000);
    io.on('connection', (socket) => {
      socket.join('lobby');
      socket.on('say', (text, ack) => {
        socket.to('lobby').emit('said', socket.handshake.auth.name, text);
        ack('delivered');
      });
    });

Any socket.io client (the browser's, Node's, nodish's) can join. PORT overrides 3000.
"""

import os

import nodish
from nodish import socketio

io = socketio.Server(cors={"origin": True})


def on_connection(socket):
    name = socket.handshake["auth"].get("name", "anonymous")
    socket.join("lobby")
    print(f"{name} joined", flush=True)

    def say(text, ack=None):
        socket.to("lobby").emit("said", name, text)
        if ack is not None:
            ack("delivered")

    socket.on("say", say)
    socket.on("disconnect", lambda reason, *_: print(f"{name} left ({reason})", flush=True))


io.on("connection", on_connection)
io.listen(
    int(os.environ.get("PORT", 3000)),
    "127.0.0.1",
    callback=lambda: print(f"Chat on http://127.0.0.1:{io.address().port}/", flush=True),
)

nodish.run()
