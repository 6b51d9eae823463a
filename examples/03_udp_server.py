# Run:  python examples/03_udp_server.py
# then: python examples/04_udp_client.py  (or: echo hi | nodish connect --udp localhost 41234)
"""The seed chapter's UDP server, line for line.

    var dgram = require("dgram");
    var server = dgram.createSocket("udp4");
    server.on("message", function (msg, rinfo) {
      console.log("server got: " + msg + " from " + rinfo.address + ":" + rinfo.port);
    });
    server.on("listening", function () {
      var address = server.address();
      console.log("server listening " + address.address + ":" + address.port);
    });
    server.bind(41234);

Try it with examples/04_udp_client.py. PORT in the environment overrides 41234 (0 picks a
free port; the bound port is printed).
"""

import os

import nodish
from nodish import dgram

server = dgram.create_socket("udp4")

server.on(
    "message",
    lambda msg, rinfo: print(
        f"server got: {msg.decode()} from {rinfo.address}:{rinfo.port}", flush=True
    ),
)


def on_listening():
    address = server.address()
    print(f"server listening {address.address}:{address.port}", flush=True)


server.on("listening", on_listening)

server.bind(int(os.environ.get("PORT", 41234)))

nodish.run()
