"""Session ticket keys: ``ticket_keys``, ``get_ticket_keys``/``set_ticket_keys`` and
resumption across nodish servers that share keys, over real loopback sockets."""

from __future__ import annotations

import os
import shutil
import struct
import warnings
from pathlib import Path

import pytest
from tests.helpers import next_event, wait_event, wait_for
from tests.integration.test_https import handler
from tests.integration.test_tls import echo_server
from tests.tls_fixtures import pki

from nodish import errors, https, net, tls
from nodish.stream import consumers
from nodish.tls import _openssl
from nodish.tls.context import openssl_ticket_keys

VERSIONS = ["TLSv1.3", "TLSv1.2"]


async def close(*servers) -> None:
    for server in servers:
        server.close()
        await wait_event(server, "close")


async def new_session(server, **opts) -> bytes:
    """A full handshake with ``server``; the session it issued."""
    sock = tls.connect(server.address().port, "localhost", **pki().client_options(), **opts)
    session = next_event(sock, "session")
    await sock
    assert not sock.is_session_reused()
    (ticket,) = await wait_for(session)
    sock.destroy()
    return ticket


async def resumes(server, session: bytes, **opts) -> bool:
    """Whether ``session`` resumes on ``server``; both ends must agree, and the
    connection works either way."""
    accepted = next_event(server, "secureConnection")
    sock = await tls.connect(
        server.address().port, "localhost", session=session, **pki().client_options(), **opts
    )
    (server_side,) = await wait_for(accepted)
    assert sock.authorized
    assert server_side.is_session_reused() == sock.is_session_reused()
    reply = next_event(sock, "data")
    sock.write(b"ping")
    assert await wait_for(reply) == (b"ping",)
    sock.destroy()
    return sock.is_session_reused()


@pytest.mark.parametrize("version", VERSIONS)
async def test_servers_with_the_same_keys_resume_each_others_sessions(version) -> None:
    keys = os.urandom(48)
    a = await echo_server(ticket_keys=keys, max_version=version)
    b = await echo_server(ticket_keys=bytearray(keys), max_version=version)
    assert a.get_ticket_keys() == b.get_ticket_keys() == keys
    session = await new_session(a)
    assert await resumes(b, session)
    assert await resumes(a, session)
    await close(a, b)


@pytest.mark.parametrize("version", VERSIONS)
async def test_different_keys_make_a_full_handshake(version) -> None:
    a = await echo_server(ticket_keys=os.urandom(48), max_version=version)
    b = await echo_server(ticket_keys=os.urandom(48), max_version=version)
    c = await echo_server(max_version=version)  # keys of its own, random
    session = await new_session(a)
    assert not await resumes(b, session)
    assert not await resumes(c, session)
    assert await resumes(a, session)
    assert len(c.get_ticket_keys()) == 48 and c.get_ticket_keys() != a.get_ticket_keys()
    await close(a, b, c)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_forged_ticket_makes_a_full_handshake_and_the_server_serves_on(version) -> None:
    keys = os.urandom(48)
    a = await echo_server(ticket_keys=keys, max_version=version)
    same_name = await echo_server(ticket_keys=keys[:16] + os.urandom(32), max_version=version)
    session = await new_session(a)
    # The ticket inside the session starts with the key name (keys[:16]), then the IV,
    # the encrypted session and the HMAC: flip a bit of the encrypted part.
    at = session.index(keys[:16]) + 40
    forged = session[:at] + bytes([session[at] ^ 1]) + session[at + 1 :]
    assert not await resumes(a, forged)
    assert not await resumes(same_name, session)  # the name matches, the HMAC does not
    assert await resumes(a, session)
    await close(a, same_name)


async def test_set_ticket_keys_rotates() -> None:
    old, new = os.urandom(48), os.urandom(48)
    a = await echo_server(ticket_keys=old)
    b = await echo_server(ticket_keys=new)
    session = await new_session(a)
    assert await resumes(a, session)
    a.set_ticket_keys(memoryview(new))
    assert a.get_ticket_keys() == new
    assert not await resumes(a, session)
    rotated = await new_session(a)
    assert await resumes(a, rotated) and await resumes(b, rotated)
    await close(a, b)


async def test_set_secure_context_keeps_the_keys_unless_given() -> None:
    p = pki()
    a = await echo_server()  # random keys, made at start
    keys = a.get_ticket_keys()
    session = await new_session(a)
    a.set_secure_context(p.server_options())
    assert a.get_ticket_keys() == keys
    assert await resumes(a, session)  # a certificate reload keeps sessions resumable
    other = os.urandom(48)
    a.set_secure_context(p.server_options(), ticket_keys=other)
    assert a.get_ticket_keys() == other
    assert not await resumes(a, session)
    await close(a)


@pytest.mark.parametrize("version", VERSIONS)
async def test_session_id_context_keeps_applications_apart(version) -> None:
    p = pki()
    keys = os.urandom(48)
    a = await echo_server(ticket_keys=keys, session_id_context="app-a", max_version=version)
    a2 = await echo_server(ticket_keys=keys, session_id_context="app-a", max_version=version)
    b = await echo_server(ticket_keys=keys, session_id_context="app-b", max_version=version)
    session = await new_session(a)
    assert await resumes(a2, session)
    assert not await resumes(b, session)  # same keys, another application
    a.set_secure_context(p.server_options(), max_version=version)  # keeps keys and context
    assert await resumes(a, session)
    with pytest.raises(errors.ERR_INVALID_ARG_TYPE):
        tls.create_server(session_id_context=b"app", **p.server_options())
    with pytest.raises(tls.TLSError) as info:
        tls.create_server(session_id_context="x" * 33, **p.server_options())
    assert info.value.code == "ERR_SSL_SSL_SESSION_ID_CONTEXT_TOO_LONG"
    await close(a, a2, b)


async def test_a_shared_secure_context_shares_its_keys() -> None:
    keys = os.urandom(48)
    given = tls.create_secure_context(pki().server_options(), ticket_keys=keys)
    a = await echo_server(secure_context=given)
    assert a.get_ticket_keys() == given.ticket_keys == keys
    shared = tls.create_secure_context(pki().server_options())
    b = await echo_server(secure_context=shared)  # random keys, set on the context
    c = await echo_server(secure_context=shared)  # the context's keys, not new ones
    assert b.get_ticket_keys() == c.get_ticket_keys() == shared.ticket_keys
    assert await resumes(c, await new_session(b))
    other = os.urandom(48)
    d = await echo_server(
        secure_context=tls.create_secure_context(pki().server_options()), ticket_keys=other
    )
    assert d.get_ticket_keys() == other
    await close(a, b, c, d)


async def test_sni_contexts_get_the_servers_keys() -> None:
    p = pki()
    keys = os.urandom(48)
    sni_b = tls.create_secure_context(p.server_options(p.server_b))
    a = await echo_server(ticket_keys=keys)
    a.add_context("b.test", sni_b)
    b = await echo_server(ticket_keys=keys, sni_callback=lambda name: p.server_options(p.server_b))
    session = await new_session(a, servername="b.test")
    assert sni_b.ticket_keys == keys
    assert await resumes(b, session, servername="b.test")
    await close(a, b)


async def test_the_keys_reach_openssl_derived_the_same_everywhere() -> None:
    keys = os.urandom(48)
    server = tls.create_server(ticket_keys=keys, **pki().server_options())
    ctx = tls.create_secure_context(pki().server_options(), ticket_keys=keys)
    raw = _openssl.get_ticket_keys(server._secure_context.context)
    assert raw == _openssl.get_ticket_keys(ctx.context) == openssl_ticket_keys(keys)
    assert raw[:16] == keys[:16] and len(raw) == _openssl.TICKET_KEY_LENGTH
    assert https.create_server(ticket_keys=keys, **pki().server_options()).get_ticket_keys() == keys


async def test_https_agent_resumes_across_a_balancer_in_front_of_two_servers() -> None:
    """The deployment ``ticket_keys`` exist for: a TCP round-robin balancer in front of
    two HTTPS servers; the Agent's cached session resumes on either."""
    keys = os.urandom(48)
    backends, reused = [], []
    for i in range(2):
        server = https.create_server(handler, ticket_keys=keys, **pki().server_options())
        server.on("secureConnection", lambda s, i=i: reused.append((i, s.is_session_reused())))
        await server.listen(0, "127.0.0.1")
        backends.append(server)
    turn = iter(range(100))

    def forward(client) -> None:
        upstream = net.connect(backends[next(turn) % 2].address().port, "127.0.0.1")
        client.pipe(upstream)
        upstream.pipe(client)
        client.on("close", lambda *_: upstream.destroy())
        upstream.on("close", lambda *_: client.destroy())

    balancer = net.create_server(forward)
    await balancer.listen(0, "127.0.0.1")
    agent = https.Agent(keep_alive=False, ca=pki().ca.cert_pem)
    for _ in range(4):
        res = await https.get(f"https://localhost:{balancer.address().port}/", agent=agent)
        assert await consumers.text(res) == "GET / anonymous 0"
    assert reused == [(0, False), (1, True), (0, True), (1, True)]
    agent.destroy()
    await close(balancer, *backends)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("a" * 48, "ERR_INVALID_ARG_TYPE"),
        (48, "ERR_INVALID_ARG_TYPE"),
        ([0] * 48, "ERR_INVALID_ARG_TYPE"),
        (b"", "ERR_INVALID_ARG_VALUE"),
        (b"x" * 47, "ERR_INVALID_ARG_VALUE"),
        (b"x" * 80, "ERR_INVALID_ARG_VALUE"),
    ],
)
async def test_bad_ticket_keys_raise_at_once(value, code) -> None:
    p = pki()
    with pytest.raises(errors.NodeError) as info:
        tls.create_server(ticket_keys=value, **p.server_options())
    assert info.value.code == code
    if code == "ERR_INVALID_ARG_VALUE":
        assert str(info.value) == (
            f"The property 'options.ticket_keys' must be exactly 48 bytes. Received {len(value)}"
        )
    with pytest.raises(errors.NodeError) as info:
        tls.create_secure_context(p.server_options(), ticket_keys=value)
    assert info.value.code == code
    server = await echo_server()
    keys = server.get_ticket_keys()
    with pytest.raises(errors.NodeError) as info:
        server.set_ticket_keys(value)
    assert info.value.code == code
    with pytest.raises(errors.NodeError) as info:
        server.set_secure_context(p.server_options(), ticket_keys=value)
    assert info.value.code == code
    assert server.get_ticket_keys() == keys  # nothing changed; it still serves
    session = await new_session(server)
    assert await resumes(server, session)
    await close(server)


# --------------------------------------------------------------- no reachable OpenSSL


def _binary() -> Path:
    return Path(_openssl._load().path)


def _stripped(copy: Path) -> None:
    """What ``strip`` leaves for our reader: the symbol table section is gone."""
    data = bytearray(copy.read_bytes())
    shoff, _, _, _, _, shentsize, shnum = struct.unpack_from("<QIHHHHH", data, 0x28)
    for i in range(shnum):
        if struct.unpack_from("<I", data, shoff + i * shentsize + 4)[0] == 2:  # SHT_SYMTAB
            struct.pack_into("<I", data, shoff + i * shentsize + 4, 0)
    copy.write_bytes(bytes(data))


def _rebuilt(copy: Path) -> None:
    """Another build of the same code: only its build-id differs."""
    data = bytearray(copy.read_bytes())
    note = struct.pack("<III", 4, 20, 3) + b"GNU\0"  # NT_GNU_BUILD_ID, 20 bytes of SHA-1
    at = data.index(note, 0, 4096) + len(note)
    data[at] ^= 0xFF
    copy.write_bytes(bytes(data))


def _without_ctrl(copy: Path) -> None:
    data = copy.read_bytes()
    assert b"\0SSL_CTX_ctrl\0" in data
    copy.write_bytes(data.replace(b"\0SSL_CTX_ctrl\0", b"\0SSL_CTX_ctrX\0"))


def _not_elf(copy: Path) -> None:
    copy.write_bytes(b"MZ\x90\x00 not an ELF file")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_stripped, "has no symbol table (stripped)"),
        (_rebuilt, "is not the file loaded (its build-id differs)"),
        (_without_ctrl, "has no function named SSL_CTX_ctrl"),
        (_not_elf, "is not an ELF file"),
    ],
)
async def test_an_unreadable_binding_refuses_ticket_keys(tmp_path, damage, reason) -> None:
    if _openssl.reason() is not None:
        pytest.fail(f"the installed binding should be readable: {_openssl.reason()}")
    copy = tmp_path / "_rust.abi3.so"
    shutil.copyfile(_binary(), copy)
    damage(copy)
    p = pki()
    _openssl.reset(str(copy))
    try:
        assert (why := _openssl.reason(_openssl.TICKET_FUNCTION)) and why.endswith(reason)
        with pytest.raises(errors.ERR_METHOD_NOT_IMPLEMENTED) as info:
            tls.create_server(ticket_keys=os.urandom(48), **p.server_options())
        assert str(info.value) == f"Ticket keys are not implemented here: {why}"
        assert "\n" not in str(info.value)
        with pytest.raises(errors.ERR_METHOD_NOT_IMPLEMENTED):
            tls.create_secure_context(p.server_options(), ticket_keys=os.urandom(48))
        # Without ticket keys a server works as ever, on OpenSSL's own random keys.
        server = await echo_server()
        with pytest.raises(errors.ERR_METHOD_NOT_IMPLEMENTED):
            server.get_ticket_keys()
        with pytest.raises(errors.ERR_METHOD_NOT_IMPLEMENTED):
            server.set_ticket_keys(os.urandom(48))
        with pytest.raises(errors.ERR_INVALID_ARG_VALUE):
            server.set_ticket_keys(b"short")  # a bad argument is still that first
        session = await new_session(server)
        assert await resumes(server, session)
        await close(server)
    finally:
        _openssl.reset()
    assert _openssl.reason() is None


def test_listening_for_events_nodish_never_emits_warns() -> None:
    server = tls.create_server(**pki().server_options())
    for add, event in (
        (server.on, "newSession"),
        (server.once, "resumeSession"),
        (server.prepend_listener, "OCSPRequest"),
    ):
        with pytest.warns(RuntimeWarning, match=f"never emits '{event}'") as record:
            add(event, lambda *args: None)
        assert record[0].filename == __file__  # it points at the caller's line
        assert server.listener_count(event) == 1  # still added, as Node would
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        server.on("secureConnection", lambda sock: None)
