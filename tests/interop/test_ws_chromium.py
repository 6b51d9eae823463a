"""Chromium (Debian's package, driven by Playwright) against nodish's http + ws servers.

The page is served by nodish.http; its script opens a WebSocket to the same server
(permessage-deflate on, as Chromium offers it), sends text and binary, receives the
server's pushes and echoes, and closes with a code the server sees.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import next_event, wait_for

from nodish import http
from nodish.ws import WebSocket, WebSocketServer

pytestmark = pytest.mark.interop

CHROMIUM = os.environ.get("NODISH_CHROMIUM", "/usr/bin/chromium")

PAGE = b"""<!doctype html>
<html><body><script>
window.result = new Promise((resolve) => {
  const log = [];
  const ws = new WebSocket(`ws://${location.host}/live`);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    log.push(['open', ws.extensions]);
    ws.send('from the browser');
    ws.send(new Uint8Array([1, 2, 3, 250]).buffer);
  };
  ws.onmessage = (ev) => {
    const data = typeof ev.data === 'string' ? ev.data : Array.from(new Uint8Array(ev.data));
    log.push(['message', data]);
    if (log.length === 5) ws.close(4321, 'browser done');
  };
  ws.onclose = (ev) => { log.push(['close', ev.code, ev.reason, ev.wasClean]); resolve(log); };
});
</script></body></html>"""


async def test_a_page_opens_a_websocket_sends_and_receives_pushes() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run scripts/setup-system (Debian's chromium "
            "package) or set NODISH_CHROMIUM to a Chromium binary"
        )
    from playwright.async_api import async_playwright

    def page(req: Any, res: Any) -> None:
        res.write_head(200, {"Content-Type": "text/html", "Content-Length": str(len(PAGE))})
        res.end(PAGE)

    server = http.create_server(page)
    wss = WebSocketServer(server=server, path="/live", per_message_deflate=True)
    seen: list[Any] = []

    def on_connection(ws: WebSocket, req: Any) -> None:
        ws.send("push 1")
        ws.send("push 2")
        ws.on("message", lambda data, is_binary: (seen.append(data), ws.send(data)))
        ws.on("close", lambda code, reason: seen.append((code, reason)))

    wss.on("connection", on_connection)
    await server.listen(0, "127.0.0.1")
    port = server.address().port
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                tab = await browser.new_page()
                await tab.goto(f"http://127.0.0.1:{port}/")
                log = await tab.evaluate("window.result")
            finally:
                await browser.close()
        assert log[0][0] == "open" and log[0][1].startswith("permessage-deflate")
        assert log[1:5] == [
            ["message", "push 1"],
            ["message", "push 2"],
            ["message", "from the browser"],
            ["message", [1, 2, 3, 250]],
        ]
        assert log[5] == ["close", 4321, "browser done", True]
        assert seen == ["from the browser", b"\x01\x02\x03\xfa", (4321, "browser done")]
    finally:
        closed = next_event(server, "close")
        wss.close()
        server.close()
        await wait_for(closed)
