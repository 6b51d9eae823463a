"""nodish.https servers against real clients: curl (keep-alive, mutual TLS), Node's
https (mutual TLS accepted and refused), raw TLS with bad HTTP, plain HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from tests.helpers import NodeProcess, next_event, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import https, tls
from nodish.stream import consumers

pytestmark = pytest.mark.interop

NODE_HTTPS_CLIENT = r"""
const https = require('https'), fs = require('fs');
const o = JSON.parse(process.argv[1]);
const agent = new https.Agent({keepAlive: true, maxSockets: 1});
const opts = {port: o.port, host: 'localhost', agent, ca: fs.readFileSync(o.ca)};
if (o.cert) { opts.cert = fs.readFileSync(o.cert); opts.key = fs.readFileSync(o.key); }
const results = [];
function one(i) {
  if (i === o.count) { console.log(JSON.stringify({results})); agent.destroy(); return; }
  https.get({...opts, path: '/n/' + i}, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => body += d);
    res.on('end', () => { results.push({status: res.statusCode, body, reused: res.req.reusedSocket}); setImmediate(one, i + 1); });
  }).on('error', (e) => { console.log(JSON.stringify({results, error: e.code})); });
}
one(0);
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("https-pki")
    p = pki()
    (d / "ca.pem").write_bytes(p.ca.cert_pem)
    out = {"ca": str(d / "ca.pem")}
    for name in ("client", "stranger"):
        getattr(p, name).write(d / f"{name}.pem", d / f"{name}-key.pem")
        out[name], out[f"{name}-key"] = str(d / f"{name}.pem"), str(d / f"{name}-key.pem")
    return out


def handler(req, res) -> None:
    sock = req.socket
    who = "anonymous"
    if sock.authorized:
        who = sock.get_peer_certificate().subject["CN"]
    res.write_head(200, {"Content-Type": "text/plain"})
    res.end(f"{req.method} {req.url} for {who} over {sock.get_protocol()}\n")


async def server_with(**opts: object) -> https.Server:
    server = https.create_server(handler, **{**pki().server_options(), **opts})
    await server.listen(0, "127.0.0.1")
    return server


async def close(server: https.Server) -> None:
    server.close()
    await wait_event(server, "close")


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await wait_for(proc.communicate(), 20)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_curl_keep_alive_and_alpn(files) -> None:
    server = await server_with()
    port = server.address().port
    connections = []
    server.on("secureConnection", connections.append)
    urls = [f"https://localhost:{port}/{i}" for i in range(3)]
    rc, out, err = await run("curl", "-sS", "-v", "--cacert", files["ca"], *urls)
    assert rc == 0, err
    assert out.splitlines() == [f"GET /{i} for anonymous over TLSv1.3" for i in range(3)]
    assert "ALPN: server accepted http/1.1" in err
    assert err.count("Re-using existing connection") == 2
    assert len(connections) == 1
    await close(server)


async def test_curl_mutual_tls(files) -> None:
    server = await server_with(request_cert=True, ca=pki().ca.cert_pem)
    url = f"https://localhost:{server.address().port}/me"
    rc, out, err = await run(
        "curl",
        "-sS",
        "--cacert",
        files["ca"],
        "--cert",
        files["client"],
        "--key",
        files["client-key"],
        url,
    )
    assert rc == 0, err
    assert out == "GET /me for alice over TLSv1.3\n"
    client_error = next_event(server, "tlsClientError")
    rc, out, err = await run("curl", "-sS", "--cacert", files["ca"], url)
    assert rc != 0 and out == ""
    (e, _s) = await wait_for(client_error)
    assert e.code == "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
    await close(server)


async def node_client(
    port: int, files: dict[str, str], count: int, cert: str | None = None
) -> dict:
    opts = {"port": port, "ca": files["ca"], "count": count}
    if cert:
        opts.update(cert=files[cert], key=files[f"{cert}-key"])
    node = await NodeProcess.start(NODE_HTTPS_CLIENT, json.dumps(opts))
    msg = await node.message()
    await node.finish()
    return msg


async def test_node_https_client_keep_alive_and_mutual_tls(files) -> None:
    server = await server_with(request_cert=True, ca=pki().ca.cert_pem)
    port = server.address().port
    msg = await node_client(port, files, 3, "client")
    assert [r["body"] for r in msg["results"]] == [
        f"GET /n/{i} for alice over TLSv1.3\n" for i in range(3)
    ]
    assert [r["reused"] for r in msg["results"]] == [False, True, True]
    msg = await node_client(port, files, 1, "stranger")
    assert msg["results"] == [], msg
    assert msg["error"] == "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", msg
    msg = await node_client(port, files, 1)
    assert msg["results"] == [], msg
    assert msg["error"] == "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", msg
    await close(server)


async def test_bad_http_inside_tls_gets_400_and_server_keeps_serving(files) -> None:
    server = await server_with()
    port = server.address().port
    p = pki()
    sock = await tls.connect(port, "localhost", ca=p.ca.cert_pem)
    got: list[bytes] = []
    sock.on("data", got.append)
    closed = next_event(sock, "close")
    sock.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
    await wait_for(closed)
    assert b"".join(got).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    # plain HTTP on the TLS port: a TLS client error, and the server goes on
    client_error = next_event(server, "tlsClientError")
    rc, out, err = await run("curl", "-sS", f"http://127.0.0.1:{port}/")
    assert rc != 0
    (e, _s) = await wait_for(client_error)
    assert e.code == "ERR_SSL_HTTP_REQUEST"
    rc, out, err = await run("curl", "-sS", "--cacert", files["ca"], f"https://localhost:{port}/ok")
    assert rc == 0 and out == "GET /ok for anonymous over TLSv1.3\n", err
    await close(server)


NODE_HTTPS_SERVER = r"""
const https = require('https'), fs = require('fs');
const o = JSON.parse(process.argv[1]);
const server = https.createServer({
  key: fs.readFileSync(o.key), cert: fs.readFileSync(o.cert), ca: fs.readFileSync(o.ca),
  requestCert: true, rejectUnauthorized: false,
}, (req, res) => {
  const s = req.socket, peer = s.getPeerCertificate();
  const who = s.authorized ? (peer.subject ? peer.subject.CN : 'resumed') : 'anonymous:' + s.authorizationError;
  res.end(`${req.method} ${req.url} ${who} ${s.isSessionReused()}`);
});
let connections = 0;
server.on('secureConnection', () => connections++);
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: server.address().port})));
process.stdin.on('data', () => console.log(JSON.stringify({connections})));
process.stdin.on('end', () => server.close());
"""


async def test_nodish_https_client_to_node_server(files, tmp_path) -> None:
    p = pki()
    p.server.write(tmp_path / "s.pem", tmp_path / "s-key.pem")
    node = await NodeProcess.start(
        NODE_HTTPS_SERVER,
        json.dumps(
            {"key": str(tmp_path / "s-key.pem"), "cert": str(tmp_path / "s.pem"), "ca": files["ca"]}
        ),
    )
    port = (await node.message())["port"]
    agent = https.Agent(ca=p.ca.cert_pem, max_sockets=1)
    bodies = []
    for i in range(3):
        res = await https.get(
            f"https://localhost:{port}/{i}",
            agent=agent,
            cert=p.client.chain_pem,
            key=p.client.key_pem(),
        )
        assert res.status_code == 200
        bodies.append(await consumers.text(res))
    assert bodies == [f"GET /{i} alice false" for i in range(3)]
    # a certificate from another CA: accepted by this server, and reported
    res = await https.get(
        f"https://localhost:{port}/x",
        agent=agent,
        cert=p.stranger.chain_pem,
        key=p.stranger.key_pem(),
    )
    assert await consumers.text(res) == "GET /x anonymous:UNABLE_TO_VERIFY_LEAF_SIGNATURE false"
    # a new connection resumes the session the agent cached
    fresh = https.Agent(keep_alive=False, ca=p.ca.cert_pem)
    texts = [
        await consumers.text(await https.get(f"https://localhost:{port}/r", agent=fresh))
        for _ in range(2)
    ]
    assert texts[0] == "GET /r anonymous:UNABLE_TO_GET_ISSUER_CERT false"
    assert texts[1].endswith(" true"), texts  # Node resumed the session
    await node.send({})
    assert (await node.message())["connections"] == 4
    agent.destroy()
    assert node.proc.stdin is not None
    node.proc.stdin.close()
    await node.finish()
