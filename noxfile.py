"""The test suite on every supported Python found on this machine (make test-pythons).

Sessions:

* tests: the whole suite once per supported Python found (tests-3.10 ...).
* edges: the oldest and the newest found only; CI runs it besides make test.

An interpreter is a working pythonX.Y on the PATH, else one in pyenv's versions
folder ($PYENV_ROOT, default ~/.pyenv): pyenv's shims answer only for the
versions it has enabled, so its folders are searched directly. The versions not found
are named when the sessions are listed or run; none is ever downloaded. Arguments after
-- go to pytest: nox -s tests -- tests/unit -x.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")  # pyproject's requires-python, up to the newest

nox.options.sessions = ["tests"]
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.default_venv_backend = "venv"


def _version_of(executable: str) -> str | None:
    try:
        out = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _find(version: str) -> str | None:
    """The path of a working Python ``version``, or None."""
    on_path = shutil.which(f"python{version}")
    if on_path and _version_of(on_path) == version:
        return on_path
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    # the newest patch release first: 3.10.13 before 3.10.9
    found = sorted(
        root.glob(f"{version}.*/bin/python{version}"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")],
        reverse=True,
    )
    for candidate in found:
        if _version_of(str(candidate)) == version:
            return str(candidate)
    return None


FOUND: dict[str, str] = {}
for _version in SUPPORTED:
    _path = _find(_version)
    if _path is not None:
        FOUND[_version] = _path
MISSING = [v for v in SUPPORTED if v not in FOUND]

# nox looks interpreters up by name on the PATH: put each one found first.
os.environ["PATH"] = os.pathsep.join(
    [*dict.fromkeys(str(Path(p).parent) for p in FOUND.values()), os.environ.get("PATH", "")]
)
if MISSING:
    print(
        f"nox: Python {', '.join(MISSING)} not found (pythonX.Y on the PATH, or pyenv's "
        "versions folder): not tested here",
        file=sys.stderr,
    )

FOUND_VERSIONS = list(FOUND)
EDGES = list(dict.fromkeys([FOUND_VERSIONS[0], FOUND_VERSIONS[-1]])) if FOUND_VERSIONS else []


def _suite(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    if MISSING:
        session.log(f"Python {', '.join(MISSING)} not found on this machine: not tested")
    args = session.posargs or ["-q", "-p", "no:cacheprovider"]
    session.run("python", "-m", "pytest", *args, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session(python=FOUND_VERSIONS)
def tests(session: nox.Session) -> None:
    """The whole test suite, on each supported Python found."""
    _suite(session)


@nox.session(python=EDGES)
def edges(session: nox.Session) -> None:
    """The whole test suite on the oldest and the newest supported Python found."""
    _suite(session)
