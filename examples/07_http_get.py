# Run:  python examples/05_http_server.py  in one terminal, then
#       python examples/07_http_get.py  in another.
"""The seed chapter's agent example with ``http.get``: ten requests share one pool.

    var agent = new http.Agent({
      maxSockets: 10
    });
    var options = {
      hostname: '127.0.0.1', port: 1334, path: '/', method: 'GET', agent: agent
    };
    http.get(options, function (res) { ... });

Each response is printed with the number of the request; the agent keeps its sockets
alive between requests (``keep_alive``), so the ten go over a few connections. An
idle pooled socket does not keep the program alive: it exits once all are answered.
PORT overrides the port (1337: where 05_http_server.py listens).
"""

import os

import nodish
from nodish import http
from nodish.stream import consumers

agent = http.Agent(max_sockets=10)
options = {
    "hostname": "127.0.0.1",
    "port": int(os.environ.get("PORT", 1334)),
    "path": "/",
    "agent": agent,
}


async def main():
    for i in range(10):
        res = await http.get(**options)
        body = await consumers.text(res)
        print(i, res.status_code, body.strip(), flush=True)
    print("sockets opened:", len(connections), flush=True)


connections = set()
agent.on("free", lambda sock, _opts: connections.add(sock))

nodish.run(main)
