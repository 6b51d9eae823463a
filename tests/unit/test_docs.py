"""The docs keep up with the code: every public name has its line in its reference page,
every page the README and the docs index link to exists, and every Python block in the
docs at least compiles."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = {"net": "net.md", "dgram": "dgram.md", "events": "events.md"}
REFERENCE |= {"stream": "stream.md", "timers": "timers.md"}
REFERENCE |= {"ws": "ws.md"}
REFERENCE |= {"http": "http.md"}
REFERENCE |= {"cluster": "cluster.md"}

# asyncio's Protocol callbacks: how a socket is driven, not something users call.
PROTOCOL_CALLBACKS = {
    "connection_made",
    "data_received",
    "eof_received",
    "pause_writing",
    "resume_writing",
    "connection_lost",
    "datagram_received",
    "error_received",
}


def public_names(module_name: str) -> set[str]:
    module = importlib.import_module(f"nodish.{module_name}")
    names = set(module.__all__)
    own = f"nodish.{module_name}"  # inherited API is documented on its own page
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            for klass in obj.__mro__:
                if klass.__module__ == own or klass.__module__.startswith(own + "."):
                    names |= {n for n in vars(klass) if not n.startswith("_")}
    return names - PROTOCOL_CALLBACKS


@pytest.mark.parametrize("module_name", sorted(REFERENCE))
def test_every_public_name_is_in_its_reference_page(module_name: str) -> None:
    text = (DOCS / "reference" / REFERENCE[module_name]).read_text()
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    missing = sorted(public_names(module_name) - words)
    assert not missing, f"docs/reference/{REFERENCE[module_name]} does not mention {missing}"


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "examples" / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_compile(page: Path) -> None:
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S)):
        compile(block, f"{page.name}[{i}]", "exec")
