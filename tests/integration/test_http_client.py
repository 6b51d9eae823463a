"""http.request / http.get / ClientRequest / Agent against real servers on loopback.

Every test here runs on uvloop and on plain asyncio (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from tests.helpers import DEFAULT_TIMEOUT, next_event, wait_event, wait_for
from tests.integration.http_util import serve, shut

from nodish import errors, http, net
from nodish.stream import consumers


def echo_handler(req, res):
    chunks: list[bytes] = []
    req.on("data", chunks.append)

    def done():
        res.set_header("X-Method", req.method)
        res.set_header("X-TE", req.headers.get("transfer-encoding", "-"))
        res.set_header("X-CL", req.headers.get("content-length", "-"))
        res.end(b"".join(chunks) or req.url.encode())

    req.on("end", done)


async def test_get_with_callback_event_order() -> None:
    server = await serve(echo_handler)
    order: list[str] = []
    done = asyncio.get_running_loop().create_future()

    def on_response(res):
        order.append(f"response {res.status_code}")
        res.on("data", lambda d: order.append(f"data {d.decode()}"))
        res.on("end", lambda: order.append("end"))

    req = http.get(f"http://127.0.0.1:{server.address().port}/x", on_response)
    req.on("socket", lambda s: order.append("socket"))
    req.on("finish", lambda: order.append("finish"))
    req.on("close", lambda: (order.append("close"), done.set_result(None)))
    await wait_for(done)
    assert order == ["socket", "finish", "response 200", "data /x", "end", "close"]
    await shut(server)


async def test_post_whole_body_uses_content_length() -> None:
    server = await serve(echo_handler)
    res = await http.request(f"http://127.0.0.1:{server.address().port}/", method="POST").end(
        b"payload"
    )
    assert res.headers["x-cl"] == "7" and res.headers["x-te"] == "-"
    assert await consumers.buffer(res) == b"payload"
    await shut(server)


async def test_chunked_upload_and_awaitable_request() -> None:
    server = await serve(echo_handler)
    req = http.request(f"http://127.0.0.1:{server.address().port}/", method="PUT")
    req.write("a" * 10)
    req.write(b"b" * 10)
    res = await req  # ends the request
    assert res.headers["x-te"] == "chunked"
    assert await consumers.text(res) == "a" * 10 + "b" * 10
    await shut(server)


async def test_keep_alive_reuses_one_connection() -> None:
    server = await serve(echo_handler)
    conns: list = []
    server.on("connection", conns.append)
    agent = http.Agent(keep_alive=True)
    url = f"http://127.0.0.1:{server.address().port}/"
    reused = []
    for _ in range(3):
        req = http.get(url, agent=agent)
        res = await req
        await consumers.text(res)
        reused.append(req.reused_socket)
    assert len(conns) == 1 and reused == [False, True, True]
    agent.destroy()
    await shut(server)


async def test_agent_without_keep_alive_closes_each_socket() -> None:
    server = await serve(echo_handler)
    conns: list = []
    server.on("connection", conns.append)
    url = f"http://127.0.0.1:{server.address().port}/"
    for _ in range(2):
        res = await http.get(url, agent=False)
        await consumers.text(res)
        assert res.headers.get("connection") == "close"
    assert len(conns) == 2
    await shut(server)


async def test_idle_pooled_socket_does_not_keep_a_program_alive() -> None:
    server = await serve(echo_handler)
    script = textwrap.dedent(
        f"""
        import nodish
        from nodish import http
        from nodish.stream import consumers

        async def main():
            res = await http.get("http://127.0.0.1:{server.address().port}/")
            print(await consumers.text(res), len(http.global_agent.free_sockets))

        nodish.run(main)
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), DEFAULT_TIMEOUT)
    assert proc.returncode == 0, err
    assert out.decode().split() == ["/", "1"]
    await shut(server)


async def test_socket_closed_by_server_while_idle_is_not_reused() -> None:
    server = await serve(echo_handler)
    agent = http.Agent()
    url = f"http://127.0.0.1:{server.address().port}/"
    res = await http.get(url, agent=agent)
    await consumers.text(res)
    (sock,) = next(iter(agent.free_sockets.values()))
    closed = next_event(sock, "close")
    server.close_idle_connections()
    await wait_for(closed)
    assert agent.free_sockets == {}
    req = http.get(url, agent=agent)
    res = await req
    assert await consumers.text(res) == "/" and req.reused_socket is False
    agent.destroy()
    await shut(server)


async def stale_server(answer_second: bool):
    """A raw server whose first connection drops the second request unanswered."""
    conns: list = []

    def on_conn(sock):
        conns.append(sock)
        n = len(conns)
        seen = [0]

        def on_data(data):
            seen[0] += data.count(b"\r\n\r\n")
            if n == 1 and seen[0] == 2:
                sock.destroy()  # the keep-alive race: closed as the request arrived
                return
            if b"\r\n\r\n" in data:
                sock.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        sock.on("data", on_data)
        sock.on("error", lambda e: None)

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    return server, conns


async def test_idempotent_request_on_stale_socket_is_retried_once() -> None:
    server, conns = await stale_server(True)
    agent = http.Agent()
    url = f"http://127.0.0.1:{server.address().port}/"
    assert await consumers.text(await http.get(url, agent=agent)) == "ok"
    req = http.get(url, agent=agent)
    res = await req
    assert await consumers.text(res) == "ok"
    assert len(conns) == 2
    agent.destroy()
    for s in conns:
        s.destroy()
    server.close()
    await wait_event(server, "close")


async def test_post_on_stale_socket_is_not_retried() -> None:
    server, conns = await stale_server(True)
    agent = http.Agent()
    url = f"http://127.0.0.1:{server.address().port}/"
    assert await consumers.text(await http.get(url, agent=agent)) == "ok"
    with pytest.raises(ConnectionResetError) as info:
        await http.request(url, agent=agent, method="POST").end(b"x")
    assert info.value.code == "ECONNRESET"
    assert len(conns) == 1
    agent.destroy()
    server.close()
    await wait_event(server, "close")


async def test_head_and_no_body_statuses_keep_the_connection_in_sync() -> None:
    def handler(req, res):
        if req.url == "/204":
            res.status_code = 204
            res.end()
        else:
            res.set_header("Content-Length", 5)
            res.end("hello" if req.method != "HEAD" else None)

    server = await serve(handler)
    agent = http.Agent()
    base = f"http://127.0.0.1:{server.address().port}"
    res = await http.request(base + "/", method="HEAD", agent=agent)
    assert res.headers["content-length"] == "5" and await consumers.text(res) == ""
    res = await http.get(base + "/204", agent=agent)
    assert res.status_code == 204 and await consumers.text(res) == ""
    req = http.get(base + "/", agent=agent)
    res = await req
    assert await consumers.text(res) == "hello" and req.reused_socket
    agent.destroy()
    await shut(server)


async def test_client_upgrade_event() -> None:
    def on_upgrade(req, socket, head):
        socket.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nbonus"
        )
        socket.on("data", socket.write)
        socket.on("end", socket.end)

    server = await serve(echo_handler)
    server.on("upgrade", on_upgrade)
    req = http.request(
        f"http://127.0.0.1:{server.address().port}/",
        headers={"Connection": "Upgrade", "Upgrade": "x"},
    )
    got = next_event(req, "upgrade")
    req.end()
    res, sock, head = await wait_for(got)
    assert res.status_code == 101 and head == b"bonus"
    sock.write(b"echo me")
    (data,) = await wait_event(sock, "data")
    assert data == b"echo me"
    sock.end()
    await wait_event(sock, "close")
    await shut(server)


async def test_continue_and_information_events() -> None:
    def check(req, res):
        res.write_early_hints({"Link": "</style.css>; rel=preload"})
        res.write_continue()
        req.pipe(res)

    server = await serve(echo_handler)
    server.on("checkContinue", check)
    req = http.request(
        f"http://127.0.0.1:{server.address().port}/",
        method="POST",
        headers={"Expect": "100-continue", "Content-Length": 4},
    )
    infos: list = []
    req.on("information", lambda info: infos.append(info.status_code))
    req.on("continue", lambda: req.end(b"body"))
    res = await wait_event(req, "response")
    assert await consumers.text(res[0]) == "body"
    assert infos == [103, 100]
    await shut(server)


async def test_connection_refused_is_an_error_event_and_raises_when_awaited() -> None:
    probe = net.create_server()
    await probe.listen(0, "127.0.0.1")
    port = probe.address().port
    probe.close()
    await wait_event(probe, "close")
    req = http.get(f"http://127.0.0.1:{port}/")
    (err,) = await wait_event(req, "error", error_rejects=False)
    assert err.code == "ECONNREFUSED"
    with pytest.raises(ConnectionRefusedError):
        await http.get(f"http://127.0.0.1:{port}/")


async def test_timeout_event() -> None:
    server = await serve(lambda req, res: None)  # never answers
    req = http.get(f"http://127.0.0.1:{server.address().port}/", timeout=0.1)
    await wait_event(req, "timeout")
    closed = next_event(req, "close")
    req.destroy()
    await wait_for(closed)
    await shut(server)


def test_argument_errors_raise_node_codes() -> None:
    import nodish.runtime

    nodish.runtime.get_loop()
    cases = [
        (lambda: http.request("https://example.com/"), "ERR_INVALID_PROTOCOL"),
        # a URL's space is percent-encoded (WHATWG, as Node); a raw path's is refused
        (lambda: http.request(host="x", path="/a b"), "ERR_UNESCAPED_CHARACTERS"),
        (lambda: http.request("http://x/", method="G T"), "ERR_INVALID_HTTP_TOKEN"),
        (lambda: http.request("http://x/", headers={"Bad Name": "v"}), "ERR_INVALID_HTTP_TOKEN"),
        (lambda: http.request("http://x/", agent="nope"), "ERR_INVALID_ARG_TYPE"),
    ]
    for fn, code in cases:
        with pytest.raises(errors.NodeError) as info:
            fn()
        assert info.value.code == code


async def test_close_delimited_response_and_trailers() -> None:
    def on_conn(sock):
        def on_data(data):
            if b"/trailers" in data:
                sock.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
                    b"2\r\nab\r\n0\r\nX-T: done\r\n\r\n"
                )
            else:
                sock.end(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")

        sock.on("data", on_data)

    server = net.create_server(on_conn)
    await server.listen(0, "127.0.0.1")
    base = f"http://127.0.0.1:{server.address().port}"
    res = await http.get(base + "/", agent=False)
    assert await consumers.text(res) == "until the end"
    res = await http.get(base + "/trailers", agent=False)
    assert await consumers.text(res) == "ab"
    assert res.trailers == {"x-t": "done"} and res.raw_trailers == ["X-T", "done"]
    server.close()
    await wait_event(server, "close")


async def test_max_sockets_queues_requests() -> None:
    server = await serve(echo_handler)
    conns: list = []
    server.on("connection", conns.append)
    agent = http.Agent(max_sockets=1)
    url = f"http://127.0.0.1:{server.address().port}/"
    reqs = [http.get(url + str(i), agent=agent) for i in range(4)]
    bodies = [await consumers.text(await r) for r in reqs]
    assert bodies == ["/0", "/1", "/2", "/3"] and len(conns) == 1
    agent.destroy()
    await shut(server)


async def test_global_agent_across_two_runs_in_one_program() -> None:
    server = await serve(echo_handler)
    script = textwrap.dedent(
        f"""
        import nodish
        from nodish import http
        from nodish.stream import consumers

        async def main():
            res = await http.get("http://127.0.0.1:{server.address().port}/run")
            print(await consumers.text(res), flush=True)

        nodish.run(main)
        nodish.run(main)  # a second loop: the pooled socket of the first is not reused
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), DEFAULT_TIMEOUT)
    assert proc.returncode == 0, err
    assert out.decode().split() == ["/run", "/run"]
    await shut(server)


async def test_agent_fifo_max_total_sockets_and_local_address() -> None:
    server = await serve(echo_handler)
    conns: list = []
    server.on("connection", conns.append)
    agent = http.Agent(max_total_sockets=1, scheduling="fifo")
    url = f"http://127.0.0.1:{server.address().port}/"
    reqs = [
        http.get(url + str(i), agent=agent, local_address="127.0.0.1", family=4) for i in range(3)
    ]
    assert [await consumers.text(await r) for r in reqs] == ["/0", "/1", "/2"]
    assert len(conns) == 1 and conns[0].remote_address == "127.0.0.1"
    assert agent.total_socket_count == 1
    agent.destroy()
    await shut(server)


async def test_chunked_upload_with_trailers() -> None:
    got = asyncio.get_running_loop().create_future()

    def handler(req, res):
        req.on("end", lambda: (got.set_result(req.trailers), res.end()))
        req.resume()

    server = await serve(handler)
    req = http.request(
        f"http://127.0.0.1:{server.address().port}/", method="POST", headers={"Trailer": "X-Md5"}
    )
    req.write("part one")
    req.add_trailers({"X-Md5": "abc"})
    res = await req
    await consumers.text(res)
    assert await wait_for(got) == {"x-md5": "abc"}
    await shut(server)


async def test_abort_emits_abort_then_close() -> None:
    server = await serve(lambda req, res: None)
    req = http.get(f"http://127.0.0.1:{server.address().port}/", agent=False)
    order: list[str] = []
    req.on("abort", lambda: order.append("abort"))
    closed = next_event(req, "close")
    await wait_for(next_event(server, "request"))
    req.abort()
    await wait_for(closed)
    assert order == ["abort"] and req.aborted and req.destroyed
    await shut(server)
