"""The package imports and its loop choice follows NODISH_LOOP."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import nodish
from nodish import runtime


def test_version_is_a_string() -> None:
    assert isinstance(nodish.__version__, str)


def test_default_loop_is_uvloop_unless_forced() -> None:
    code = "from nodish import runtime; print(type(runtime.new_event_loop()).__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("uvloop")
    forced = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"NODISH_LOOP": "asyncio", "PATH": ""},
    )
    assert forced.stdout.startswith("asyncio")


async def test_get_loop_returns_the_running_loop() -> None:
    assert runtime.get_loop() is asyncio.get_running_loop()


def test_python_dash_m_nodish_version_prints_the_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "nodish", "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == nodish.__version__


def test_the_cli_without_a_command_prints_help_and_succeeds() -> None:
    from nodish import cli

    assert cli.main([]) == 0
