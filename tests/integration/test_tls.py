"""nodish.tls server and client against each other over real loopback sockets."""

from __future__ import annotations

import asyncio
import gc
import ssl
import sys

import pytest
from tests.helpers import next_event, until, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import errors, net, tls
from nodish.tls import TLSError


async def echo_server(**opts):
    def on_secure(sock):
        sock.on("data", sock.write)
        sock.on("end", sock.end)

    server = tls.create_server(on_secure, **{**pki().server_options(), **opts})
    await server.listen(0, "127.0.0.1")
    return server


async def close(server) -> None:
    if server.listening:
        server.close()
        await wait_event(server, "close")


async def read_all(sock) -> bytes:
    chunks: list[bytes] = []
    sock.on("data", chunks.append)
    await wait_event(sock, "end")
    return b"".join(chunks)


async def test_echo_and_connection_facts() -> None:
    server = await echo_server()
    secure = next_event(server, "secureConnection")
    sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
    (server_side,) = await wait_for(secure)
    assert sock.authorized and sock.authorization_error is None and sock.encrypted
    assert sock.get_protocol() == "TLSv1.3"
    assert sock.get_cipher()["version"] == "TLSv1.3"
    assert server_side.servername == "localhost"
    cert = sock.get_peer_certificate()
    assert cert.subject["CN"] == "localhost" and cert["issuer"]["CN"] == "nodish Test CA"
    assert cert.subjectaltname == "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
    assert len(cert.fingerprint256.split(":")) == 32
    assert cert.valid_to.endswith(" GMT")
    detailed = sock.get_peer_certificate(detailed=True)
    assert "issuer_certificate" not in detailed or detailed.issuer_certificate is None
    assert server_side.get_certificate().subject["CN"] == "localhost"
    assert not server_side.get_peer_certificate()  # no client certificate
    key_a = sock.export_keying_material(32, "EXPORTER-test")
    key_b = server_side.export_keying_material(32, "EXPORTER-test")
    assert key_a == key_b and len(key_a) == 32
    sock.write(b"hello ")
    sock.end(b"world")
    assert await read_all(sock) == b"hello world"
    await wait_event(sock, "close")
    await close(server)


async def test_writes_before_secure_are_held_in_order_and_end_waits() -> None:
    server = await echo_server()
    sock = tls.connect(server.address().port, "localhost", **pki().client_options())
    for i in range(50):
        sock.write(f"{i},".encode())
    sock.end(b"done")  # before the TCP connect, let alone the handshake
    data = await read_all(sock)
    assert data == b"".join(f"{i},".encode() for i in range(50)) + b"done"
    await wait_event(sock, "close")
    await close(server)


async def test_half_close_over_tls() -> None:
    """The client ends first; the server reads to the end, then answers and ends."""

    def on_secure(sock):
        got: list[bytes] = []
        sock.on("data", got.append)
        sock.on("end", lambda: sock.end(b"received " + b"".join(got)))

    server = tls.create_server(on_secure, allow_half_open=True, **pki().server_options())
    await server.listen(0, "127.0.0.1")
    sock = await tls.connect(
        server.address().port, "localhost", allow_half_open=True, **pki().client_options()
    )
    finished = next_event(sock, "finish")
    sock.end(b"question")
    await wait_for(finished)
    assert await read_all(sock) == b"received question"
    sock.destroy()
    await close(server)


async def test_big_transfer_with_backpressure() -> None:
    server = await echo_server()
    sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
    payload = bytes(range(256)) * 4096  # 1 MiB
    sock.end(payload)
    assert await read_all(sock) == payload
    await close(server)


@pytest.mark.parametrize(
    ("leaf", "connect_opts", "code"),
    [
        ("self_signed", {}, "DEPTH_ZERO_SELF_SIGNED_CERT"),
        ("expired", {"ca": "ca"}, "CERT_HAS_EXPIRED"),
        ("foreign_server", {"ca": "ca"}, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        ("server", {"ca": "ca", "servername": "example.com"}, "ERR_TLS_CERT_ALTNAME_INVALID"),
        ("server", {}, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
    ],
)
async def test_untrusted_servers_fail_with_node_codes(leaf, connect_opts, code) -> None:
    p = pki()
    server = await echo_server(**p.server_options(getattr(p, leaf)))
    opts = dict(connect_opts)
    if opts.get("ca") == "ca":
        opts["ca"] = p.ca.cert_pem
    port = server.address().port
    # rejected: 'error' with the code, then 'close'
    sock = tls.connect(port, "127.0.0.1" if "servername" in opts else "localhost", **opts)
    err_fut, close_fut = next_event(sock, "error"), next_event(sock, "close")
    secure = []
    sock.on("secureConnect", lambda: secure.append(1))
    (err,) = await wait_for(err_fut)
    assert err.code == code
    assert (await wait_for(close_fut)) == (True,)
    assert not secure and not sock.authorized
    # the same with reject_unauthorized=False: connected, and told why
    sock = await tls.connect(
        port,
        "127.0.0.1" if "servername" in opts else "localhost",
        reject_unauthorized=False,
        **opts,
    )
    assert sock.authorized is False and sock.authorization_error == code
    sock.end(b"still works")
    assert await read_all(sock) == b"still works"
    await close(server)


async def test_self_signed_root_in_chain() -> None:
    p = pki()
    leaf = p.other_ca.issue_server("localhost")
    opts = {"key": leaf.key_pem(), "cert": leaf.chain_pem + p.other_ca.cert_pem}
    server = await echo_server(**opts)
    with pytest.raises(TLSError) as info:
        await tls.connect(server.address().port, "localhost", ca=p.ca.cert_pem)
    assert info.value.code == "SELF_SIGNED_CERT_IN_CHAIN"
    await close(server)


async def test_check_server_identity_hook() -> None:
    server = await echo_server()
    seen = []

    def check(host, cert):
        seen.append((host, cert.subject["CN"]))
        return ValueError("pinned key mismatch")

    with pytest.raises(ValueError, match="pinned"):
        await tls.connect(
            server.address().port,
            "localhost",
            check_server_identity=check,
            **pki().client_options(),
        )
    assert seen == [("localhost", "localhost")]
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        tls.connect(server.address().port, check_server_identity="nope")  # type: ignore[arg-type]
    await close(server)


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x17\x03\x03\x00\x05hello", b"\x00" * 64],
)
async def test_garbage_gets_tls_client_error_and_server_keeps_serving(garbage) -> None:
    server = await echo_server()
    client_error = next_event(server, "tlsClientError")
    raw = await net.connect(server.address().port, "127.0.0.1")
    raw.on("error", lambda e: None)
    raw.resume()  # read what comes back (an alert), so 'end' and 'close' follow
    raw_closed = next_event(raw, "close")
    raw.write(garbage)
    err, sock = await wait_for(client_error)
    assert err.code.startswith("ERR_SSL_"), err.code
    assert isinstance(sock, tls.TLSSocket)
    await wait_for(raw_closed)
    good = await tls.connect(server.address().port, "localhost", **pki().client_options())
    good.end(b"ok")
    assert await read_all(good) == b"ok"
    await close(server)


async def test_handshake_timeout() -> None:
    server = await echo_server(handshake_timeout=0.2)
    client_error = next_event(server, "tlsClientError")
    raw = await net.connect(server.address().port, "127.0.0.1")
    raw_closed = next_event(raw, "close")
    (err, _sock) = await wait_for(client_error)
    assert err.code == "ERR_TLS_HANDSHAKE_TIMEOUT"
    await wait_for(raw_closed)
    await close(server)


async def test_handshake_deadlines_of_many_sockets_fire_in_order() -> None:
    # One clock per server: each silent client times out (in the order it came), a
    # client that finished its handshake or left meanwhile is not timed out.
    server = await echo_server(handshake_timeout=1.0)  # (the good client must finish)
    peer_ports: dict[object, int] = {}
    server.on("connection", lambda s: peer_ports.__setitem__(s, s.remote_port))
    failures: list[tuple[str, int]] = []
    server.on("tlsClientError", lambda err, s: failures.append((err.code, peer_ports[s])))
    port = server.address().port
    first = await net.connect(port, "127.0.0.1")
    good = await tls.connect(port, "localhost", **pki().client_options())
    second = await net.connect(port, "127.0.0.1")
    gone = await net.connect(port, "127.0.0.1")
    gone.destroy()
    await until(lambda: len(failures) == 3)
    assert failures == [
        ("ECONNRESET", gone.local_port),
        ("ERR_TLS_HANDSHAKE_TIMEOUT", first.local_port),
        ("ERR_TLS_HANDSHAKE_TIMEOUT", second.local_port),
    ]
    good.end(b"still here")
    assert await read_all(good) == b"still here"
    await close(server)


async def test_client_vanishing_mid_handshake_is_a_tls_client_error() -> None:
    server = await echo_server()
    client_error = next_event(server, "tlsClientError")
    raw = await net.connect(server.address().port, "127.0.0.1")
    raw.end(b"\x16\x03\x01")  # half a record header, then FIN
    (err, _sock) = await wait_for(client_error)
    assert err.code == "ECONNRESET"
    await close(server)


async def test_mutual_tls() -> None:
    p = pki()
    server = await echo_server(request_cert=True, ca=p.ca.cert_pem)
    port = server.address().port
    secure = next_event(server, "secureConnection")
    sock = await tls.connect(port, "localhost", **p.client_options(p.client))
    (server_side,) = await wait_for(secure)
    assert server_side.authorized and server_side.authorization_error is None
    peer = server_side.get_peer_certificate(True)
    assert peer.subject["CN"] == "alice" and peer.ext_key_usage == ["1.3.6.1.5.5.7.3.2"]
    sock.end(b"hi")
    assert await read_all(sock) == b"hi"
    # no certificate, or one from another CA: refused during the handshake
    for leaf, server_code in (
        (None, "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"),
        (p.stranger, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
    ):
        client_error = next_event(server, "tlsClientError")
        bad = tls.connect(port, "localhost", **p.client_options(leaf))
        bad_err = next_event(bad, "error")
        (err, _s) = await wait_for(client_error)
        assert err.code == server_code
        (cerr,) = await wait_for(bad_err)
        assert cerr.code.startswith("ERR_SSL_"), cerr.code
    await close(server)


async def test_request_cert_without_reject_reports() -> None:
    p = pki()
    server = await echo_server(request_cert=True, reject_unauthorized=False, ca=p.ca.cert_pem)
    for leaf, code in (
        (p.stranger, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
        (None, "UNABLE_TO_GET_ISSUER_CERT"),
        (p.client, None),
    ):
        secure = next_event(server, "secureConnection")
        sock = await tls.connect(server.address().port, "localhost", **p.client_options(leaf))
        (server_side,) = await wait_for(secure)
        assert server_side.authorization_error == code
        assert server_side.authorized is (code is None)
        sock.destroy()
    await close(server)


async def test_alpn() -> None:
    server = await echo_server(alpn_protocols=["h2", "http/1.1"])
    sock = await tls.connect(
        server.address().port,
        "localhost",
        alpn_protocols=["http/1.1", "h2"],
        **pki().client_options(),
    )
    assert sock.alpn_protocol == "h2"  # the server's preference
    sock.destroy()
    sock = await tls.connect(
        server.address().port, "localhost", alpn_protocols=["spdy/1"], **pki().client_options()
    )
    assert sock.alpn_protocol is False
    sock.destroy()
    await close(server)
    seen = []

    def choose(info):
        seen.append(info)
        return info["protocols"][-1]

    server = await echo_server(alpn_callback=choose)
    sock = await tls.connect(
        server.address().port, "localhost", alpn_protocols=["a", "b"], **pki().client_options()
    )
    assert sock.alpn_protocol == "b"
    assert seen == [{"servername": "localhost", "protocols": ["a", "b"]}]
    sock.destroy()
    await close(server)


async def test_sni_chooses_the_certificate() -> None:
    p = pki()
    server = await echo_server()
    server.add_context("*.b.test", p.server_options(p.server_b))
    port = server.address().port
    for name, cn in (("www.b.test", "b.test"), ("localhost", "localhost"), ("b.test", "localhost")):
        sock = await tls.connect(port, "127.0.0.1", servername=name, reject_unauthorized=False)
        assert sock.get_peer_certificate().subject["CN"] == cn, name
        sock.destroy()
    await close(server)
    asked = []

    def sni(name):
        asked.append(name)
        return (
            tls.create_secure_context(p.server_options(p.server_b))
            if name.endswith("b.test")
            else None
        )

    server = await echo_server(sni_callback=sni)
    sock = await tls.connect(
        server.address().port, "127.0.0.1", servername="b.test", ca=p.ca.cert_pem
    )
    assert sock.authorized and sock.get_peer_certificate().subject["CN"] == "b.test"
    sock.destroy()
    assert asked == ["b.test"]
    await close(server)


async def test_set_secure_context_reloads_while_connections_stay_up() -> None:
    p = pki()
    server = await echo_server()
    port = server.address().port
    old = await tls.connect(port, "localhost", **p.client_options())
    server.set_secure_context(p.server_options(p.server_b))
    new = await tls.connect(port, "127.0.0.1", servername="b.test", ca=p.ca.cert_pem)
    assert new.get_peer_certificate().subject["CN"] == "b.test"
    old.end(b"old connection still served")
    assert await read_all(old) == b"old connection still served"
    new.destroy()
    with pytest.raises(TLSError) as info:
        server.set_secure_context(key=p.client.key_pem(), cert=p.server.cert_pem)
    assert info.value.code == "ERR_OSSL_X509_KEY_VALUES_MISMATCH"
    await close(server)


async def test_bad_options_raise_at_create() -> None:
    p = pki()
    with pytest.raises(TLSError) as info:
        tls.create_server(key=p.server.key_pem("pw"), cert=p.server.cert_pem, passphrase="wrong")
    assert info.value.code == "ERR_OSSL_BAD_DECRYPT"
    with pytest.raises(TLSError) as info:
        tls.create_secure_context(key=p.client.key_pem(), cert=p.server.cert_pem)
    assert info.value.code == "ERR_OSSL_X509_KEY_VALUES_MISMATCH"
    with pytest.raises(errors.ERR_TLS_INVALID_PROTOCOL_VERSION):
        tls.create_server(min_version="SSLv3", **p.server_options())
    server = tls.create_server(key=p.server.key_pem("pw"), cert=p.server.cert_pem, passphrase="pw")
    assert isinstance(server, tls.Server)


async def test_starttls_upgrades_a_live_socket() -> None:
    p = pki()
    ctx = tls.create_secure_context(p.server_options())
    upgraded = []

    def on_connection(plain):
        def on_data(data):
            if data == b"STARTTLS\r\n":
                plain.remove_listener("data", on_data)
                plain.write(b"220 go ahead\r\n", callback=lambda *_: None)

                def upgrade():
                    secure = tls.TLSSocket(plain, secure_context=ctx, is_server=True)
                    upgraded.append(secure)
                    secure.on("data", lambda d: secure.write(b"secret:" + d))
                    secure.on("end", secure.end)

                asyncio.get_running_loop().call_soon(upgrade)

        plain.on("data", on_data)

    server = net.create_server(on_connection)
    await server.listen(0, "127.0.0.1")
    plain = await net.connect(server.address().port, "127.0.0.1")
    reply = next_event(plain, "data")
    plain.write(b"STARTTLS\r\n")
    assert (await wait_for(reply)) == (b"220 go ahead\r\n",)
    sock = await tls.connect(socket=plain, host="localhost", ca=p.ca.cert_pem)
    assert sock.authorized
    sock.end(b"x")
    assert await read_all(sock) == b"secret:x"
    await wait_event(sock, "close")
    server.close()
    await wait_event(server, "close")


async def test_keylog_and_session_resumption() -> None:
    server = await echo_server()
    lines: list[bytes] = []
    server.on("keylog", lambda line, sock: lines.append(line))
    sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
    assert any(line.startswith(b"CLIENT_HANDSHAKE_TRAFFIC_SECRET ") for line in lines)
    assert all(line.endswith(b"\n") for line in lines)
    sock.write(b"ping")
    await wait_event(sock, "data")  # the session ticket arrives with the data
    session = sock.get_session()
    assert isinstance(session, bytes) and session
    assert not sock.is_session_reused()
    sock.destroy()
    again = await tls.connect(
        server.address().port, "localhost", session=session, **pki().client_options()
    )
    assert again.is_session_reused()
    again.destroy()
    await close(server)


async def test_client_keylog_and_session_events() -> None:
    server = await echo_server()
    sock = tls.connect(server.address().port, "localhost", **pki().client_options())
    lines: list[bytes] = []
    sock.on("keylog", lines.append)
    session = next_event(sock, "session")
    await sock
    (ticket,) = await wait_for(session)
    assert isinstance(ticket, bytes) and ticket
    assert any(line.startswith(b"CLIENT_TRAFFIC_SECRET_0 ") for line in lines)
    again = await tls.connect(
        server.address().port, "localhost", session=ticket, **pki().client_options()
    )
    assert again.is_session_reused() and again.authorized
    sock.destroy()
    again.destroy()
    await close(server)


async def test_handshake_with_a_plain_tcp_server_fails_cleanly() -> None:
    echo = net.create_server(lambda s: s.pipe(s))  # echoes our ClientHello back
    await echo.listen(0, "127.0.0.1")
    with pytest.raises(TLSError) as info:
        await tls.connect(echo.address().port, "localhost")
    assert info.value.code.startswith("ERR_SSL_")
    echo.close()
    closer = net.create_server(lambda s: s.resume().end())  # accepts, then hangs up
    await closer.listen(0, "127.0.0.1")
    with pytest.raises(ConnectionResetError) as reset:
        await tls.connect(closer.address().port, "localhost")
    assert reset.value.code == "ECONNRESET"
    assert "before secure TLS connection" in str(reset.value)
    closer.close()
    await wait_event(closer, "close")


async def test_pause_at_once_still_handshakes_then_delivers_on_resume() -> None:
    server = tls.create_server(lambda s: s.end(b"greeting"), **pki().server_options())
    await server.listen(0, "127.0.0.1")
    sock = tls.connect(server.address().port, "localhost", **pki().client_options())
    sock.pause()
    await sock  # the handshake ran although the socket is paused
    got: list[bytes] = []
    sock.on("data", got.append)
    assert got == []
    ended = next_event(sock, "end")
    sock.resume()
    await wait_for(ended)
    assert got == [b"greeting"]
    await close(server)


async def test_destroy_during_handshake_is_quiet() -> None:
    server = await echo_server()
    sock = tls.connect(server.address().port, "localhost", **pki().client_options())
    errors: list[BaseException] = []
    sock.on("error", errors.append)
    sock.on("connect", sock.destroy)
    (had_error,) = await wait_event(sock, "close")
    assert had_error is False and errors == []
    assert not sock.authorized
    await close(server)


async def test_pfx_session_timeout_and_root_certificates() -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    p = pki()
    pfx = pkcs12.serialize_key_and_certificates(
        b"server", p.server.key, p.server.cert, None, BestAvailableEncryption(b"pw")
    )
    server = tls.create_server(
        lambda s: s.end(b"pfx"), pfx=pfx, passphrase="pw", session_timeout=60
    )
    await server.listen(0, "127.0.0.1")
    sock = await tls.connect(server.address().port, "localhost", ca=p.ca.cert_pem)
    assert sock.authorized
    assert await read_all(sock) == b"pfx"
    await close(server)
    with pytest.raises(TLSError) as info:
        tls.create_server(pfx=pfx, passphrase="wrong")
    assert info.value.code == "ERR_CRYPTO_OPERATION_FAILED"
    assert tls.create_server(ticket_keys=bytes(48), **p.server_options()).get_ticket_keys() == (
        bytes(48)
    )
    with pytest.raises(TypeError, match="unknown options"):
        tls.create_server(keyy=b"typo", **p.server_options())
    roots = tls.root_certificates()
    assert roots and all(r.startswith("-----BEGIN CERTIFICATE-----") for r in roots)


async def test_bad_alpn_and_version_options_raise_at_once() -> None:
    p = pki()
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        tls.connect(1, alpn_protocols="h2")  # a str, not a list
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        tls.create_server(alpn_protocols=["h2", ""], **p.server_options())
    with pytest.raises(errors.codes.ERR_TLS_PROTOCOL_VERSION_CONFLICT):
        tls.create_server(min_version="TLSv1.3", max_version="TLSv1.2", **p.server_options())
    server = await echo_server(min_version="TLSv1.3")
    with pytest.raises(TLSError) as info:
        await tls.connect(
            server.address().port, "localhost", max_version="TLSv1.2", **p.client_options()
        )
    assert info.value.code.startswith("ERR_SSL_")
    sock = await tls.connect(
        server.address().port, "localhost", alpn_protocols=[b"x"], **p.client_options()
    )
    assert sock.get_protocol() == "TLSv1.3"
    sock.destroy()
    await close(server)


async def test_peer_x509_certificate_and_get_ciphers() -> None:
    server = await echo_server()
    sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
    assert sock.get_peer_x509_certificate() == pki().server.cert
    sock.destroy()
    await close(server)
    ciphers = tls.get_ciphers()
    assert "tls_aes_128_gcm_sha256" in ciphers and "ecdhe-rsa-aes128-gcm-sha256" in ciphers
    assert not any("cbc" in c or "rc4" in c or c.startswith("des") for c in ciphers)


async def test_many_concurrent_connections_keep_their_own_bytes() -> None:
    server = await echo_server()
    port = server.address().port

    async def client(i: int) -> bytes:
        sock = await tls.connect(port, "localhost", **pki().client_options())
        payload = b"".join(f"{i}:{k};".encode() for k in range(200)) * 20
        sock.end(payload)
        got = await read_all(sock)
        assert got == payload, i
        return got

    results = await wait_for(asyncio.gather(*(client(i) for i in range(40))), 30)
    assert len(results) == 40
    await close(server)


def test_two_loops_in_two_threads_keep_their_bytes_apart() -> None:
    """OpenSSL runs without the GIL: each thread's loop has its own scratch buffer."""
    import threading

    import uvloop

    results: list[bool] = []

    async def round_trip(tag: int) -> bool:
        server = await echo_server()
        sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
        payload = bytes([tag]) * 3_000_000
        sock.end(payload)
        ok = await read_all(sock) == payload
        server.close()
        await wait_event(server, "close")
        return ok

    def worker(tag: int) -> None:
        results.append(uvloop.run(round_trip(tag)))

    pki()  # made once, before the threads share it
    threads = [threading.Thread(target=worker, args=(tag,)) for tag in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True, True]


_CLIENT_IN: dict[ssl.SSLObject, ssl.MemoryBIO] = {}  # each raw client's incoming BIO


async def _raw_tls_client(port: int) -> tuple[net.Socket, ssl.SSLObject, ssl.MemoryBIO]:
    """A TLS client of the standard library's over a plain nodish socket, so the test
    can put any bytes it likes on the wire after the handshake."""
    ctx = ssl.create_default_context(cadata=pki().ca.cert_pem.decode())
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    _CLIENT_IN[obj] = incoming
    raw = await net.connect(port, "127.0.0.1")
    received: asyncio.Queue[bytes] = asyncio.Queue()
    raw.on("data", received.put_nowait)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            if outgoing.pending:
                raw.write(outgoing.read())
            incoming.write(await wait_for(received.get()))
    if outgoing.pending:
        raw.write(outgoing.read())
    return raw, obj, outgoing


@pytest.mark.parametrize("together", [False, True])
async def test_a_forged_record_after_the_handshake_is_an_error_and_the_server_serves_on(
    together: bool,
) -> None:
    events: list[object] = []
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_secure(sock: tls.TLSSocket) -> None:
        sock.on("data", sock.write)
        sock.on("end", sock.end)
        if closed.done():
            return  # the good client that follows
        sock.on("data", lambda d: events.append(("data", d)))
        sock.on("error", lambda e: events.append(("error", e.code)))
        sock.on("close", lambda *a: closed.set_result(None))

    server = tls.create_server(on_secure, **pki().server_options())
    await server.listen(0, "127.0.0.1")
    raw, obj, outgoing = await _raw_tls_client(server.address().port)
    raw.on("error", lambda e: None)
    obj.write(b"hello")
    good = outgoing.read()
    forged = b"\x17\x03\x03\x00\x20" + bytes(32)  # an application record no key made
    if together:
        raw.write(good + forged)  # one read: the good record's data first, then the error
    else:
        raw.write(good)
        await until(lambda: events)
        raw.write(forged)
    await wait_for(closed)
    assert events == [
        ("data", b"hello"),
        ("error", "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC"),  # Node's code too
    ]
    sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
    sock.end(b"still here")
    assert await read_all(sock) == b"still here"
    raw.destroy()
    await close(server)


async def test_records_split_and_joined_across_reads_are_all_read() -> None:
    """Records arrive one per read, two to a read, and split so that a read holds the
    tail of one record and the whole next one, that read being exactly as long as the
    first record: the server must not take it for that record alone."""
    server = await echo_server()
    raw, obj, outgoing = await _raw_tls_client(server.address().port)
    incoming = _CLIENT_IN[obj]
    got: asyncio.Queue[bytes] = asyncio.Queue()
    raw.remove_all_listeners("data")
    raw.on("data", got.put_nowait)
    echoed = bytearray()

    def record(payload: bytes) -> bytes:
        obj.write(payload)
        return outgoing.read()

    async def echo_of(n: int) -> None:
        while len(echoed) < n:
            incoming.write(await wait_for(got.get()))
            try:
                while True:
                    echoed.extend(obj.read(65536))
            except ssl.SSLWantReadError:
                pass

    raw.write(record(b"a" * 100))  # one record per read
    sent = b"a" * 100
    await echo_of(len(sent))
    raw.write(record(b"b" * 50) + record(b"c" * 70))  # two records in one read
    sent += b"b" * 50 + b"c" * 70
    await echo_of(len(sent))
    six, four, five = record(b"x" * 10), record(b"d" * 300), record(b"e" * 5)
    cut = len(five)
    raw.write(six + four[:cut])  # its echo tells that the server has read this
    sent += b"x" * 10
    await echo_of(len(sent))
    raw.write(four[cut:] + five)  # as long as record four, and ends with record five
    sent += b"d" * 300 + b"e" * 5
    await echo_of(len(sent))
    assert bytes(echoed) == sent
    raw.destroy()
    server.close()
    await wait_event(server, "close")


async def test_closed_tls_sockets_are_freed_without_the_cycle_collector() -> None:
    # A TLS socket drops its references to itself (OpenSSL's app data and verify
    # callback, the encrypting transport's owner) when it closes: reference counting
    # frees both ends, after an orderly end and after the client vanished (a reset).
    accepted: list[tls.TLSSocket] = []
    server = tls.create_server(
        lambda s: (accepted.append(s), s.on("error", lambda e: None), s.once("data", s.end)),
        **pki().server_options(),
    )
    await server.listen(0, "127.0.0.1")
    gc.collect()
    gc.disable()
    try:
        for reset in (False, True):
            client = await tls.connect(server.address().port, "localhost", **pki().client_options())
            client.on("error", lambda e: None)
            client.write(b"ping")
            await until(lambda: bool(accepted))
            (sock,) = accepted
            accepted.clear()
            # 'close' itself, not the stream's flag (set a loop turn before the event)
            closes = [next_event(sock, "close"), next_event(client, "close")]
            if reset:
                client.reset_and_destroy()
            else:
                client.on("data", lambda d: None)
            await wait_for(asyncio.gather(*closes))
            del closes
            assert sys.getrefcount(sock) == 2  # the name `sock` and getrefcount's argument
            assert sys.getrefcount(client) == 2  # the client's end too (its verify callback)
    finally:
        gc.enable()
    server.close()
    await wait_event(server, "close")


async def test_server_side_facts_without_sni_or_alpn() -> None:
    server = await echo_server()
    secure = next_event(server, "secureConnection")
    opts = {**pki().client_options(), "check_server_identity": lambda host, cert: None}
    sock = await tls.connect(server.address().port, "127.0.0.1", **opts)  # an IP: no SNI
    (server_side,) = await wait_for(secure)
    assert (server_side.servername, server_side.alpn_protocol) == (None, False)
    assert (sock.alpn_protocol, server_side.get_protocol()) == (False, "TLSv1.3")
    sock.destroy()
    await close(server)


def nodelay(sock: net.Socket) -> int:
    import socket

    raw = sock._transport.get_extra_info("socket")
    return int(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


@pytest.mark.parametrize(
    ("opts", "expect"), [({}, 0), ({"no_delay": True}, 1), ({"keep_alive": True}, 0)]
)
async def test_accepted_tls_socket_has_nagle_as_asked_from_its_first_write(opts, expect) -> None:
    # Node's no_delay=False is Nagle on. An accepted TLS socket turns it on just before its
    # first write (the handshake's writes came before it, so this one may wait for an ACK
    # as in Node); a second write and a later end() find it so; no_delay=True keeps it off.
    seen: list[int] = []

    def on_secure(sock: tls.TLSSocket) -> None:
        sock.write(b"first")
        seen.append(nodelay(sock))
        sock.on("data", lambda d: (sock.end(d), seen.append(nodelay(sock))))

    server = tls.create_server(on_secure, **{**pki().server_options(), **opts})
    await server.listen(0, "127.0.0.1")
    sock = await tls.connect(server.address().port, "localhost", **pki().client_options())
    sock.write(b" second")
    assert await read_all(sock) == b"first second"
    assert seen == [expect, expect]
    sock.destroy()
    await close(server)
