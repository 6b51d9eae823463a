"""Session resumption across nodish servers sharing ``ticket_keys``, with other
clients: openssl s_client (``-sess_out`` then ``-sess_in``) and Node's tls client
(its ``session`` option)."""

from __future__ import annotations

import os

import pytest
from tests.helpers import NodeProcess
from tests.interop.test_tls_peers import OPENSSL, close, files, nodish_echo_server, read, run

from nodish import tls

pytestmark = pytest.mark.interop
__all__ = ["files"]  # the fixture, shared with test_tls_peers

VERSIONS = ["TLSv1.3", "TLSv1.2"]
resumed: dict[tls.Server, list[bool]] = {}


async def servers(files, *keys: bytes, version: str) -> list[tls.Server]:
    """One echo server per key (ending after its reply, for s_client); ``resumed[s]``
    records whether the connections server ``s`` accepted were resumed."""
    out = []
    for k in keys:
        server = await nodish_echo_server(
            key=read(files["server-key"]),
            cert=read(files["server"]),
            ticket_keys=k,
            max_version=version,
            end_after_reply=True,
        )
        log: list[bool] = []
        resumed[server] = log
        server.on("secureConnection", lambda s, log=log: log.append(s.is_session_reused()))
        out.append(server)
    return out


async def s_client(files, port: int, version: str, *args: str) -> str:
    flag = "-tls1_3" if version == "TLSv1.3" else "-tls1_2"
    # -ign_eof: read until the server closes, so a TLS 1.3 ticket is read and saved.
    named = {"-connect": f"127.0.0.1:{port}", "-servername": "localhost", "-CAfile": files["ca"]}
    argv = [item for pair in named.items() for item in pair]
    rc, out = await run(
        OPENSSL,
        "s_client",
        *argv,
        "-verify_return_error",
        "-ign_eof",
        flag,
        *args,
        stdin=b"hello\n",
    )
    assert rc == 0 and "pong:hello" in out, out
    return out


@pytest.mark.parametrize("version", VERSIONS)
async def test_openssl_s_client_resumes_on_a_second_server_with_the_same_keys(
    files, tmp_path, version
) -> None:
    keys = os.urandom(48)
    a, b, c = await servers(files, keys, keys, os.urandom(48), version=version)
    sess = str(tmp_path / "session.pem")
    out = await s_client(files, a.address().port, version, "-sess_out", sess)
    assert f"New, {version}" in out, out
    out = await s_client(files, b.address().port, version, "-sess_in", sess)
    assert f"Reused, {version}" in out, out
    out = await s_client(files, c.address().port, version, "-sess_in", sess)
    assert f"New, {version}" in out, out  # other keys: a full handshake, still served
    assert [resumed.pop(s) for s in (a, b, c)] == [[False], [True], [False]]
    await close(a)
    await close(b)
    await close(c)


NODE_RESUMING_CLIENT = r"""
const tls = require('tls'), fs = require('fs');
const [ca, version, ...ports] = process.argv.slice(1);
function connect(port, session) {
  return new Promise((resolve, reject) => {
    const opts = {port: +port, host: '127.0.0.1', servername: 'localhost',
                  ca: fs.readFileSync(ca), maxVersion: version};
    if (session) opts.session = session;
    let saved = null, reused = null, authorized = null, reply = '';
    const sock = tls.connect(opts, () => {
      reused = sock.isSessionReused();
      authorized = sock.authorized;
      sock.write('hello');
    });
    sock.on('session', (s) => { saved = s; });
    sock.on('data', (d) => { reply += d; });
    sock.on('error', reject);
    sock.on('close', () => resolve({reused, authorized, reply, session: saved}));
  });
}
(async () => {
  const first = await connect(ports[0]);
  const results = [first];
  for (const port of ports.slice(1)) results.push(await connect(port, first.session));
  console.log(JSON.stringify(results.map(({session, ...r}) => r)));
})().catch((e) => { console.log(JSON.stringify({error: e.code || String(e)})); });
"""


@pytest.mark.parametrize("version", VERSIONS)
async def test_node_client_resumes_on_a_second_server_with_the_same_keys(files, version) -> None:
    keys = os.urandom(48)
    a, b, c = await servers(files, keys, keys, os.urandom(48), version=version)
    ports = [str(s.address().port) for s in (a, b, c)]
    node = await NodeProcess.start(NODE_RESUMING_CLIENT, files["ca"], version, *ports)
    results = await node.message()
    assert await node.finish() == 0
    assert [r["reused"] for r in results] == [False, True, False], results
    assert all(r["authorized"] and r["reply"] == "pong:hello" for r in results), results
    assert [resumed.pop(s) for s in (a, b, c)] == [[False], [True], [False]]
    await close(a)
    await close(b)
    await close(c)
