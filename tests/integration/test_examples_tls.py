"""The seed chapter's TLS examples, run as programs: keys made by `nodish cert` in a
shell script, the mutual-TLS server and client talking, and openssl checking both."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OPENSSL = shutil.which("openssl") or "openssl"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess

    d = tmp_path_factory.mktemp("keys")
    env = {**os.environ, "NODISH": f"{sys.executable} -m nodish"}
    out = subprocess.run(
        ["sh", str(EXAMPLES / "10_make_keys.sh"), str(d)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    for name in ("server", "client"):
        check = subprocess.run(
            [OPENSSL, "verify", "-x509_strict", "-CAfile", "ca.crt", f"{name}.crt"],
            cwd=d,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr + check.stdout
    assert (d / "server.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    return d


async def start(name: str, keys: Path, port: int, **kw: object) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        env={**os.environ, "PORT": str(port), "KEYS": str(keys), "PYTHONUNBUFFERED": "1"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    raw = await wait_for(proc.stdout.readline())
    if not raw:
        err = await proc.stderr.read() if proc.stderr else b""
        pytest.fail(f"example exited: {err.decode(errors='replace')}")
    return raw.decode().rstrip("\n")


async def test_tls_examples_talk_mutual_tls(keys: Path) -> None:
    server = await start("11_tls_server.py", keys, 0)
    try:
        bound = await line(server)
        assert bound.startswith("server bound ")
        port = int(bound.split()[-1])
        client = await start("12_tls_client.py", keys, port)
        assert await line(client) == "client connected authorized"
        assert await line(server) == "server connected authorized"
        assert await line(client) == "welcome!"
        out, err = await wait_for(client.communicate(b"hello over tls\n"))
        assert client.returncode == 0, err.decode()
        assert out.decode().splitlines() == ["hello over tls", "client disconnected"]
        # openssl's client, with and without a client certificate
        proc = await asyncio.create_subprocess_exec(
            OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-CAfile",
            str(keys / "ca.crt"),
            "-cert",
            str(keys / "client.crt"),
            "-key",
            str(keys / "client.key"),
            "-quiet",
            "-verify_return_error",
            "-no_ign_eof",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert await wait_for(proc.stdout.readline()) == b"welcome!\n"
        assert await line(server) == "server connected authorized"
        proc.stdin.write(b"ping\n")
        assert await wait_for(proc.stdout.readline()) == b"ping\n"
        proc.stdin.close()
        await wait_for(proc.wait())
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
        await wait_for(server.wait())


async def test_https_examples(keys: Path) -> None:
    server = await start("13_https_server.py", keys, 0)
    try:
        bound = await line(server)
        port = int(bound.split()[-1])
        client = await start("14_https_client.py", keys, port)
        out, err = await wait_for(client.communicate())
        assert client.returncode == 0, err.decode()
        assert out.decode() == "hello world\n"
        curl = await asyncio.create_subprocess_exec(
            "curl",
            "-sS",
            "--cacert",
            str(keys / "ca.crt"),
            f"https://localhost:{port}/",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await wait_for(curl.communicate())
        assert out == b"hello world\n", err
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
        await wait_for(server.wait())
