"""Shared plumbing for the benchmarks: pinned child processes, interleaving, medians, tables.

Theory of operation
-------------------
A benchmark module (``bench/bench_<name>.py``) exposes ``run(quick=False)`` and returns
rows (:class:`Row`). It measures every contender in a child process of its own, pinned
to a core (:func:`pinned`), so that no run inherits another's warm caches, JIT or heap,
and it interleaves the contenders (:func:`interleave`: A B A B ..., never all A then all
B) so that a slow minute on this shared machine hurts every contender alike. Each row
holds the median of the repeats.

Pinning rule: everything measured runs on core 0 (the server, or the single process of
a micro-benchmark); a load generator runs on core 1. On a one-core machine both share
core 0 and the results file says so.

This module knows nothing about any benchmark; ``bench/__main__.py`` discovers the
modules, calls them, prints the table and writes the results file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypedDict

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BUILD_DIR = BENCH_DIR / ".build"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
NODE = shutil.which("node")

#: Core of the process under measurement, and of a load generator.
SERVER_CORE = 0
CLIENT_CORE = 1 if (os.cpu_count() or 1) > 1 else 0


#: Repeats per contender; ``python -m bench --repeats N`` overrides the default.
_repeats_override: int | None = None


def set_repeats(n: int | None) -> None:
    """Override the number of repeats every benchmark uses (None: their defaults)."""
    global _repeats_override
    _repeats_override = n


def repeats(quick: bool, default: int = 5) -> int:
    """How many times to run each contender: 1 when quick, else ``default`` or the override."""
    if _repeats_override is not None:
        return _repeats_override
    return 1 if quick else default


def log(msg: str) -> None:
    """A progress line on stderr (stdout carries the table)."""
    print(f"  {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A benchmark could not run (missing tool, failed child, bad output)."""


class _RowRequired(TypedDict):
    name: str
    unit: str
    nodish: float | None
    peer: float | None
    peer_name: str


class Row(_RowRequired, total=False):
    """One line of the results table; higher is better unless ``lower_is_better``."""

    notes: str
    lower_is_better: bool
    reference: float | None
    reference_name: str
    samples: dict[str, list[float]]


# -- processes ---------------------------------------------------------------------


def raise_nofile_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit (children inherit it).

    Returns:
        The (soft, hard) limits now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def pinned(cmd: Sequence[str], core: int) -> list[str]:
    """``cmd`` run under ``taskset -c core`` (unchanged when taskset is missing)."""
    taskset = shutil.which("taskset")
    if taskset is None:
        return list(cmd)
    return [taskset, "-c", str(core), *cmd]


def module_missing(name: str, *attrs: str) -> str | None:
    """Why the nodish module ``name`` cannot be benchmarked yet, or None when it can.

    Modules land while the harness is in use: a missing module, a bare folder, or one
    whose own imports are not there yet is "not available" (reported in the row's
    notes), rather than a failure of the whole benchmark.
    """
    import importlib

    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return f"{name} not available yet ({exc})"
    if getattr(module, "__file__", None) is None:
        return f"{name} not available yet (no __init__.py)"
    absent = [a for a in attrs if not hasattr(module, a)]
    if absent:
        return f"{name} not available yet (no {', '.join(absent)})"
    return None


def require_node() -> str:
    """The path of ``node``, or BenchError when it is not installed."""
    if NODE is None:
        raise BenchError("node is not on PATH: Node's side of the comparison cannot run")
    return NODE


def run_json(cmd: Sequence[str], *, timeout: float, core: int = SERVER_CORE) -> dict[str, Any]:
    """Run ``cmd`` pinned to ``core`` and parse the JSON object on its last stdout line.

    Raises:
        BenchError: the child failed, timed out, or printed no JSON.
    """
    argv = pinned(cmd, core)
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(cmd)} did not finish within {timeout:g} s") from exc
    if proc.returncode != 0:
        raise BenchError(
            f"{' '.join(cmd)} exited with status {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise BenchError(f"{' '.join(cmd)} printed no JSON result: {proc.stdout!r}") from exc
    if not isinstance(result, dict):
        raise BenchError(f"{' '.join(cmd)} printed {result!r}, not a JSON object")
    return result


class Server:
    """A server child pinned to a core that prints its port as its first stdout line."""

    def __init__(self, cmd: Sequence[str], *, core: int = SERVER_CORE, timeout: float = 15.0):
        self.cmd = list(cmd)
        self._stderr: str | None = None
        # a file, not a pipe: a server that logs a lot must never block on a full pipe
        self._errfile = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            pinned(cmd, core),
            stdout=subprocess.PIPE,
            stderr=self._errfile,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        self.port = self._read_port(timeout)

    def _read_port(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        # A blocking readline would hang on a server that never listens: poll instead.
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.stop()
                raise BenchError(f"{' '.join(self.cmd)} printed no port within {timeout:g} s")
        line = self.proc.stdout.readline()
        try:
            return int(line.strip())
        except ValueError:
            err = self.stop()
            raise BenchError(
                f"{' '.join(self.cmd)} printed {line!r} instead of a port: {err[-2000:]}"
            ) from None

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs the command, so it is the server's)."""
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User+system CPU time the server has used so far, from /proc/<pid>/stat."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[11], fields[12] are utime, stime (stat fields 14 and 15), in clock ticks
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """The server's resident set size (VmRSS), in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise BenchError("no VmRSS in /proc status")

    def check_alive(self) -> None:
        """Raise BenchError (with the server's stderr) if the server has exited."""
        if self.proc.poll() is not None:
            err = self.stop()
            raise BenchError(f"server {' '.join(self.cmd)} died: {err[-2000:]}")

    def stop(self) -> str:
        """Terminate the server (SIGTERM, then SIGKILL) and return its stderr (idempotent)."""
        if self._stderr is not None:
            return self._stderr
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._errfile.seek(0)
        self._stderr = self._errfile.read()
        self._errfile.close()
        return self._stderr

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- C helpers -----------------------------------------------------------------------


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Wait until 127.0.0.1:``port`` accepts (some servers print their port first)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


def build_c(source: Path, name: str) -> Path:
    """Compile ``source`` with gcc into ``bench/.build/name`` unless already up to date.

    Raises:
        BenchError: gcc is missing or the compilation failed (with gcc's messages).
    """
    out = BUILD_DIR / name
    if out.exists() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise BenchError(f"gcc is not installed: cannot build {source.name} (apt install gcc)")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    proc = subprocess.run(
        [gcc, "-O2", "-Wall", "-Wextra", "-o", str(tmp), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"gcc failed to build {source.name}:\n{proc.stderr.strip()}")
    tmp.replace(out)
    return out


# -- measuring -----------------------------------------------------------------------


def interleave(
    contenders: Sequence[tuple[str, Callable[[], float | None]]], repeats: int
) -> dict[str, list[float]]:
    """Run each contender ``repeats`` times, round-robin (A B C A B C ...).

    A contender that returns None is not available (its module has not landed yet) and
    is not asked again.

    Returns:
        Each contender's samples, in run order (empty when unavailable).
    """
    samples: dict[str, list[float]] = {name: [] for name, _ in contenders}
    unavailable: set[str] = set()
    for _ in range(repeats):
        for name, fn in contenders:
            if name in unavailable:
                continue
            value = fn()
            if value is None:
                unavailable.add(name)
            else:
                samples[name].append(value)
    return samples


def median(values: Sequence[float]) -> float | None:
    """The median of ``values``, None when empty."""
    return statistics.median(values) if values else None


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """A context whose value, called, gives the seconds elapsed since entry."""
    t0 = time.perf_counter()
    yield lambda: time.perf_counter() - t0


# -- reporting -----------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    """Date, core count, CPU model, OS and runtime versions, for the results header."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = "not installed"
    if NODE is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            node = subprocess.run(
                [NODE, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
    versions = []
    for mod in ("uvloop", "pyee"):
        try:
            from importlib.metadata import version

            versions.append(f"{mod} {version(mod)}")
        except Exception:
            versions.append(f"{mod} missing")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    load = "unknown"
    with contextlib.suppress(OSError):
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return {
        "loadavg": load,
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(os.cpu_count() or 1),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "node": node,
        "libs": ", ".join(versions),
        "nofile": f"{soft}/{hard}",
        "pinning": f"measured process on core {SERVER_CORE}, load generator on core {CLIENT_CORE}",
    }


def fmt_value(value: float | None) -> str:
    """A figure with 3 significant digits and k/M suffixes; '—' for None."""
    if value is None:
        return "—"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def ratio(row: Row) -> float | None:
    """nodish / peer, None when either is missing."""
    a, b = row.get("nodish"), row.get("peer")
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(row: Row) -> str:
    """'yes' when nodish meets the peer's figure (by the row's direction), else 'no'."""
    r = ratio(row)
    if r is None:
        return "—"
    ok = r <= 1.0 if row.get("lower_is_better") else r >= 1.0
    return "yes" if ok else "no"


COLUMNS = ("benchmark", "unit", "nodish", "peer", "peer value", "nodish/peer", "meets", "ref")


def table_cells(row: Row) -> list[str]:
    """The cells of one table line, in COLUMNS order."""
    r = ratio(row)
    unit = row["unit"] + (" (lower is better)" if row.get("lower_is_better") else "")
    ref = ""
    if row.get("reference_name"):
        ref = f"{row['reference_name']} {fmt_value(row.get('reference'))}"
    return [
        row["name"],
        unit,
        fmt_value(row.get("nodish")),
        row["peer_name"],
        fmt_value(row.get("peer")),
        "—" if r is None else f"{r:.2f}",
        verdict(row),
        ref,
    ]


def text_table(rows: Sequence[Row]) -> str:
    """A fixed-width table for the terminal, notes on indented lines below each row."""
    cells = [list(COLUMNS)] + [table_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    out = []
    for i, line in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
        elif rows[i - 1].get("notes"):
            out.append(f"    {rows[i - 1]['notes']}")
    return "\n".join(out)


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table with a notes column."""
    head = [*COLUMNS, "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [*table_cells(row), row.get("notes", "")]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
