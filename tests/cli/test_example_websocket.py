"""examples/08_websocket_server.py with its page (09), run as a program: Chromium loads
the page and exchanges updates with the server; a websockets client does the same."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.proc import TIMEOUT

pytestmark = pytest.mark.interop

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = os.environ.get("NODISH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "08_websocket_server.py")],
        env={**os.environ, "PORT": "0", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("listening on "), line
    yield proc, int(line.split()[-1])
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(TIMEOUT)
    finally:
        proc.kill()
        proc.communicate()


def test_the_page_sends_updates_and_shows_the_servers_answers_and_pushes(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _, port = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#latest")).to_contain_text(
                "updates, the last: update", timeout=TIMEOUT * 1000
            )
            expect(page.locator("#time")).to_have_text(
                re.compile(r"\d\d:\d\d:\d\d"), timeout=TIMEOUT * 1000
            )
        finally:
            browser.close()


def test_a_websockets_client_gets_an_answer_per_update(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    from websockets.sync.client import connect

    proc, port = server
    with connect(f"ws://127.0.0.1:{port}/updates", open_timeout=TIMEOUT) as ws:
        for n in (1, 2):
            ws.send(f"update {n}")
            msg = ws.recv(TIMEOUT)
            while msg.startswith("server time "):
                msg = ws.recv(TIMEOUT)
            assert msg == f"got {n} updates, the last: update {n}"
    assert proc.stdout is not None
    assert proc.stdout.readline().decode().startswith("websocket open from 127.0.0.1")
