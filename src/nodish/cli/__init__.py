"""The ``nodish`` command line: one sub-command per module of this package.

Each tool lives in its own module here and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed arguments, returning the exit
status). Add a tool by writing its module and naming it in ``TOOLS``.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Sequence

from .. import __version__

# The order here is the order of ``nodish --help``.
TOOLS = ("demo", "echo", "connect", "get", "ws", "cert")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``nodish`` parser, every tool registered."""
    parser = argparse.ArgumentParser(
        prog="nodish",
        description="Node.js's network programming model for Python: tools and demo.",
    )
    parser.add_argument("--version", action="version", version=f"nodish {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda _args: print(__version__) or 0)
    for name in TOOLS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    _plain_text(parser)
    return parser


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def _plain_text(parser: argparse.ArgumentParser) -> None:
    """Strip reST markup (````x````, ``:func:`x```) that tools take from their docstrings
    out of every description and help line: ``--help`` is read in a terminal."""

    def plain(text: str | None) -> str | None:
        if text is None:
            return None
        return _ROLE.sub(r"\1", text).replace("``", "").replace("\\ ", "")

    parser.description = plain(parser.description)
    parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain(choice.help)
            for child in action.choices.values():
                _plain_text(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nodish`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    status: int = func(args)
    return status
