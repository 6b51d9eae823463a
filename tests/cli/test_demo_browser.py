"""``nodish demo`` in Chromium (Debian's, driven by Playwright): two tabs chat live over
WebSocket, through the HTTP page and through the HTTPS page with the demo's development
CA trusted by the browser (an NSS database made with certutil, as a user would)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.proc import TIMEOUT, Tool

pytestmark = pytest.mark.interop

CHROMIUM = os.environ.get("NODISH_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = TIMEOUT * 1000


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Tool, dict[str, str], Path]]:
    """The demo on free ports with its CA in a private data directory:
    (tool, service name -> URL, CA file)."""
    ports = [a for s in ("tcp", "udp", "http", "https") for a in (f"--{s}-port", "0")]
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    with Tool("demo", *ports, env=env) as tool:
        urls = {}
        for line in tool.lines_until("ready"):
            m = re.match(r"\s+(HTTPS?)\s+(\S+)", line)
            if m:
                urls[m.group(1)] = m.group(2)
        yield tool, urls, tmp_path / "data" / "nodish" / "demo" / "ca-cert.pem"
        status, err = tool.interrupt()
        assert status == 0
        assert "Traceback" not in err


def browser_home(tmp_path: Path, ca_file: Path | None) -> Path:
    """A HOME whose NSS database (what Chromium on Linux trusts) holds ``ca_file``."""
    home = tmp_path / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{db}", "-N", "--empty-password"], check=True)
    if ca_file is not None:
        subprocess.run(
            [
                "certutil",
                "-d",
                f"sql:{db}",
                "-A",
                "-t",
                "C,,",
                "-n",
                "nodish-demo",
                "-i",
                str(ca_file),
            ],
            check=True,
        )
    return home


def chat_between_two_tabs(browser: Any, url1: str, url2: str, tool: Tool, scheme: str) -> None:
    from playwright.sync_api import expect

    one = browser.new_page()
    one.goto(url1)
    expect(one.locator("#count")).to_have_text("1", timeout=WAIT_MS)
    me = one.locator("#me").inner_text()
    two = browser.new_page()
    two.goto(url2)
    expect(one.locator("#count")).to_have_text("2", timeout=WAIT_MS)
    expect(two.locator("#count")).to_have_text("2", timeout=WAIT_MS)
    other = two.locator("#me").inner_text()
    assert other != me and other.startswith("guest-")
    expect(one.locator("#log li.notice").last).to_have_text(f"{other} joined", timeout=WAIT_MS)

    two.fill("#text", "你好 from the second tab")
    two.press("#text", "Enter")
    for tab in (one, two):  # pushed to everybody, the sender included
        expect(tab.locator("#log li.msg").last).to_have_text(
            f"{other}你好 from the second tab", timeout=WAIT_MS
        )
    one.fill("#text", "and back")
    one.click("button")
    expect(two.locator("#log li.msg").last).to_have_text(f"{me}and back", timeout=WAIT_MS)

    two.close()
    expect(one.locator("#log li.notice").last).to_have_text(f"{other} left", timeout=WAIT_MS)
    expect(one.locator("#count")).to_have_text("1", timeout=WAIT_MS)
    log = "\n".join(tool.lines_until(f"close {other}"))
    assert f"[{scheme}] open {other} from 127.0.0.1:" in log
    assert f"[{scheme}] message from {other}: '你好 from the second tab'" in log
    one.close()


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run scripts/setup-system (Debian's chromium "
            "package) or set NODISH_CHROMIUM to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw.chromium


def test_two_tabs_chat_through_the_http_page(
    demo: tuple[Tool, dict[str, str], Path], chromium: Any, tmp_path: Path
) -> None:
    tool, urls, _ = demo
    browser = chromium.launch(executable_path=CHROMIUM, env={**os.environ, "HOME": str(tmp_path)})
    try:
        chat_between_two_tabs(browser, urls["HTTP"], urls["HTTP"], tool, "ws")
    finally:
        browser.close()


def test_two_tabs_chat_through_the_https_page_trusting_the_demo_ca(
    demo: tuple[Tool, dict[str, str], Path], chromium: Any, tmp_path: Path
) -> None:
    tool, urls, ca_file = demo
    home = browser_home(tmp_path, ca_file)
    browser = chromium.launch(executable_path=CHROMIUM, env={**os.environ, "HOME": str(home)})
    try:
        https = urls["HTTPS"].replace("127.0.0.1", "localhost")
        chat_between_two_tabs(browser, https, https, tool, "wss")
    finally:
        browser.close()


def test_the_https_page_is_refused_by_a_browser_that_does_not_trust_the_ca(
    demo: tuple[Tool, dict[str, str], Path], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import Error

    _, urls, _ = demo
    home = browser_home(tmp_path, None)
    browser = chromium.launch(executable_path=CHROMIUM, env={**os.environ, "HOME": str(home)})
    try:
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            browser.new_page().goto(urls["HTTPS"])
    finally:
        browser.close()


def test_an_http_tab_and_an_https_tab_share_one_room(
    demo: tuple[Tool, dict[str, str], Path], chromium: Any, tmp_path: Path
) -> None:
    tool, urls, ca_file = demo
    home = browser_home(tmp_path, ca_file)
    browser = chromium.launch(executable_path=CHROMIUM, env={**os.environ, "HOME": str(home)})
    try:
        https = urls["HTTPS"].replace("127.0.0.1", "localhost")
        chat_between_two_tabs(browser, urls["HTTP"], https, tool, "wss")
    finally:
        browser.close()
