"""An ``sni_callback`` that answers later (a coroutine function, or Node's
``(servername, callback)``) choosing between two certificates for Node's tls client,
openssl s_client and curl; its failures refuse that handshake alone."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from typing import Any

import pytest
from OpenSSL import SSL
from tests.helpers import NodeProcess, next_event, until, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import https, tls

pytestmark = pytest.mark.interop
OPENSSL = shutil.which("openssl") or "openssl"
CURL = shutil.which("curl") or "curl"
DELAY = 0.05

NODE_CLIENT = r"""
const tls = require('tls');
const [port, servername, ca] = process.argv.slice(1);
const sock = tls.connect({port: Number(port), host: '127.0.0.1', servername, ca});
const out = (m) => console.log(JSON.stringify(m));
sock.on('secureConnect', () => {
  out({event: 'secure', authorized: sock.authorized, cn: sock.getPeerCertificate().subject.CN});
  sock.write('ping');
});
const chunks = [];
sock.on('data', (d) => chunks.push(d));
sock.on('error', (e) => out({event: 'error', code: e.code}));
sock.on('close', () => out({event: 'close', data: Buffer.concat(chunks).toString()}));
"""


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sni") / "ca.pem"
    path.write_bytes(pki().ca.cert_pem)
    return str(path)


async def run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await wait_for(proc.communicate(), 20)
    return proc.returncode or 0, out.decode(errors="replace")


def b_context() -> tls.SecureContext:
    p = pki()
    return tls.create_secure_context(p.server_options(p.server_b))


def delayed_sni(style: str, asked: list[str]) -> Any:
    """Serves b.test's certificate to *.b.test after a delay, the default otherwise."""

    def choose(name: str) -> tls.SecureContext | None:
        asked.append(name)
        return b_context() if name.endswith("b.test") else None

    if style == "coroutine":

        async def sni(servername: str) -> tls.SecureContext | None:
            await asyncio.sleep(DELAY)
            return choose(servername)

        return sni

    def sni_cb(servername: str, callback: Any) -> None:
        asyncio.get_running_loop().call_later(DELAY, callback, None, choose(servername))

    return sni_cb


async def serve(**opts: Any) -> tls.Server:
    """Answers an HTTP request with 'hello', any other data with 'pong:' + data."""

    def on_secure(sock: tls.TLSSocket) -> None:
        def on_data(data: bytes) -> None:
            if data.startswith(b"GET "):
                sock.end(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            else:
                sock.end(b"pong:" + data)

        sock.on("data", on_data)
        sock.on("error", lambda err: None)  # a client that resets: nothing to report

    server = tls.create_server(on_secure, **{**pki().server_options(), **opts})
    await server.listen(0, "127.0.0.1")
    return server


async def close(server: tls.Server) -> None:
    server.close()
    await wait_event(server, "close")


async def node_cn(port: int, servername: str) -> list[dict[str, Any]]:
    node = await NodeProcess.start(NODE_CLIENT, str(port), servername, pki().ca.cert_pem.decode())
    msgs = await node.messages_until("close")
    await node.finish()
    return msgs


async def s_client(port: int, *args: str) -> str:
    _rc, out = await run(OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args)
    return out.replace("subject=/", "subject=")


@pytest.mark.parametrize("style", ["coroutine", "callback"])
async def test_an_async_sni_callback_chooses_the_certificate(ca_file, style) -> None:
    asked: list[str] = []
    server = await serve(sni_callback=delayed_sni(style, asked))
    port = server.address().port
    ca = ca_file

    msgs = await node_cn(port, "www.b.test")
    assert msgs[0] == {"event": "secure", "authorized": True, "cn": "b.test"}, msgs
    assert msgs[-1]["data"] == "pong:ping", msgs
    msgs = await node_cn(port, "localhost")
    assert msgs[0]["cn"] == "localhost" and msgs[0]["authorized"], msgs

    out = await s_client(
        port,
        "-servername",
        "x.b.test",
        "-CAfile",
        ca,
        "-verify_hostname",
        "x.b.test",
        "-verify_return_error",
    )
    assert "subject=CN = b.test" in out and "Verify return code: 0 (ok)" in out, out
    out = await s_client(port, "-noservername", "-CAfile", ca, "-verify_return_error")
    assert "subject=CN = localhost" in out, out  # no SNI: the default, no callback call

    rc, out = await run(
        CURL,
        "-sS",
        "--http1.1",
        "--cacert",
        ca,
        "--resolve",
        f"www.b.test:{port}:127.0.0.1",
        f"https://www.b.test:{port}/",
    )
    assert rc == 0 and out == "hello", out
    assert asked == ["www.b.test", "localhost", "x.b.test", "www.b.test"]
    await close(server)


async def refused_then_served(server: tls.Server, servername: str) -> BaseException:
    client_error = next_event(server, "tlsClientError")
    with pytest.raises(tls.TLSError):
        await tls.connect(
            server.address().port, "127.0.0.1", servername=servername, ca=pki().ca.cert_pem
        )
    (err, _sock) = await wait_for(client_error)
    good = await tls.connect(
        server.address().port, "127.0.0.1", servername="localhost", ca=pki().ca.cert_pem
    )
    assert good.authorized
    good.destroy()
    return err


async def test_async_sni_failures_refuse_that_handshake_alone() -> None:
    async def sni(name: str) -> Any:
        await asyncio.sleep(0)
        if name == "raises.test":
            raise LookupError("no certificate for raises.test")
        if name == "garbage.test":
            return 5
        if name == "bad-options.test":
            return {"key": b"junk", "cert": b"junk"}
        return None

    server = await serve(sni_callback=sni)
    err = await refused_then_served(server, "raises.test")
    assert isinstance(err, LookupError) and "raises.test" in str(err)
    err = await refused_then_served(server, "garbage.test")
    assert err.code == "ERR_TLS_INVALID_CONTEXT"  # type: ignore[attr-defined]
    err = await refused_then_served(server, "bad-options.test")
    assert err.code == "ERR_OSSL_UNSUPPORTED"  # type: ignore[attr-defined]
    await close(server)

    def sni_cb(name: str, callback: Any) -> None:
        if name == "now.test":
            raise ValueError("raised at once")
        if name == "not-an-error.test":
            callback("a string error")
        elif name == "twice.b.test":
            callback(None, b_context())
            callback(OSError("second answer, ignored"))
        elif name == "later.test":
            asyncio.get_running_loop().call_soon(callback, OSError("later"))
        else:
            callback(None, None)

    server = await serve(sni_callback=sni_cb)
    err = await refused_then_served(server, "now.test")
    assert isinstance(err, ValueError)
    err = await refused_then_served(server, "later.test")
    assert isinstance(err, OSError) and str(err) == "later"
    err = await refused_then_served(server, "not-an-error.test")
    assert str(err) == "a string error"
    # Node: a second call fails that socket with ERR_MULTIPLE_CALLBACK (the client may
    # have seen the server's Finished already, as with Node)
    client_error = next_event(server, "tlsClientError")
    try:
        sock = await tls.connect(
            server.address().port, "127.0.0.1", servername="twice.b.test", ca=pki().ca.cert_pem
        )
        sock.destroy()
    except (tls.TLSError, OSError):
        pass  # refused, or reset
    (err, _sock) = await wait_for(client_error)
    assert err.code == "ERR_MULTIPLE_CALLBACK"
    await close(server)


def client_hello(servername: bytes) -> bytes:
    conn = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
    conn.set_tlsext_host_name(servername)
    conn.set_connect_state()
    with pytest.raises(SSL.WantReadError):
        conn.do_handshake()
    return conn.bio_read(65536)


async def test_a_client_gone_or_too_slow_while_the_callback_waits() -> None:
    """The pending coroutine is cancelled and the socket freed when its client leaves
    or handshake_timeout passes; garbage is refused by OpenSSL as without a callback."""
    started: list[str] = []
    cancelled: list[str] = []
    release = asyncio.Event()

    async def sni(name: str) -> Any:
        started.append(name)
        if name == "localhost":
            return None
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return None

    server = await serve(sni_callback=sni, handshake_timeout=1.0)
    port = server.address().port
    errors: list[BaseException] = []
    server.on("tlsClientError", lambda err, sock: errors.append(err))

    # a hello sent byte by byte, then the client vanishes while the callback waits
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    hello = client_hello(b"vanish.test")
    for i in range(len(hello)):
        w.write(hello[i : i + 1])
        await w.drain()
    await until(lambda: started == ["vanish.test"])
    w.transport.abort()
    await until(lambda: cancelled == ["vanish.test"] and len(errors) == 1)
    assert errors[0].code == "ECONNRESET"  # type: ignore[attr-defined]
    await until(lambda: server._connections == 0)

    # a hello whose callback never answers: handshake_timeout still applies
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(client_hello(b"slow.test"))
    await until(lambda: len(errors) == 2, timeout=10)
    assert errors[1].code == "ERR_TLS_HANDSHAKE_TIMEOUT"  # type: ignore[attr-defined]
    await until(lambda: cancelled == ["vanish.test", "slow.test"])
    w.close()

    # a client that floods while the callback waits: refused once 128 KiB are held
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(client_hello(b"flood.test"))
    await until(lambda: started[-1] == "flood.test")
    w.write(b"\x17\x03\x03\x40\x00" + bytes(16384) * 9)
    await until(lambda: len(errors) == 3)
    assert errors[2].code == "ERR_SSL_EXCESSIVE_MESSAGE_SIZE"  # type: ignore[attr-defined]
    await until(lambda: cancelled[-1] == "flood.test")
    w.transport.abort()

    # plain HTTP: OpenSSL's own refusal, as a server without a callback gives
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await until(lambda: len(errors) == 4)
    assert errors[3].code == "ERR_SSL_HTTP_REQUEST"  # type: ignore[attr-defined]
    w.close()

    good = await tls.connect(port, "127.0.0.1", servername="localhost", ca=pki().ca.cert_pem)
    assert good.authorized
    good.destroy()
    release.set()
    await close(server)


async def test_tls_1_2_a_hello_retry_and_an_answer_from_another_thread(ca_file) -> None:
    """TLS 1.2's hello, and TLS 1.3's second ClientHello after a HelloRetryRequest
    (read by OpenSSL alone), with a callback answered from a worker thread."""
    asked: list[str] = []

    def sni(servername: str, callback: Any) -> None:
        asked.append(servername)
        threading.Timer(DELAY, callback, (None, b_context())).start()

    server = await serve(sni_callback=sni)
    port = server.address().port
    for extra in (["-tls1_2"], ["-groups", "ffdhe2048:X25519", "-msg"]):
        out = await s_client(
            port, "-servername", "x.b.test", "-CAfile", ca_file, "-verify_return_error", *extra
        )
        assert "subject=CN = b.test" in out and "Verify return code: 0 (ok)" in out, out
        if "-msg" in extra:
            assert out.count("ClientHello") == 2, out  # the retry happened
    assert asked == ["x.b.test", "x.b.test"]
    await close(server)


NODE_HTTPS_GET = r"""
const https = require('https');
const [port, servername, ca] = process.argv.slice(1);
https.get({host: '127.0.0.1', port: Number(port), servername, ca, path: '/', agent: false}, (res) => {
  let body = '';
  res.on('data', (d) => body += d);
  res.on('end', () => console.log(JSON.stringify(
    {event: 'end', status: res.statusCode, body, cn: res.socket.getPeerCertificate().subject.CN})));
}).on('error', (e) => console.log(JSON.stringify({event: 'end', code: e.code})));
"""


async def test_https_loads_each_names_certificate_from_disk(tmp_path) -> None:
    """The use the asynchronous form is for: an https server reading a certificate
    from disk (in a worker thread) when a name is first asked for; Node's https.get."""
    p = pki()
    p.server_b.write(tmp_path / "b.test.pem", tmp_path / "b.test-key.pem")
    loaded: list[str] = []

    async def sni(servername: str) -> dict[str, bytes] | None:
        base = servername.partition(".")[2] if servername.count(".") > 1 else servername
        cert = tmp_path / f"{base}.pem"
        if not cert.exists():
            return None
        loaded.append(servername)
        key = tmp_path / f"{base}-key.pem"
        return {
            "cert": await asyncio.to_thread(cert.read_bytes),
            "key": await asyncio.to_thread(key.read_bytes),
        }

    server = https.create_server(
        lambda req, res: res.end(f"hello {req.headers['host']}"),
        sni_callback=sni,
        **p.server_options(),
    )
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    ca = p.ca.cert_pem.decode()
    for name, cn in (("www.b.test", "b.test"), ("localhost", "localhost")):
        node = await NodeProcess.start(NODE_HTTPS_GET, str(port), name, ca)
        (msg,) = await node.messages_until("end")
        await node.finish()
        assert msg == {
            "event": "end",
            "status": 200,
            "body": f"hello 127.0.0.1:{port}",
            "cn": cn,
        }, msg
    assert loaded == ["www.b.test"]
    server.close()
    await wait_event(server, "close")


CTRL_C_SERVER = r"""
import asyncio
import nodish
from nodish import tls
from tests.tls_fixtures import pki

async def sni(name):
    print("asked", name, flush=True)
    await asyncio.Event().wait()  # never answers

def main():
    server = tls.create_server(lambda s: None, sni_callback=sni, **pki().server_options())
    server.listen(0, "127.0.0.1", callback=lambda: print(server.address().port, flush=True))

nodish.run(main)
"""


async def test_ctrl_c_while_the_callback_waits_exits_at_once() -> None:
    import signal
    import sys
    from pathlib import Path

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CTRL_C_SERVER,
        cwd=str(Path(__file__).parents[2]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    port = int(await wait_for(proc.stdout.readline(), 30))
    _r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(client_hello(b"pending.test"))
    await w.drain()
    assert await wait_for(proc.stdout.readline()) == b"asked pending.test\n"
    # the loop is free meanwhile: a second client's hello is read and asked for too
    _r2, w2 = await asyncio.open_connection("127.0.0.1", port)
    w2.write(client_hello(b"pending2.test"))
    assert await wait_for(proc.stdout.readline()) == b"asked pending2.test\n"
    proc.send_signal(signal.SIGINT)
    _out, err = await wait_for(proc.communicate(), 20)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err, err
    w.close()
    w2.close()
