"""The ``nodish`` command line, run as a user runs it: a subprocess."""

from __future__ import annotations

import argparse
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


def test_no_tool_help_shows_rest_markup() -> None:
    from nodish.cli import build_parser

    def helps(parser: argparse.ArgumentParser) -> list[str]:
        texts = [parser.format_help()]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    texts += helps(child)
        return texts

    texts = helps(build_parser())
    assert len(texts) > 8  # every tool, and the steps of those that have some
    for text in texts:
        for markup in ("``", ":func:", ":class:", ":meth:", "\\ "):
            assert markup not in text, f"{markup!r} in:\n{text}"


def test_every_tool_has_its_help_with_the_exit_statuses() -> None:
    from nodish.cli import TOOLS

    for tool in TOOLS:
        out = run_cli(tool, "--help")
        assert out.returncode == 0, tool
        assert out.stdout.startswith(f"usage: nodish {tool}"), tool
        if tool != "cert":  # nodish cert documents its own single failure status
            assert "exit status: 0 ok" in " ".join(out.stdout.split()), tool
