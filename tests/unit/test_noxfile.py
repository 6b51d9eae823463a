"""noxfile.py (``make test-pythons``, CI's ``nox -s edges``) finds the Pythons it can and
names those it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def nox_list(tmp_path: Path, path: str) -> tuple[list[str], str]:
    """The sessions ``nox --list`` shows, and what it printed on stderr."""
    env = {**os.environ, "PYENV_ROOT": str(tmp_path), "PATH": path}
    out = subprocess.run(
        [sys.executable, "-m", "nox", "--list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    listed = [line for line in out.stdout.splitlines() if line[:2] in ("* ", "- ")]
    sessions = [line.split()[1] for line in listed if " -> " in line]
    return sessions, out.stderr


def fake_pyenv_python(tmp_path: Path, version: str, real: str) -> None:
    """A pyenv-style versions folder holding this interpreter under ``version``."""
    bindir = tmp_path / "versions" / f"{version}.99" / "bin"
    bindir.mkdir(parents=True)
    (bindir / f"python{version}").symlink_to(real)


def test_missing_pythons_are_named_and_found_ones_get_sessions(tmp_path: Path) -> None:
    # only the running interpreter, on a PATH of its own: every other version is missing
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / f"python{HERE}").symlink_to(sys.executable)
    sessions, stderr = nox_list(tmp_path, str(bindir))
    missing = [v for v in ("3.10", "3.11", "3.12", "3.13") if v != HERE]
    assert f"Python {', '.join(missing)} not found" in stderr
    assert sessions == [f"tests-{HERE}", f"edges-{HERE}"]


def test_a_pyenv_version_whose_shim_is_disabled_is_found_in_its_folder(tmp_path: Path) -> None:
    fake_pyenv_python(tmp_path, HERE, sys.executable)
    sessions, stderr = nox_list(tmp_path, str(tmp_path / "nothing-here"))
    assert f"tests-{HERE}" in sessions
    assert HERE not in stderr.split("not found")[0]
