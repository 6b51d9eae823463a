# Run:  python examples/21_socketio_client.py [URL]   (with examples/20_socketio_chat.py running)
"""Two Socket.IO clients in one program: one speaks, the other hears it.

``socketio.connect`` returns the socket at once and connects in the background, as
socket.io-client's ``io()`` does; ``await`` is there for the acknowledgement.
"""

import sys

import nodish
from nodish import socketio

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"


async def main():
    alice = socketio.connect(URL, auth={"name": "alice"}, force_new=True)
    bob = socketio.connect(URL, auth={"name": "bob"}, force_new=True)
    bob.on("said", lambda name, text: print(f"bob heard {name}: {text}", flush=True))
    heard = nodish.events.once(bob, "said")

    await nodish.events.once(bob, "connect")
    answer = await alice.emit_with_ack("say", "hello from nodish", timeout=5)
    print(f"alice's message: {answer}", flush=True)
    await heard
    alice.disconnect()
    bob.disconnect()


nodish.run(main)
