"""Chromium (Playwright, Debian's chromium) on a page served by nodish, with the official
socket.io client bundle also served by nodish, talking to nodish's Socket.IO server.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from playwright.async_api import async_playwright

from nodish import http, socketio

pytestmark = pytest.mark.interop

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

PAGE = b"""<!doctype html>
<html><head><title>socket.io on nodish</title>
<script src="/socket.io/socket.io.js"></script></head>
<body><script>
  window.log = [];
  const socket = io({ auth: { who: 'chromium' } });
  socket.on('connect', () => {
    window.log.push('connect:' + socket.io.engine.transport.name);
    socket.emit('hello', 'from the browser', new Uint8Array([1, 2, 3]), (answer, bin) => {
      window.log.push('ack:' + answer + ':' + Array.from(new Uint8Array(bin)).join(','));
    });
  });
  socket.io.on('open', () => {
    window.log.push('open:' + socket.io.engine.transport.name);
    socket.io.engine.on('upgrade', (t) => window.log.push('upgrade:' + t.name));
  });
  socket.on('news', (n) => window.log.push('news:' + n));
</script></body></html>
"""


async def test_chromium_page_with_the_official_bundle() -> None:
    def page(req: Any, res: Any) -> None:
        res.write_head(200, {"Content-Type": "text/html", "Content-Length": str(len(PAGE))})
        res.end(PAGE)

    server = http.create_server(page)
    io = socketio.Server(server)  # the client bundle is served by default
    seen: list[Any] = []

    def on_connection(socket: socketio.Socket) -> None:
        seen.append(socket.handshake["auth"])

        def hello(text: str, data: bytes, ack: Any) -> None:
            ack(text.upper(), bytes(reversed(data)))
            io.emit("news", "for everyone")

        socket.on("hello", hello)

    io.on("connection", on_connection)
    await server.listen(0, "127.0.0.1")
    port = io.address().port
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = await browser.new_page()
            await tab.goto(f"http://127.0.0.1:{port}/")
            await tab.wait_for_function(
                "window.log.some((e) => e.startsWith('news:'))"
                " && window.log.some((e) => e.startsWith('upgrade:'))",
                timeout=15000,
            )
            log = await tab.evaluate("window.log")
        finally:
            await browser.close()
    assert log[0] == "open:polling"  # long-polling first, then the upgrade
    assert any(e.startswith("connect:") for e in log)
    assert "ack:FROM THE BROWSER:3,2,1" in log
    assert "news:for everyone" in log
    assert "upgrade:websocket" in log
    assert seen == [{"who": "chromium"}]
    io.close()


CROSS_ORIGIN_PAGE = """<!doctype html>
<html><head><script src="{sio}/socket.io/socket.io.js"></script></head>
<body><script>
  window.log = [];
  const socket = io('{sio}', {{ withCredentials: true, reconnection: false }});
  socket.on('connect', () => {{
    socket.emit('where', location.origin, (answer) => window.log.push('ack:' + answer));
  }});
  socket.io.on('open', () => socket.io.engine.on('upgrade', (t) => window.log.push('upgrade:' + t.name)));
  socket.on('connect_error', (err) => window.log.push('connect_error:' + err.message));
</script></body></html>
"""


async def test_chromium_cross_origin_polling_follows_the_cors_option() -> None:
    # the page comes from one server, Socket.IO from another: the browser lets the
    # long-polling requests through only for the origin the cors option names, with
    # credentials (so the exact origin and Allow-Credentials are required)
    pages = http.create_server(
        lambda req, res: res.end(CROSS_ORIGIN_PAGE.format(sio=sio_url).encode())
    )
    await pages.listen(0, "127.0.0.1")
    allowed = f"http://localhost:{pages.address().port}"
    refused = f"http://127.0.0.1:{pages.address().port}"  # another origin, same page
    io = socketio.Server(cors={"origin": [allowed], "credentials": True})
    io.on("connection", lambda s: s.on("where", lambda origin, ack: ack(f"served {origin}")))
    await io.listen(0, "127.0.0.1")
    sio_url = f"http://127.0.0.1:{io.address().port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            good = await browser.new_page()
            await good.goto(allowed + "/")
            await good.wait_for_function(
                "window.log.includes('upgrade:websocket')"
                " && window.log.some((e) => e.startsWith('ack:'))",
                timeout=15000,
            )
            good_log = await good.evaluate("window.log")
            bad = await browser.new_page()
            await bad.goto(refused + "/")
            await bad.wait_for_function(
                "window.log.some((e) => e.startsWith('connect_error:'))", timeout=15000
            )
            bad_log = await bad.evaluate("window.log")
        finally:
            await browser.close()
    assert f"ack:served {allowed}" in good_log
    assert bad_log == ["connect_error:xhr poll error"]
    io.close()
    pages.close()
