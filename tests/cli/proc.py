"""Run ``nodish`` tools as a user does, as subprocesses, with deadlines on every wait."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

TIMEOUT = 15.0 * float(os.environ.get("NODISH_TIMEOUT_FACTOR", "1"))


def nodish(
    *args: str,
    input: bytes | None = b"",
    timeout: float = TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``nodish ARGS`` to completion with ``input`` on stdin (``env`` added)."""
    return subprocess.run(
        [sys.executable, "-m", "nodish", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


class Tool:
    """A long-running ``nodish`` process (a server) whose output is read line by line."""

    def __init__(
        self, *args: str, stdin: Any = subprocess.DEVNULL, env: dict[str, str] | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nodish", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self._buf = {"stdout": b"", "stderr": b""}

    def line(self, stream: str = "stdout", timeout: float = TIMEOUT) -> str:
        """The next line the tool printed on ``stream``; fails after ``timeout``."""
        pipe = getattr(self.proc, stream)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(pipe, selectors.EVENT_READ)
            while b"\n" not in self._buf[stream]:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"no line on {stream} in {timeout} s: {self._buf}")
                chunk = os.read(pipe.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"{stream} closed: {self._buf}, rc={self.proc.poll()}")
                self._buf[stream] += chunk
        line, self._buf[stream] = self._buf[stream].split(b"\n", 1)
        return line.decode()

    def lines_until(self, text: str, stream: str = "stdout") -> list[str]:
        """Lines up to and including the first one containing ``text``."""
        out = []
        while True:
            out.append(self.line(stream))
            if text in out[-1]:
                return out

    def interrupt(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        """Ctrl-C: SIGINT, then the exit status and the rest of stderr."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        finally:
            self.kill()
        return self.proc.returncode, (self._buf["stderr"] + err).decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Tool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        for pipe in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if pipe is not None:
                pipe.close()


def listening_port(line: str) -> int:
    """The port at the end of a ``... listening on HOST:PORT`` line."""
    return int(line.rsplit(":", 1)[1])
