"""tls and https used carelessly: wrong option types and values, odd host names, calls
from other threads. Each bad input raises at the call with Node's code (or, where it is
a connection's outcome, fails that connection alone), and a good client is served after.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from tests.helpers import next_event, until, wait_event, wait_for
from tests.tls_fixtures import pki

from nodish import https, tls

P = pki


def _server(listener=None, **o):
    return tls.create_server(listener, **{**P().server_options(), **o})


def _connect(**o):
    return tls.connect(1, "127.0.0.1", **o)


# (what, call, Node's code or the Python exception) -- Node 20 raises the same codes
# at the call (tls.createSecureContext, tls.createServer, tls.connect, https.request).
BAD_OPTIONS = [
    ("session_timeout str", lambda: _server(session_timeout="x"), "ERR_INVALID_ARG_TYPE"),
    ("session_timeout < 0", lambda: _server(session_timeout=-1), "ERR_OUT_OF_RANGE"),
    ("server secure_context", lambda: _server(secure_context=5), "ERR_TLS_INVALID_CONTEXT"),
    ("client secure_context", lambda: _connect(secure_context=5), "ERR_TLS_INVALID_CONTEXT"),
    ("options not a dict", lambda: tls.create_secure_context(5), "ERR_INVALID_ARG_TYPE"),
    ("misspelt option", lambda: tls.create_secure_context(min_verison="TLSv1.3"), TypeError),
    ("servername int", lambda: _connect(servername=5), "ERR_INVALID_ARG_TYPE"),
    ("servername not IDNA", lambda: _connect(servername="ü" * 70), "ERR_INVALID_ARG_VALUE"),
    ("session str", lambda: _connect(session="x"), "ERR_INVALID_ARG_TYPE"),
    ("session junk", lambda: _connect(session=b"junk"), "ERR_SSL_INVALID_SESSION"),
    (
        "https servername int",
        lambda: https.request("https://127.0.0.1:1/", servername=5, agent=False),
        "ERR_INVALID_ARG_TYPE",
    ),
    ("agent sessions str", lambda: https.Agent(max_cached_sessions="x"), "ERR_INVALID_ARG_TYPE"),
    ("agent sessions < 0", lambda: https.Agent(max_cached_sessions=-1), "ERR_OUT_OF_RANGE"),
    (
        "Node's spelling",
        lambda: https.request("https://127.0.0.1:1/", rejectUnauthorized=False, agent=False),
        TypeError,
    ),
    ("Node's spelling, agent", lambda: https.Agent(keepAlive=True), TypeError),
    ("key is a path", lambda: _server(key="/etc/ssl/server-key.pem"), "ERR_OSSL_UNSUPPORTED"),
    ("cert is a path", lambda: _server(cert="server.pem"), "ERR_OSSL_PEM_NO_START_LINE"),
    ("ca holds an int", lambda: _server(ca=[P().ca.cert_pem, 5]), "ERR_INVALID_ARG_TYPE"),
    ("ca holds None", lambda: _connect(ca=[P().ca.cert_pem, None]), "ERR_INVALID_ARG_TYPE"),
    (
        "min > max",
        lambda: _server(min_version="TLSv1.3", max_version="TLSv1.2"),
        "ERR_TLS_PROTOCOL_VERSION_CONFLICT",
    ),
    (
        "max below the default min",
        lambda: tls.create_secure_context(max_version="TLSv1.1"),
        "ERR_TLS_PROTOCOL_VERSION_CONFLICT",
    ),
    ("unknown version", lambda: _connect(min_version="TLSv9"), "ERR_TLS_INVALID_PROTOCOL_VERSION"),
    ("version int", lambda: _server(max_version=13), "ERR_TLS_INVALID_PROTOCOL_VERSION"),
    ("bad ciphers", lambda: _connect(ciphers="NOPE"), "ERR_SSL_NO_CIPHER_MATCH"),
    ("bad 1.3 suites", lambda: _server(ciphers="TLS_NOPE"), "ERR_SSL_NO_CIPHER_MATCH"),
    ("alpn a str", lambda: _connect(alpn_protocols="h2"), "ERR_INVALID_ARG_TYPE"),
    ("alpn holds an int", lambda: _server(alpn_protocols=[1]), "ERR_INVALID_ARG_TYPE"),
    ("sni_callback", lambda: _server(sni_callback=5), "ERR_INVALID_ARG_TYPE"),
    ("alpn_callback", lambda: _server(alpn_callback="x"), "ERR_INVALID_ARG_TYPE"),
    ("check_server_identity", lambda: _connect(check_server_identity=5), "ERR_INVALID_ARG_TYPE"),
    ("callback", lambda: _connect(callback=5), "ERR_INVALID_ARG_TYPE"),
]


@pytest.mark.parametrize(
    ("call", "expected"), [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS]
)
async def test_bad_options_raise_at_the_call_with_node_codes(call, expected) -> None:
    if isinstance(expected, str):
        with pytest.raises(Exception) as info:
            call()
        assert getattr(info.value, "code", None) == expected, repr(info.value)
    else:
        with pytest.raises(expected):
            call()


async def test_a_file_name_for_key_or_cert_says_so() -> None:
    for opts in ({"key": "server-key.pem"}, {"cert": "/etc/ssl/certs/server.pem"}):
        with pytest.raises(tls.TLSError) as info:
            _server(**opts)
        assert "not a file name" in str(info.value)


async def _served(port: int, host: str = "localhost", **opts) -> tls.TLSSocket:
    sock = await tls.connect(port, host, ca=P().ca.cert_pem, **opts)
    assert sock.authorized
    return sock


async def test_odd_host_names_follow_node_and_rfc_6066() -> None:
    p = P()
    idn = p.ca.issue_server("xn--bcher-kva.test", "*.b.test")
    seen: list[object] = []
    main = tls.create_server(lambda s: seen.append(s.servername), **p.server_options())
    other = tls.create_server(lambda s: seen.append(s.servername), **p.server_options(idn))
    await main.listen(0, "127.0.0.1")
    await other.listen(0, "127.0.0.1")
    port, idn_port = main.address().port, other.address().port

    async def outcome(port: int, **opts: object) -> object:
        seen.clear()
        secure = next_event(main if port == main.address().port else other, "secureConnection")
        try:
            sock = await tls.connect(port, "127.0.0.1", ca=p.ca.cert_pem, **opts)
        except tls.TLSError as exc:
            return exc.code
        except Exception as exc:
            return getattr(exc, "code", type(exc).__name__)
        await wait_for(secure)
        sock.destroy()
        return ("ok", sock.servername, seen[0])

    # an IP servername is checked against IP SANs, and sent as no SNI (RFC 6066 3)
    assert await outcome(port, servername="127.0.0.1") == ("ok", "127.0.0.1", None)
    # a non-ASCII name goes out, and is checked, as its A-label
    assert await outcome(idn_port, servername="bücher.test") == (
        "ok",
        "bücher.test",
        "xn--bcher-kva.test",
    )
    # wildcards: one label, any case, a trailing dot ignored
    assert (await outcome(idn_port, servername="A.B.TEST."))[0] == "ok"  # type: ignore[index]
    assert await outcome(idn_port, servername="x.a.b.test") == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert await outcome(idn_port, servername="b.test") == "ERR_TLS_CERT_ALTNAME_INVALID"
    # names that are no host name at all fail the check, as in Node, not the encoder
    assert await outcome(port, servername="a" * 300) == "ERR_TLS_CERT_ALTNAME_INVALID"
    assert await outcome(port, servername="a..b") == "ERR_TLS_CERT_ALTNAME_INVALID"
    # an empty servername is no SNI; the host is checked
    assert await outcome(port, servername="") == ("ok", None, None)
    good = await _served(port)
    good.destroy()
    for server in (main, other):
        server.close()
        await wait_event(server, "close")


async def test_tls_calls_from_another_thread_raise_err_invalid_thread() -> None:
    server = _server()
    await server.listen(0, "127.0.0.1")
    sock = await _served(server.address().port)
    calls = {
        "set_servername": lambda: sock.set_servername("x"),
        "export_keying_material": lambda: sock.export_keying_material(8, "label"),
        "get_session": sock.get_session,
        "write": lambda: sock.write(b"x"),
    }
    codes: dict[str, object] = {}

    def other_thread() -> None:
        for name, call in calls.items():
            try:
                call()
                codes[name] = "returned"
            except Exception as exc:
                codes[name] = getattr(exc, "code", exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    assert codes == dict.fromkeys(calls, "ERR_INVALID_THREAD")
    assert len(sock.export_keying_material(8, "label")) == 8  # fine on the loop
    with pytest.raises(Exception) as info:
        sock.set_servername(5)  # type: ignore[arg-type]
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    sock.destroy()
    server.close()
    await wait_event(server, "close")


async def _client_error_then_served(server: tls.Server, **opts: object) -> BaseException:
    """Connect once with ``opts`` (expected to fail), return the server's
    'tlsClientError', then check that a good client is still served."""
    client_error = next_event(server, "tlsClientError")
    with pytest.raises(tls.TLSError):
        await tls.connect(server.address().port, "localhost", ca=P().ca.cert_pem, **opts)
    (err, _sock) = await wait_for(client_error)
    return err


@pytest.mark.parametrize(
    ("result", "code"),
    [(5, "ERR_TLS_INVALID_CONTEXT"), ({"key": b"junk", "cert": b"junk"}, "ERR_OSSL_UNSUPPORTED")],
)
async def test_a_bad_sni_callback_result_fails_that_handshake_alone(result, code) -> None:
    """Node: a bad context given to SNICallback's callback fails the handshake with
    'tlsClientError'; it is no uncaught exception and the server serves on."""
    server = _server(sni_callback=lambda name: result if name == "x.bad.test" else None)
    # a refused name is not served from add_context() either
    server.add_context("*.bad.test", tls.create_secure_context(P().server_options()))
    await server.listen(0, "127.0.0.1")
    err = await _client_error_then_served(server, servername="x.bad.test")
    assert err.code == code
    good = await _served(server.address().port)
    good.destroy()
    server.close()
    await wait_event(server, "close")


async def test_an_alpn_callback_result_not_offered_fails_that_handshake_alone() -> None:
    choices = {"h2": "spdy/3", "x": 5, "b": b"b"}
    server = _server(alpn_callback=lambda o: choices.get(o["protocols"][0], o["protocols"][0]))
    await server.listen(0, "127.0.0.1")
    for offered in ("h2", "x"):  # not among the offered, or not a str: Node's error
        err = await _client_error_then_served(server, alpn_protocols=[offered])
        assert err.code == "ERR_TLS_ALPN_CALLBACK_INVALID_RESULT"
    for offered in ("b", "http/1.1"):  # bytes are taken as well as str
        good = await _served(server.address().port, alpn_protocols=[offered])
        assert good.alpn_protocol == offered
        good.destroy()
    server.close()
    await wait_event(server, "close")


async def test_check_server_identity_results_as_node_reads_them() -> None:
    """Node: a falsy result passes, any other one fails the connection."""
    server = _server()
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    passed = await _served(port, check_server_identity=lambda host, cert: False)
    passed.destroy()
    with pytest.raises(Exception) as info:
        await tls.connect(
            port, "localhost", ca=P().ca.cert_pem, check_server_identity=lambda h, c: "no"
        )
    assert info.value.code == "ERR_TLS_CERT_ALTNAME_INVALID"
    lax = await tls.connect(
        port,
        "localhost",
        ca=P().ca.cert_pem,
        reject_unauthorized=False,
        check_server_identity=lambda h, c: "no",
    )
    assert not lax.authorized and lax.authorization_error == "ERR_TLS_CERT_ALTNAME_INVALID"
    with pytest.raises(TypeError) as bad:
        lax.export_keying_material("8", "label")  # type: ignore[arg-type]
    assert bad.value.code == "ERR_INVALID_ARG_TYPE"
    for args, code in [((-1, "l"), "ERR_OUT_OF_RANGE"), ((8, b"l"), "ERR_INVALID_ARG_TYPE")]:
        with pytest.raises(Exception) as info:
            lax.export_keying_material(*args)
        assert info.value.code == code
    assert lax.export_keying_material(8, "l", bytearray(b"c")) != lax.export_keying_material(8, "l")
    lax.destroy()
    with pytest.raises(TypeError) as info:
        tls.connect(socket=5)  # type: ignore[arg-type]
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    server.close()
    await wait_event(server, "close")


async def test_a_flood_into_a_socket_paused_at_once_is_held_by_backpressure() -> None:
    """The server pauses in 'secureConnection' and does not read: a client writing as
    fast as it may is stopped by backpressure (memory stays bounded, nothing raises);
    once resumed, every byte arrives, and the server serves the next client."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[tls.TLSSocket] = loop.create_future()

    def on_secure(sock: tls.TLSSocket) -> None:
        sock.pause()
        accepted.set_result(sock)

    server = _server(on_secure)
    await server.listen(0, "127.0.0.1")
    client = await _served(server.address().port)
    peer = await wait_for(accepted)
    chunk, sent = b"x" * 65536, 0
    while sent < 50 << 20:
        sent += len(chunk)
        if not client.write(chunk):
            try:
                await wait_event(client, "drain", timeout=0.5)
            except asyncio.TimeoutError:
                break  # the peer holds: backpressure reached the writer
    assert sent < 50 << 20
    assert peer.readable_length <= 1 << 20  # OpenSSL's and our buffers, not the flood
    got: list[int] = []
    peer.on("data", lambda data: got.append(len(data)))
    ended = next_event(peer, "end")
    client.end()
    peer.resume()
    await wait_for(ended)
    assert sum(got) == sent
    good = await _served(server.address().port)
    good.destroy()
    client.destroy()
    server.close()
    await wait_event(server, "close")


async def test_a_peer_that_resets_mid_handshake_or_mid_record() -> None:
    """RST during the handshake: 'tlsClientError' ECONNRESET; RST in the middle of a
    record once secure: 'error' ECONNRESET on that socket alone."""
    from nodish import net

    accepted: list[tls.TLSSocket] = []
    server = _server(accepted.append)
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    client_error = next_event(server, "tlsClientError")
    raw = await net.connect(port, "127.0.0.1")
    raw.write(b"\x16\x03\x01\x02\x00\x01\x00")  # the start of a ClientHello
    raw.reset_and_destroy()
    (err, _sock) = await wait_for(client_error)
    assert err.code == "ECONNRESET"

    client = await _served(port)
    await until(lambda: len(accepted) == 1)
    peer = accepted[0]
    peer_error = next_event(peer, "error")
    peer_closed = next_event(peer, "close")
    # half of a 16 KiB application-data record, then RST
    client._tls_transport.raw.write(b"\x17\x03\x03\x40\x11" + b"\x00" * 8000)
    client.reset_and_destroy()
    (err,) = await wait_for(peer_error)
    assert err.code == "ECONNRESET"
    await wait_for(peer_closed)
    good = await _served(port)
    good.destroy()
    server.close()
    await wait_event(server, "close")


async def test_careless_calls_on_a_tls_socket() -> None:
    """Write after end, destroy twice, end during the handshake, a 'secureConnect'
    listener that raises: Node's outcomes, and the server serves on."""
    from nodish import process

    echoed: list[bytes] = []

    def on_secure(sock: tls.TLSSocket) -> None:
        sock.on("data", echoed.append)
        sock.on("end", sock.end)

    server = _server(on_secure)
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    early = tls.connect(port, "localhost", ca=P().ca.cert_pem)
    early.end(b"sent before the handshake")
    (had_error,) = await wait_event(early, "close")
    assert had_error is False and b"".join(echoed) == b"sent before the handshake"

    sock = await _served(port)
    errors: list[BaseException] = []
    sock.on("error", errors.append)
    sock.end()
    assert sock.write(b"late") is False
    closed = next_event(sock, "close")
    sock.destroy()
    sock.destroy()
    await wait_for(closed)
    assert [e.code for e in errors] == ["ERR_STREAM_WRITE_AFTER_END"]  # type: ignore[attr-defined]

    uncaught: list[BaseException] = []
    process.on("uncaughtException", lambda err, *origin: uncaught.append(err))
    try:
        raising = tls.connect(port, "localhost", ca=P().ca.cert_pem, callback=lambda: 1 / 0)
        await wait_event(raising, "close")
    finally:
        process.remove_all_listeners("uncaughtException")
    assert [type(e) for e in uncaught] == [ZeroDivisionError] and raising.destroyed
    good = await _served(port)
    good.destroy()
    server.close()
    await wait_event(server, "close")


async def test_https_agent_with_bad_certificates_and_two_cas() -> None:
    """Through one keep-alive Agent: a bad certificate fails the request with Node's
    code and pools nothing; reject_unauthorized=False for one request pools a socket
    that a strict request never reuses; servers under two CAs each get their own."""
    p = P()

    def hello(req, res) -> None:
        res.end("ok")

    ours = https.create_server(hello, **p.server_options())
    theirs = https.create_server(hello, **p.server_options(p.foreign_server))
    for server in (ours, theirs):
        await server.listen(0, "127.0.0.1")
    agent = https.Agent(keep_alive=True)

    async def get(server: https.Server, **opts: object) -> object:
        url = f"https://localhost:{server.address().port}/"
        try:
            res = await https.get(url, agent=agent, **opts)
        except Exception as exc:
            return getattr(exc, "code", exc)
        body = b"".join([chunk async for chunk in res])
        return res.status_code, body, res.socket.authorized

    strict = {"ca": p.ca.cert_pem}
    assert await get(theirs, **strict) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    assert not agent.free_sockets and not agent.sockets
    assert await get(theirs, **strict, reject_unauthorized=False) == (200, b"ok", False)
    assert await get(theirs, **strict) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    assert await get(ours, **strict) == (200, b"ok", True)
    assert await get(theirs, ca=p.other_ca.cert_pem) == (200, b"ok", True)
    assert await get(ours, ca=p.other_ca.cert_pem) == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    assert await get(ours, **strict) == (200, b"ok", True)  # from the pool
    assert sum(len(s) for s in agent.free_sockets.values()) == 3  # lax, ours, theirs
    agent.destroy()
    for server in (ours, theirs):
        server.close()
        await wait_event(server, "close")


async def test_only_false_turns_verification_off() -> None:
    """Node: rejectUnauthorized !== false. A None, 0 or '' (a config's empty value)
    keeps verification on, for clients and for servers that request certificates."""
    p = P()
    server = _server(**p.server_options(p.foreign_server))
    await server.listen(0, "127.0.0.1")
    for value in (None, 0, ""):
        with pytest.raises(tls.TLSError) as info:
            await tls.connect(
                server.address().port, "localhost", ca=p.ca.cert_pem, reject_unauthorized=value
            )
        assert info.value.code == "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    server.close()
    await wait_event(server, "close")
    mutual = _server(request_cert=True, reject_unauthorized=None, ca=p.ca.cert_pem)
    await mutual.listen(0, "127.0.0.1")
    refused = next_event(mutual, "tlsClientError")
    anonymous = tls.connect(mutual.address().port, "localhost", ca=p.ca.cert_pem)
    anonymous.on("error", lambda err: None)  # TLS 1.3: the refusal comes after 'secureConnect'
    (err, _sock) = await wait_for(refused)
    assert err.code == "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE", err.code
    await wait_event(anonymous, "close", error_rejects=False)
    good = await _served(mutual.address().port, key=p.client.key_pem(), cert=p.client.chain_pem)
    good.destroy()
    mutual.close()
    await wait_event(mutual, "close")


async def test_bad_passphrase_and_set_secure_context_types() -> None:
    enc = P().server.key_pem("secret")
    with pytest.raises(TypeError) as info:
        tls.create_server(key=enc, cert=P().server.chain_pem, passphrase=5)
    assert info.value.code == "ERR_INVALID_ARG_TYPE"
    server = tls.create_server(key=enc, cert=P().server.chain_pem, passphrase=b"secret")
    with pytest.raises(TypeError) as info:
        server.set_secure_context(5)  # type: ignore[arg-type]
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


async def test_an_empty_ca_list_trusts_nothing(tmp_path, monkeypatch) -> None:
    """Node: ``ca: []`` replaces the default roots with none; it must not fall back to
    them. The test CA is made a "default root" through SSL_CERT_FILE to show it."""
    roots = tmp_path / "roots.pem"
    roots.write_bytes(P().ca.cert_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(roots))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    server = _server()
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    by_default = tls.create_secure_context(is_server=False)
    sock = await tls.connect(port, "localhost", secure_context=by_default)
    assert sock.authorized  # the default roots, which now hold the test CA
    sock.destroy()
    for ca in ([], ()):
        with pytest.raises(tls.TLSError) as info:
            await tls.connect(
                port, "localhost", secure_context=tls.create_secure_context(ca=ca, is_server=False)
            )
        assert info.value.code == "SELF_SIGNED_CERT_IN_CHAIN"  # the server sends its root
    server.close()
    await wait_event(server, "close")


async def test_nodes_spelling_of_an_https_option_names_ours() -> None:
    """http passes unknown options through, as Node; rejectUnauthorized=False would be
    dropped quietly (the request then fails to verify, or verifies unlike its author
    meant): it is refused, naming nodish's spelling."""
    with pytest.raises(TypeError, match="reject_unauthorized="):
        https.get("https://127.0.0.1:1/", rejectUnauthorized=False)
    with pytest.raises(TypeError, match="alpn_protocols="):
        https.request("https://127.0.0.1:1/", ALPNProtocols=["h2"])
