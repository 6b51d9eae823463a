"""Driving a cluster primary (``cluster/serve.py``) from a test: events, commands,
clients."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import DEFAULT_TIMEOUT

SERVE = Path(__file__).parent / "cluster" / "serve.py"
FACTOR = float(os.environ.get("NODISH_TIMEOUT_FACTOR", "1"))


class Ready:
    """The workers' listening ports, once every first-generation worker listens."""

    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports
        self.port = next(iter(ports.values()))


class Primary:
    """A primary process; ``event(pred)`` waits for the next matching JSON event."""

    factor = FACTOR

    def __init__(self, *args: str, script: Path = SERVE, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.events: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []
        self._buf = b""

    def __enter__(self) -> Primary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, deadline: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no event in time; seen: {self.events[-20:]}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError(f"the primary exited; seen: {self.events[-20:]}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    def event(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The first event (not returned before) for which ``pred`` is true."""
        for i, e in enumerate(self._unread):
            if pred(e):
                del self._unread[i]
                return e
        deadline = time.monotonic() + timeout
        while True:
            e = self._read(deadline)
            if pred(e):
                return e
            self._unread.append(e)

    def ready(self, timeout: float = DEFAULT_TIMEOUT) -> Ready:
        self.event(lambda e: e["ev"] == "ready", timeout)
        ports = {e["id"]: e["port"] for e in self.events if e["ev"] == "listening"}
        return Ready(ports)

    def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.command(cmd="disconnect")
                self.proc.wait(DEFAULT_TIMEOUT)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def fetch(port: int, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, int]:
    """Connect, read the worker's ``"<id> <pid>"`` answer to EOF: ``(id, pid)``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        data = b""
        while True:
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
    try:
        wid, pid = data.split()
    except ValueError:
        raise ValueError(f"bad answer {data!r}") from None
    return int(wid), int(pid)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
