"""curl and Python's http.client as clients of a nodish server.

curl's verbose log shows keep-alive reuse of one connection across two URLs; both
peers exercise bodies, chunked uploads and downloads, HEAD, 204/304 and 100-continue.
"""

from __future__ import annotations

import asyncio
import http.client
import shutil
import subprocess

from tests.helpers import DEFAULT_TIMEOUT
from tests.integration.http_util import serve, shut
from tests.interop.test_http_node import py_route

CURL = shutil.which("curl") or "curl"  # installed by scripts/setup-system


async def curl(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        CURL,
        "-s",
        *args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), DEFAULT_TIMEOUT)
    return proc.returncode or 0, out, err


async def test_curl_reuses_one_connection_across_two_urls() -> None:
    server = await serve(py_route)
    conns: list = []
    server.on("connection", conns.append)
    base = f"http://127.0.0.1:{server.address().port}"
    rc, out, err = await curl("-v", base + "/hello", base + "/chunked")
    assert rc == 0 and out == b"helloabc"
    assert b"Re-using existing connection" in err or b"Reusing existing connection" in err
    assert len(conns) == 1
    await shut(server)


async def test_curl_bodies_chunked_head_and_continue() -> None:
    server = await serve(py_route)
    base = f"http://127.0.0.1:{server.address().port}"
    rc, out, _ = await curl("--data-binary", "payload", base + "/echo")
    assert out == b"payload"
    rc, out, _ = await curl(
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "@-",
        "-D",
        "-",
        base + "/echo",
        stdin=b"z" * 70_000,
    )
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"X-TE: chunked" in head and body == b"z" * 70_000
    rc, out, _ = await curl("-I", base + "/hello")
    assert rc == 0
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"\r\n\r\n")
    _, out, _ = await curl("-w", "%{http_code}", base + "/204")
    assert out == b"204"
    _, out, err = await curl(
        "-v", "-H", "Expect: 100-continue", "--data-binary", "continued", base + "/echo"
    )
    assert out == b"continued" and b"100 Continue" in err
    await shut(server)


def http_client_session(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEFAULT_TIMEOUT)
    out: dict = {}
    conn.request("GET", "/hello")
    r = conn.getresponse()
    out["hello"] = (r.status, r.read())
    sock = conn.sock
    conn.request("POST", "/echo", body=b"body bytes")
    r = conn.getresponse()
    out["echo"] = (r.getheader("X-CL"), r.read())
    conn.request("POST", "/echo", body=iter([b"ab", b"cd", b"ef"]), encode_chunked=True)
    r = conn.getresponse()
    out["chunked_up"] = (r.getheader("X-TE"), r.read())
    conn.request("GET", "/chunked")
    r = conn.getresponse()
    out["chunked_down"] = (r.getheader("Transfer-Encoding"), r.read())
    conn.request("HEAD", "/hello")
    r = conn.getresponse()
    out["head"] = (r.status, r.read())
    conn.request("GET", "/304")
    r = conn.getresponse()
    out["304"] = (r.status, r.read())
    out["same_socket"] = conn.sock is sock
    conn.close()
    return out


async def test_python_http_client_session_on_one_connection() -> None:
    server = await serve(py_route)
    out = await asyncio.to_thread(http_client_session, server.address().port)
    assert out == {
        "hello": (200, b"hello"),
        "echo": ("10", b"body bytes"),
        "chunked_up": ("chunked", b"abcdef"),
        "chunked_down": ("chunked", b"abc"),
        "head": (200, b""),
        "304": (304, b""),
        "same_socket": True,
    }
    await shut(server)
