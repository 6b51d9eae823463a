"""nodish.tls against real peers: Node's tls both ways, openssl s_client, curl, and
certificates made by the openssl CLI with the seed chapter's commands."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.helpers import NodeProcess, next_event, until, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import net, tls

pytestmark = pytest.mark.interop
OPENSSL = shutil.which("openssl") or "openssl"
CURL = shutil.which("curl") or "curl"

NODE_CLIENT = r"""
const tls = require('tls'), fs = require('fs');
const o = JSON.parse(process.argv[1]);
const opts = {port: o.port, host: o.host, rejectUnauthorized: o.reject};
for (const k of ['ca', 'cert', 'key']) if (o[k]) opts[k] = fs.readFileSync(o[k]);
if (o.servername) opts.servername = o.servername;
const out = (m) => console.log(JSON.stringify(m));
const sock = tls.connect(opts, () => {
  const peer = sock.getPeerCertificate();
  out({event: 'secure', authorized: sock.authorized, error: sock.authorizationError || null,
       protocol: sock.getProtocol(), cn: peer.subject ? peer.subject.CN : null});
  sock.end('ping');
});
const chunks = [];
sock.on('data', (d) => chunks.push(d));
sock.on('error', (e) => out({event: 'error', code: e.code}));
sock.on('close', () => out({event: 'close', data: Buffer.concat(chunks).toString()}));
"""

NODE_SERVER = r"""
const tls = require('tls'), fs = require('fs');
const o = JSON.parse(process.argv[1]);
const opts = {key: fs.readFileSync(o.key), cert: fs.readFileSync(o.cert),
              requestCert: !!o.requestCert, rejectUnauthorized: o.reject !== false};
if (o.ca) opts.ca = fs.readFileSync(o.ca);
const out = (m) => console.log(JSON.stringify(m));
const server = tls.createServer(opts, (sock) => {
  const peer = sock.getPeerCertificate();
  out({event: 'secure', authorized: sock.authorized, error: sock.authorizationError || null,
       cn: peer && peer.subject ? peer.subject.CN : null});
  sock.on('data', (d) => sock.write('pong:' + d));
  sock.on('end', () => sock.end());
  sock.on('error', () => {});
});
server.on('tlsClientError', (e) => out({event: 'tlsClientError', code: e.code}));
server.listen(0, '127.0.0.1', () => out({event: 'listening', port: server.address().port}));
process.stdin.on('end', () => server.close()); process.stdin.resume();
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The fixture PKI as files, for node and openssl."""
    d = tmp_path_factory.mktemp("pki")
    p = pki()
    out: dict[str, str] = {}
    (d / "ca.pem").write_bytes(p.ca.cert_pem)
    out["ca"] = str(d / "ca.pem")
    for name in ("server", "client", "stranger"):
        leaf = getattr(p, name)
        leaf.write(d / f"{name}.pem", d / f"{name}-key.pem")
        out[name], out[f"{name}-key"] = str(d / f"{name}.pem"), str(d / f"{name}-key.pem")
    return out


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The seed chapter's five openssl commands: 2048-bit RSA keys, CN only, no SAN."""
    d = tmp_path_factory.mktemp("seed")

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("genrsa", "-out", "ca-key.pem", "2048")
    run(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca-key.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Seed CA",
        "-out",
        "ca-cert.pem",
    )
    run("genrsa", "-out", "server-key.pem", "2048")
    run("req", "-new", "-key", "server-key.pem", "-subj", "/CN=localhost", "-out", "server.csr")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca-cert.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "30",
        "-out",
        "server-cert.pem",
    )
    return {k: str(d / f"{k}.pem") for k in ("ca-cert", "server-cert", "server-key")}


async def node_client(port: int, host: str = "localhost", **opts: object) -> list[dict]:
    import json

    node = await NodeProcess.start(
        NODE_CLIENT, json.dumps({"port": port, "host": host, "reject": True, **opts})
    )
    msgs = await node.messages_until("close")
    await node.finish()
    return msgs


async def nodish_echo_server(*, end_after_reply: bool = False, **opts: object) -> tls.Server:
    def on_secure(sock: tls.TLSSocket) -> None:
        if end_after_reply:  # for s_client, which stays until the server closes
            sock.on("data", lambda d: sock.end(b"pong:" + d))
        else:
            sock.on("data", lambda d: sock.write(b"pong:" + d))
        sock.on("end", sock.end)

    server = tls.create_server(on_secure, **opts)
    await server.listen(0, "127.0.0.1")
    return server


async def close(server: tls.Server) -> None:
    server.close()
    await wait_event(server, "close")


def read(path: str) -> bytes:
    return Path(path).read_bytes()


# --------------------------------------------------------------------- Node as client


async def test_node_client_to_nodish_server(files) -> None:
    server = await nodish_echo_server(key=read(files["server-key"]), cert=read(files["server"]))
    msgs = await node_client(server.address().port, ca=files["ca"])
    assert msgs[0] == {
        "event": "secure",
        "authorized": True,
        "error": None,
        "protocol": "TLSv1.3",
        "cn": "localhost",
    }
    assert msgs[-1] == {"event": "close", "data": "pong:ping"}
    await close(server)


async def test_node_client_mutual_tls_accepted_and_refused(files) -> None:
    server = await nodish_echo_server(
        key=read(files["server-key"]),
        cert=read(files["server"]),
        ca=read(files["ca"]),
        request_cert=True,
    )
    port = server.address().port
    secure = next_event(server, "secureConnection")
    msgs = await node_client(port, ca=files["ca"], cert=files["client"], key=files["client-key"])
    assert msgs[-1]["data"] == "pong:ping"
    (sock,) = await wait_for(secure)
    assert sock.authorized and sock.get_peer_certificate().subject["CN"] == "alice"
    for cert in (None, "stranger"):
        client_error = next_event(server, "tlsClientError")
        extra = {"cert": files[cert], "key": files[f"{cert}-key"]} if cert else {}
        msgs = await node_client(port, ca=files["ca"], **extra)
        errors = [m for m in msgs if m["event"] == "error"]
        assert errors and errors[0]["code"].startswith("ERR_SSL_TLSV1"), msgs
        assert msgs[-1]["data"] == ""
        (err, _s) = await wait_for(client_error)
        assert err.code in (
            "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
        )
    await close(server)


# --------------------------------------------------------------------- Node as server


async def start_node_server(**opts: object) -> tuple[NodeProcess, int]:
    import json

    node = await NodeProcess.start(NODE_SERVER, json.dumps(opts))
    msg = await node.message()
    assert msg["event"] == "listening"
    return node, msg["port"]


async def stop_node(node: NodeProcess) -> None:
    assert node.proc.stdin is not None
    node.proc.stdin.close()
    await node.finish()


async def test_nodish_client_to_node_server_mutual_tls(files) -> None:
    node, port = await start_node_server(
        key=files["server-key"], cert=files["server"], ca=files["ca"], requestCert=True
    )
    p = pki()
    sock = await tls.connect(port, "localhost", **p.client_options(p.client))
    assert sock.authorized and sock.get_protocol() == "TLSv1.3"
    chunks: list[bytes] = []
    sock.on("data", chunks.append)
    sock.end(b"hi")
    await wait_event(sock, "end")
    assert b"".join(chunks) == b"pong:hi"
    assert await node.message() == {
        "event": "secure",
        "authorized": True,
        "error": None,
        "cn": "alice",
    }
    # refused: a certificate from another CA (Node's server destroys the socket after
    # the TLS 1.3 handshake, as Node's client also sees it), then none at all (an alert)
    for leaf, error_code in (
        (p.stranger, None),
        (None, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"),
    ):
        sock = tls.connect(port, "localhost", **p.client_options(leaf))
        errors: list[BaseException] = []
        got: list[bytes] = []
        sock.on("error", errors.append)
        sock.on("data", got.append)
        closed = next_event(sock, "close")
        sock.on("secureConnect", lambda s=sock: s.write(b"hi"))
        await wait_for(closed)
        assert got == []
        assert [getattr(e, "code", None) for e in errors] == ([error_code] if error_code else [])
        msg = await node.message()
        assert msg["event"] == "tlsClientError", msg
    await stop_node(node)


async def test_nodish_and_node_clients_agree_on_verification(files, seed_files) -> None:
    """Same servers, same client options: the same outcome and code from both clients."""
    p = pki()
    cases = [
        # (server cert, server key, ca, host, servername)
        (
            seed_files["server-cert"],
            seed_files["server-key"],
            seed_files["ca-cert"],
            "localhost",
            None,
        ),
        (
            seed_files["server-cert"],
            seed_files["server-key"],
            seed_files["ca-cert"],
            "127.0.0.1",
            None,
        ),
        (seed_files["server-cert"], seed_files["server-key"], files["ca"], "localhost", None),
        (files["server"], files["server-key"], files["ca"], "127.0.0.1", "example.com"),
        (files["server"], files["server-key"], None, "localhost", None),
    ]
    for cert, key, ca, host, servername in cases:
        server = await nodish_echo_server(key=read(key), cert=read(cert))
        port = server.address().port
        extra = {"servername": servername} if servername else {}
        msgs = await node_client(port, host, ca=ca, **extra)
        node_code = next((m.get("code") for m in msgs if m["event"] == "error"), None)
        try:
            sock = await tls.connect(port, host, ca=read(ca) if ca else None, **extra)
        except Exception as exc:
            ours = getattr(exc, "code", repr(exc))
        else:
            ours = None
            sock.destroy()
        assert ours == node_code, (cert, host, ours, node_code)
        if node_code is None:
            assert msgs[0]["authorized"] is True
        await close(server)
    assert p is not None


# --------------------------------------------------------------------- openssl, curl


async def run(*args: str, stdin: bytes = b"") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await wait_for(proc.communicate(stdin), 20)
    return proc.returncode or 0, out.decode(errors="replace")


async def test_openssl_s_client_verifies_and_negotiates_alpn(files) -> None:
    server = await nodish_echo_server(
        key=read(files["server-key"]),
        cert=read(files["server"]),
        alpn_protocols=["h2", "http/1.1"],
        end_after_reply=True,
    )
    port = server.address().port
    rc, out = await run(
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-verify_return_error",
        "-x509_strict",
        "-CAfile",
        files["ca"],
        "-alpn",
        "http/1.1",
        "-quiet",
        stdin=b"hello\n",
    )
    assert rc == 0, out
    assert "pong:hello" in out
    rc, out = await run(
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        files["ca"],
        "-alpn",
        "http/1.1",
        stdin=b"",
    )
    assert "Verify return code: 0 (ok)" in out and "ALPN protocol: http/1.1" in out, out
    await close(server)


async def test_tls_1_1_and_plain_http_are_refused(files) -> None:
    server = await nodish_echo_server(
        key=read(files["server-key"]), cert=read(files["server"]), end_after_reply=True
    )
    port = server.address().port
    client_error = next_event(server, "tlsClientError")
    rc, out = await run(
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-tls1_1",
        "-cipher",
        "DEFAULT@SECLEVEL=0",
        stdin=b"",
    )
    assert rc != 0
    (err, _s) = await wait_for(client_error)
    assert err.code in ("ERR_SSL_UNSUPPORTED_PROTOCOL", "ERR_SSL_NO_PROTOCOLS_AVAILABLE"), err.code
    client_error = next_event(server, "tlsClientError")
    rc, out = await run(CURL, "-sS", "--max-time", "10", f"http://127.0.0.1:{port}/")
    assert rc != 0
    (err, _s) = await wait_for(client_error)
    assert err.code == "ERR_SSL_HTTP_REQUEST"
    rc, out = await run(
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        files["ca"],
        "-quiet",
        stdin=b"still\n",
    )
    assert "pong:still" in out
    await close(server)


async def test_curl_over_a_tls_server(files) -> None:
    def on_secure(sock: tls.TLSSocket) -> None:
        def on_data(data: bytes) -> None:
            if b"\r\n\r\n" in data:
                sock.end(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")

        sock.on("data", on_data)

    server = tls.create_server(on_secure, key=read(files["server-key"]), cert=read(files["server"]))
    await server.listen(0, "127.0.0.1")
    rc, out = await run(
        CURL,
        "-sS",
        "--http1.1",
        "--cacert",
        files["ca"],
        f"https://localhost:{server.address().port}/",
    )
    assert rc == 0 and out == "hello", out
    await close(server)


NODE_ORDER_CLIENT = r"""
const tls = require('tls'), fs = require('fs');
const [port, ca] = [Number(process.argv[1]), process.argv[2]];
const events = [];
const sock = tls.connect({port, host: 'localhost', ca: fs.readFileSync(ca)});
for (const n of ['lookup', 'connect', 'ready', 'secureConnect', 'secure', 'end', 'finish', 'session', 'keylog'])
  sock.on(n, () => events.push(n));
sock.on('data', (d) => events.push('data:' + d));
sock.on('close', (e) => { events.push('close:' + e); console.log(JSON.stringify(events)); });
sock.on('secureConnect', () => sock.write('hi'));
"""

ORDER_EVENTS = (
    "lookup",
    "connect",
    "ready",
    "secureConnect",
    "secure",
    "end",
    "finish",
    "session",
    "keylog",
)


def collapse_sessions(events: list[str]) -> list[str]:
    """Node emits one 'session' per TLS 1.3 ticket (OpenSSL sends two); nodish one."""
    out: list[str] = []
    for e in events:
        if not (e == "session" and out and out[-1] == "session"):
            out.append(e)
    return out


async def test_client_event_order_is_nodes(files) -> None:
    """The same server, Node's tls client and nodish's: the same events in the same order."""
    server = tls.create_server(
        lambda s: s.on("data", lambda d: s.end(b"bye")),
        key=read(files["server-key"]),
        cert=read(files["server"]),
    )
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    node = await NodeProcess.start(NODE_ORDER_CLIENT, str(port), files["ca"])
    node_events = await node.message()
    await node.finish()
    events: list[str] = []
    sock = tls.connect(port, "localhost", ca=read(files["ca"]))
    for name in ORDER_EVENTS:
        sock.on(name, lambda *a, n=name: events.append(n))
    sock.on("data", lambda d: events.append("data:" + d.decode()))
    closed = next_event(sock, "close")
    sock.on("secureConnect", lambda: sock.write(b"hi"))
    (had_error,) = await wait_for(closed)
    events.append(f"close:{str(had_error).lower()}")
    assert collapse_sessions(events) == collapse_sessions(node_events)
    await close(server)


NODE_ORDER_SERVER = r"""
const tls = require('tls'), fs = require('fs');
const [key, cert, ca] = process.argv.slice(1);
const events = [];
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert)});
server.on('connection', () => events.push('server:connection'));
server.on('secureConnection', (s) => {
  events.push('server:secureConnection');
  for (const n of ['secure', 'end', 'finish']) s.on(n, () => events.push(n));
  s.on('data', (d) => { events.push('data:' + d); s.end('bye'); });
  s.on('close', (e) => { events.push('close:' + e); console.log(JSON.stringify(events)); server.close(); });
});
server.listen(0, '127.0.0.1', () => {
  const c = tls.connect({port: server.address().port, host: 'localhost', ca: fs.readFileSync(ca)}, () => c.end('hi'));
  c.resume();
});
"""


async def test_server_event_order_is_nodes(files) -> None:
    """Node's tls server and nodish's, each with the same client script's behaviour."""
    node = await NodeProcess.start(
        NODE_ORDER_SERVER, files["server-key"], files["server"], files["ca"]
    )
    node_events = await node.message()
    await node.finish()
    events: list[str] = []
    server = tls.create_server(key=read(files["server-key"]), cert=read(files["server"]))
    server.on("connection", lambda s: events.append("server:connection"))

    def on_secure(s: tls.TLSSocket) -> None:
        events.append("server:secureConnection")
        for name in ("secure", "end", "finish"):
            s.on(name, lambda *a, n=name: events.append(n))
        s.on("data", lambda d: (events.append("data:" + d.decode()), s.end(b"bye")))
        s.on("close", lambda e: events.append(f"close:{str(e).lower()}"))

    server.on("secureConnection", on_secure)
    await server.listen(0, "127.0.0.1")
    client = tls.connect(server.address().port, "localhost", ca=read(files["ca"]))
    client.on("secureConnect", lambda: client.end(b"hi"))
    client.resume()
    await wait_event(client, "close")
    await close(server)
    assert events == node_events


NODE_HALF_OPEN_SERVER = r"""
const tls = require('tls'), fs = require('fs');
const [key, cert] = process.argv.slice(1);
const server = tls.createServer({key: fs.readFileSync(key), cert: fs.readFileSync(cert), allowHalfOpen: true}, (s) => {
  const got = [];
  s.on('data', (d) => got.push(d));
  s.on('end', () => s.end('after your end: ' + Buffer.concat(got)));
  s.on('close', () => server.close());
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: server.address().port})));
"""

NODE_HALF_OPEN_CLIENT = r"""
const tls = require('tls'), fs = require('fs');
const [port, ca] = [Number(process.argv[1]), process.argv[2]];
const got = [];
const s = tls.connect({port, host: 'localhost', ca: fs.readFileSync(ca), allowHalfOpen: true}, () => s.end('question'));
s.on('data', (d) => got.push(d));
s.on('end', () => console.log(JSON.stringify({data: Buffer.concat(got).toString()})));
"""


async def test_half_close_over_tls_with_node_both_ways(files) -> None:
    # nodish client, Node server: our close_notify + FIN leaves Node's side writable
    node = await NodeProcess.start(NODE_HALF_OPEN_SERVER, files["server-key"], files["server"])
    port = (await node.message())["port"]
    sock = await tls.connect(port, "localhost", ca=read(files["ca"]), allow_half_open=True)
    got: list[bytes] = []
    sock.on("data", got.append)
    ended = next_event(sock, "end")
    sock.end(b"question")
    await wait_for(ended)
    assert b"".join(got) == b"after your end: question"
    await node.finish()

    # Node client, nodish server
    def on_secure(s: tls.TLSSocket) -> None:
        chunks: list[bytes] = []
        s.on("data", chunks.append)
        s.on("end", lambda: s.end(b"after your end: " + b"".join(chunks)))

    server = tls.create_server(
        on_secure, allow_half_open=True, key=read(files["server-key"]), cert=read(files["server"])
    )
    await server.listen(0, "127.0.0.1")
    node = await NodeProcess.start(NODE_HALF_OPEN_CLIENT, str(server.address().port), files["ca"])
    assert await node.message() == {"data": "after your end: question"}
    await node.finish()
    await close(server)


def closing_order(port: int, ca: str, request: bytes) -> list[str]:
    """An OpenSSL client (Python's ssl): sends ``request``, then logs how the connection
    ends: the data, then 'close_notify' (a clean TLS close) or 'eof' (a FIN without
    one), then 'fin' once the bare socket reads its end."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
        with s:
            s.sendall(request)
            data = b""
            try:
                while chunk := s.recv(4096):  # b"": the close_notify came
                    data += chunk
                end = "close_notify"
            except ssl.SSLEOFError:
                end = "eof"
            fin = "fin" if end == "close_notify" and s.unwrap().recv(1) == b"" else "?"
    return [data.decode(errors="replace"), end, fin]


async def test_end_sends_close_notify_before_the_fin(files) -> None:
    # tls end(data), and https's last response (Connection: close): the data, then the
    # close_notify, then the FIN, in that order at an OpenSSL peer.
    from nodish import https

    loop = asyncio.get_running_loop()
    opts = {"key": read(files["server-key"]), "cert": read(files["server"])}
    server = await nodish_echo_server(end_after_reply=True, **opts)
    port = server.address().port
    log = await wait_for(loop.run_in_executor(None, closing_order, port, files["ca"], b"x"))
    assert log == ["pong:x", "close_notify", "fin"]
    await close(server)

    web = https.create_server(lambda req, res: res.end("bye"), **opts)
    await web.listen(0, "127.0.0.1")
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    port = web.address().port
    log = await wait_for(loop.run_in_executor(None, closing_order, port, files["ca"], request))
    assert log[0].startswith("HTTP/1.1 200 OK") and log[0].endswith("bye"), log
    assert log[1:] == ["close_notify", "fin"]
    web.close()
    await wait_event(web, "close")


async def test_starttls_with_openssl_s_client_smtp(files) -> None:
    """A tiny SMTP server upgrades its live socket when openssl's client asks."""
    ctx = tls.create_secure_context(key=read(files["server-key"]), cert=read(files["server"]))
    secured: list[tls.TLSSocket] = []

    def on_connection(plain) -> None:
        buf = [b""]

        def on_data(data: bytes) -> None:
            buf[0] += data
            while b"\r\n" in buf[0]:
                line, _, buf[0] = buf[0].partition(b"\r\n")
                verb = line.split(b" ")[0].upper()
                if verb in (b"EHLO", b"HELO"):
                    plain.write(b"250-nodish\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    plain.remove_listener("data", on_data)
                    plain.write(b"220 Go ahead\r\n")
                    secure = tls.TLSSocket(plain, secure_context=ctx, is_server=True)
                    secured.append(secure)
                    secure.on("data", lambda d, s=secure: s.end(b"250 secret " + d))
                    return

        plain.on("data", on_data)
        plain.write(b"220 nodish ESMTP\r\n")

    server = net.create_server(on_connection)
    await server.listen(0, "127.0.0.1")
    _rc, out = await run(
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{server.address().port}",
        "-starttls",
        "smtp",
        "-CAfile",
        files["ca"],
        "-verify_return_error",
        "-quiet",
        stdin=b"NOOP\n",
    )
    assert "250 secret NOOP" in out, out
    assert len(secured) == 1 and secured[0].get_protocol() == "TLSv1.3"
    server.close()
    await wait_event(server, "close")


async def test_sni_chooses_the_certificate_for_openssl(files) -> None:
    p = pki()
    server = await nodish_echo_server(key=read(files["server-key"]), cert=read(files["server"]))
    server.add_context("*.b.test", p.server_options(p.server_b))
    port = server.address().port
    for name, subject in (("www.b.test", "CN = b.test"), ("localhost", "CN = localhost")):
        _rc, out = await run(
            OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            name,
            "-CAfile",
            files["ca"],
            "-verify_hostname",
            name,
            "-verify_return_error",
            stdin=b"",
        )
        assert f"subject={subject}" in out.replace("subject=/", "subject="), out
        assert "Verify return code: 0 (ok)" in out, out
    await close(server)


class _SClient:
    """An interactive ``openssl s_client``: lines in, and waits for what it prints
    (its command letters work: ``K``/``k`` key updates, ``R`` renegotiation)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc, self.out = proc, b""

    @classmethod
    async def start(cls, port: int, *args: str) -> _SClient:
        proc = await asyncio.create_subprocess_exec(
            OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            *args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        client = cls(proc)
        await client.expect(b"Verify return code")
        return client

    async def expect(self, token: bytes, before: int = 0) -> None:
        """Read until ``token`` has been printed more than ``before`` times."""
        assert self.proc.stdout is not None

        async def read() -> None:
            while self.out.count(token) <= before:
                chunk = await self.proc.stdout.read(4096)  # type: ignore[union-attr]
                assert chunk, self.out.decode(errors="replace")
                self.out += chunk

        await wait_for(read())

    async def say(self, line: bytes, answer: bytes) -> None:
        before = self.out.count(answer)
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        await self.expect(answer, before)

    async def finish(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await wait_for(self.proc.wait())


async def test_key_updates_both_ways_and_renegotiation_refused_with_openssl(files) -> None:
    """TLS 1.3 KeyUpdate from openssl (asking for ours, and not) keeps the data flowing;
    a TLS 1.2 renegotiation is refused (Node allows three in ten minutes; nodish none,
    as a denial-of-service guard): that connection fails, the server serves on."""
    errors: list[str] = []

    def on_secure(sock: tls.TLSSocket) -> None:
        sock.on("data", lambda d: sock.write(b"pong:" + d))
        sock.on("end", sock.end)
        sock.on("error", lambda e: errors.append(e.code))

    server = tls.create_server(on_secure, key=read(files["server-key"]), cert=read(files["server"]))
    await server.listen(0, "127.0.0.1")
    port = server.address().port

    client = await _SClient.start(port, "-tls1_3", "-CAfile", files["ca"])
    await client.say(b"hello", b"pong:hello")
    await client.say(b"K", b"KEYUPDATE")  # update yours too
    await client.say(b"world", b"pong:world")
    await client.say(b"k", b"KEYUPDATE")  # ours only
    await client.say(b"again", b"pong:again")
    await client.finish()
    assert errors == []

    client = await _SClient.start(port, "-tls1_2", "-CAfile", files["ca"])
    await client.say(b"hello", b"pong:hello")
    await client.say(b"R", b"no renegotiation")  # our refusal, as openssl reports it
    await wait_for(client.proc.wait())
    await until(lambda: errors)
    assert errors[0].startswith("ERR_SSL_"), errors

    client = await _SClient.start(port, "-tls1_2", "-CAfile", files["ca"])
    await client.say(b"still", b"pong:still")
    await client.finish()
    await close(server)
