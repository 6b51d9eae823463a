# Run:  python examples/01_tcp_server.py
# then: telnet localhost 8124  (or: nodish connect localhost 8124, or examples/02_tcp_client.py)
"""The seed chapter's TCP server, line for line: `telnet localhost 8124` to try it.

    var net = require('net');
    var server = net.createServer(function (socket) {
      socket.on('data', function (data) { socket.write('你好'); });
      socket.on('end', function () { console.log('连接断开'); });
      socket.write('深入浅出Nodejs\\n');
    });
    server.listen(8124, function () { console.log('server bound'); });

PORT in the environment overrides 8124 (0 picks a free port; the bound port is printed).
"""

import os

import nodish
from nodish import net


def on_connection(socket):
    # a new connection
    socket.on("data", lambda data: socket.write("你好"))
    socket.on("end", lambda: print("连接断开", flush=True))
    socket.write("深入浅出Nodejs\n")


server = net.create_server(on_connection)
server.listen(
    int(os.environ.get("PORT", 8124)),
    callback=lambda: print("server bound", server.address().port, flush=True),
)

nodish.run()
