"""nodish.https client and server against each other: keep-alive through the Agent,
session resumption, Node's verification codes, mutual TLS, certificate reload."""

from __future__ import annotations

import asyncio

import pytest
from tests.helpers import next_event, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import errors, https
from nodish.stream import consumers


def handler(req, res) -> None:
    body: list[bytes] = []
    req.on("data", body.append)

    def done() -> None:
        sock = req.socket
        who = sock.get_peer_certificate().subject["CN"] if sock.authorized else "anonymous"
        res.set_header("Content-Type", "text/plain")
        res.end(f"{req.method} {req.url} {who} {len(b''.join(body))}")

    req.on("end", done)


async def start(**opts):
    server = https.create_server(handler, **{**pki().server_options(), **opts})
    await server.listen(0, "127.0.0.1")
    return server


async def stop(server, *agents) -> None:
    for agent in agents:
        agent.destroy()
    server.close()
    await wait_event(server, "close")


async def test_keep_alive_through_the_agent() -> None:
    server = await start()
    port = server.address().port
    connections = []
    server.on("secureConnection", connections.append)
    agent = https.Agent(ca=pki().ca.cert_pem, max_sockets=1)
    for i in range(4):
        res = await https.get(f"https://localhost:{port}/{i}", agent=agent)
        assert res.status_code == 200
        assert await consumers.text(res) == f"GET /{i} anonymous 0"
        assert res.socket.encrypted and res.socket.get_protocol() == "TLSv1.3"
    assert len(connections) == 1
    req = https.request(f"https://localhost:{port}/upload", method="POST", agent=agent)
    req.write(b"x" * 100_000)
    res = await req
    assert await consumers.text(res) == "POST /upload anonymous 100000"
    assert req.reused_socket
    await stop(server, agent)


async def test_new_connections_resume_the_cached_session() -> None:
    server = await start()
    port = server.address().port
    reused = []
    server.on("secureConnection", lambda s: reused.append(s.is_session_reused()))
    agent = https.Agent(keep_alive=False, ca=pki().ca.cert_pem)
    for _ in range(3):
        res = await https.get(f"https://localhost:{port}/", agent=agent)
        await consumers.text(res)
    assert reused == [False, True, True]
    await stop(server, agent)


@pytest.mark.parametrize(
    ("url_host", "opts", "code"),
    [
        ("localhost", {}, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        ("127.0.0.1", {"servername": "example.com", "ca": "ca"}, "ERR_TLS_CERT_ALTNAME_INVALID"),
    ],
)
async def test_untrusted_server_fails_the_request(url_host, opts, code) -> None:
    server = await start()
    if opts.get("ca") == "ca":
        opts = {**opts, "ca": pki().ca.cert_pem}
    url = f"https://{url_host}:{server.address().port}/"
    req = https.get(url, agent=False, **opts)
    err_fut, close_fut = next_event(req, "error"), next_event(req, "close")
    (err,) = await wait_for(err_fut)
    assert err.code == code
    await wait_for(close_fut)
    res = await https.get(url, agent=False, reject_unauthorized=False, **opts)
    assert res.status_code == 200 and res.socket.authorization_error == code
    await consumers.text(res)
    await stop(server)


async def test_mutual_tls_and_pool_keys() -> None:
    p = pki()
    server = await start(request_cert=True, ca=p.ca.cert_pem)
    url = f"https://localhost:{server.address().port}/me"
    agent = https.Agent(ca=p.ca.cert_pem)
    res = await https.get(url, agent=agent, cert=p.client.chain_pem, key=p.client.key_pem())
    assert await consumers.text(res) == "GET /me alice 0"
    # no client certificate: another pool key, another connection, refused
    with pytest.raises(Exception) as info:
        await https.get(url, agent=agent)
    assert info.value.code.startswith("ERR_SSL_")
    assert len(agent.free_sockets) == 1
    await stop(server, agent)


async def test_wrong_protocol_and_bad_options() -> None:
    with pytest.raises(errors.codes.ERR_INVALID_PROTOCOL):
        https.get("http://localhost:1/")
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        https.get("https://localhost:1/", check_server_identity=42, agent=False)


async def test_set_secure_context_keeps_keep_alive_connections() -> None:
    p = pki()
    server = await start()
    port = server.address().port
    agent = https.Agent(ca=p.ca.cert_pem, max_sockets=1)
    res = await https.get(f"https://localhost:{port}/a", agent=agent)
    await consumers.text(res)
    old_socket = res.socket
    server.set_secure_context(p.server_options(p.server_b))
    res = await https.get(f"https://localhost:{port}/b", agent=agent)
    assert await consumers.text(res) == "GET /b anonymous 0"
    assert res.socket is old_socket  # the open connection carried on with the old cert
    res = await https.get(
        f"https://127.0.0.1:{port}/c", agent=False, ca=p.ca.cert_pem, servername="b.test"
    )
    assert res.socket.get_peer_certificate().subject["CN"] == "b.test"
    await consumers.text(res)
    await stop(server, agent)


async def test_set_encoding_in_the_response_callback() -> None:
    """The seed's client calls res.setEncoding('utf-8') first thing in its callback."""
    server = await start()
    got: list[object] = []
    done = asyncio.get_running_loop().create_future()

    def on_response(res) -> None:
        res.set_encoding("utf-8")
        res.on("data", got.append)
        res.on("end", lambda: done.set_result(None))

    req = https.request(
        f"https://localhost:{server.address().port}/x",
        callback=on_response,
        agent=False,
        ca=pki().ca.cert_pem,
    )
    req.end()
    await wait_for(done)
    assert got == ["GET /x anonymous 0"]
    await stop(server)


async def test_https_over_a_unix_socket_and_ipv6(tmp_path) -> None:
    server = https.create_server(handler, **pki().server_options())
    path = str(tmp_path / "https.sock")
    await server.listen(path=path)
    res = await https.get(
        "https://localhost/unix", socket_path=path, agent=False, ca=pki().ca.cert_pem
    )
    assert await consumers.text(res) == "GET /unix anonymous 0"
    await stop(server)
    server = https.create_server(handler, **pki().server_options())
    await server.listen(0, "::1")
    url = f"https://[::1]:{server.address().port}/six"
    res = await https.get(url, agent=False, ca=pki().ca.cert_pem, family=6)
    assert res.socket.authorized  # the IP SAN 0:0:0:0:0:0:0:1 matches ::1
    assert await consumers.text(res) == "GET /six anonymous 0"
    await stop(server)


async def test_a_slow_reader_of_a_big_response_holds_the_tls_socket() -> None:
    # The client feeds its parser straight from the TLS socket and pauses that socket
    # when the response's buffer passes the mark, as on a plain socket: each read finds
    # about one socket read's worth, never megabytes taken in ahead of the reader.
    size = 8 * 1024 * 1024

    def big(req, res) -> None:
        res.end(b"r" * size)

    server = https.create_server(big, **pki().server_options())
    await server.listen(0, "127.0.0.1")
    agent = https.Agent(ca=pki().ca.cert_pem, max_sockets=1)
    for attempt in range(2):
        res = await https.get(f"https://localhost:{server.address().port}/", agent=agent)
        got, largest = 0, 0
        async for chunk in res:
            got += len(chunk)
            largest = max(largest, len(chunk))
            await asyncio.sleep(0.001)  # the reader's own slow work
        assert got == size
        assert largest <= 1024 * 1024, largest
        assert res.req.reused_socket == (attempt == 1)  # read on after the body's end
    await stop(server, agent)
