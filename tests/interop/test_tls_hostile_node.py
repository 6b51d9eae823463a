"""Odd host names, Node as the oracle: Node's tls client and nodish's, against one nodish
server, reach the same verdict on every name, but for the differences the reference
documents (a non-ASCII name is checked as its A-label by nodish)."""

from __future__ import annotations

import json

import pytest
from tests.helpers import NodeProcess, wait_event
from tests.tls_fixtures import pki

from nodish import tls

pytestmark = pytest.mark.interop

NODE_CLIENTS = r"""
const tls = require('tls');
const {port, ca, names} = JSON.parse(process.argv[1]);
process.removeAllListeners('warning');  // DEP0123 for an IP servername
(async () => {
  for (const servername of names) {
    const verdict = await new Promise((resolve) => {
      const sock = tls.connect({port, host: '127.0.0.1', ca, servername}, () => {
        sock.destroy();
        resolve('ok');
      });
      sock.on('error', (err) => resolve(err.code));
    });
    console.log(JSON.stringify({servername, verdict}));
  }
})();
"""

NAMES = [
    "a.b.test",
    "A.B.TEST.",  # case and a trailing dot
    "x.a.b.test",  # a wildcard covers one label
    "b.test",  # and not the bare domain
    "*.b.test",
    "xn--bcher-kva.test",
    "a..b",
    "a" * 300,
    "bad name",
    "127.0.0.1",  # an IP: the IP SANs only
    "127.0.0.2",
    "",  # no SNI: the host, 127.0.0.1, is checked
]


async def nodish_verdict(port: int, servername: str) -> str:
    try:
        sock = await tls.connect(port, "127.0.0.1", ca=pki().ca.cert_pem, servername=servername)
    except tls.TLSError as exc:
        return str(exc.code)
    except Exception as exc:
        return str(getattr(exc, "code", type(exc).__name__))
    sock.destroy()
    return "ok"


async def test_host_name_verdicts_match_nodes() -> None:
    p = pki()
    leaf = p.ca.issue_server("xn--bcher-kva.test", "*.b.test", "127.0.0.1")
    server = tls.create_server(lambda s: None, **p.server_options(leaf))
    server.on("tlsClientError", lambda err, sock: None)  # the clients that refuse it
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    args = {"port": port, "ca": p.ca.cert_pem.decode(), "names": [*NAMES, "bücher.test"]}
    node = await NodeProcess.start(NODE_CLIENTS, json.dumps(args))
    node_verdicts = {}
    for _ in args["names"]:
        msg = await node.message()
        node_verdicts[msg["servername"]] = msg["verdict"]
    assert await node.finish() == 0
    ours = {name: await nodish_verdict(port, name) for name in args["names"]}
    assert node_verdicts["a.b.test"] == "ok"
    assert node_verdicts["x.a.b.test"] == "ERR_TLS_CERT_ALTNAME_INVALID"
    for name in NAMES:
        assert ours[name] == node_verdicts[name], name
    # the documented difference: Node sends the UTF-8 name and rejects it
    assert node_verdicts["bücher.test"] == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert ours["bücher.test"] == "ok"
    server.close()
    await wait_event(server, "close")
