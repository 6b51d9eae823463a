# Run:  python examples/03_udp_server.py  in one terminal, then
#       python examples/04_udp_client.py  in another: the server prints the datagram.
"""The seed chapter's UDP client, line for line: it sends one datagram and closes.

    var dgram = require('dgram');
    var message = new Buffer("深入浅出Nodejs");
    var client = dgram.createSocket("udp4");
    client.send(message, 0, message.length, 41234, "localhost", function (err, bytes) {
      client.close();
    });

PORT in the environment overrides 41234.
"""

import os

import nodish
from nodish import dgram

message = "深入浅出Nodejs".encode()
client = dgram.create_socket("udp4")
client.send(
    message,
    int(os.environ.get("PORT", 41234)),
    "localhost",
    offset=0,
    length=len(message),
    callback=lambda err, bytes=None: client.close(),
)

nodish.run()
