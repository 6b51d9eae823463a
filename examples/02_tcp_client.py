# Run:  python examples/01_tcp_server.py  in one terminal, then
#       python examples/02_tcp_client.py  in another.
"""The seed chapter's TCP client, line for line.

    var net = require('net');
    var client = net.connect({port: 8124}, function () {
      console.log('client connected');
      client.write('world!\\r\\n');
    });
    client.on('data', function (data) { console.log(data.toString()); client.end(); });
    client.on('end', function () { console.log('client disconnected'); });

PORT in the environment overrides 8124.
"""

import os

import nodish
from nodish import net


def on_connect():
    print("client connected", flush=True)
    client.write("world!\r\n")


client = net.connect(int(os.environ.get("PORT", 8124)), callback=on_connect)


def on_data(data):
    print(data.decode(), flush=True)
    client.end()


client.on("data", on_data)
client.on("end", lambda: print("client disconnected", flush=True))

nodish.run()
