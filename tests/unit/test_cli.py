"""The ``nodish`` command line, run as a user runs it: a subprocess."""

from __future__ import annotations

import subprocess
import sys

import nodish


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodish", *args], capture_output=True, text=True, timeout=60
    )


def test_help_lists_every_tool() -> None:
    from nodish.cli import TOOLS

    out = run_cli("--help")
    assert out.returncode == 0
    for tool in TOOLS:
        assert tool in out.stdout


def test_version() -> None:
    out = run_cli("version")
    assert out.returncode == 0
    assert out.stdout.strip() == nodish.__version__


def test_unknown_command_fails_with_usage() -> None:
    out = run_cli("no-such-tool")
    assert out.returncode == 2
    assert "usage" in out.stderr
