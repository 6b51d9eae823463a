"""Driving a cluster primary (``cluster/serve.py``) from a test: events, commands,
clients and client load."""

from __future__ import annotations

import collections
import concurrent.futures
import http.client
import json
import os
import select
import socket
import subprocess
import sys
import threading
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

    def __init__(
        self,
        *args: str,
        script: Path = SERVE,
        env: dict[str, str] | None = None,
        stderr: bool = False,
    ):
        # stderr=True: kept for stderr() (the scenario must write little to it)
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr else None,
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

    def stderr(self) -> str:
        """What the primary (and its workers) wrote to stderr, once it has exited."""
        assert self.proc.stderr is not None and self.proc.poll() is not None
        return self.proc.stderr.read().decode()

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
        if self.proc.stderr is not None:
            self.proc.stderr.close()
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


class Load:
    """Short connections from ``concurrency`` threads until stopped (or ``total``)."""

    def __init__(self, port: int, concurrency: int = 4, total: int | None = None) -> None:
        self.port = port
        self.total = total
        self.done = 0
        self.failed: list[str] = []
        self.by_pid: collections.Counter[int] = collections.Counter()
        self.by_worker: collections.Counter[int] = collections.Counter()
        self.by_kind: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._started = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(concurrency)
        self._futures = [self._pool.submit(self._run, i) for i in range(concurrency)]

    def _next(self) -> bool:
        with self._lock:
            if self._stop.is_set() or (self.total is not None and self._started >= self.total):
                return False
            self._started += 1
            return True

    def _kind(self, i: int) -> str:
        """What thread ``i`` sends (counted apart in ``by_kind``)."""
        return "short"

    def _one(self, i: int) -> tuple[int, int]:
        """One request from thread ``i``: the answering worker's ``(id, pid)``."""
        return fetch(self.port, timeout=5 * FACTOR)

    def _reset(self, i: int) -> None:
        """Thread ``i`` failed a request, or is done: drop what it keeps open."""

    def _run(self, i: int) -> None:
        kind = self._kind(i)
        while self._next():
            try:
                wid, pid = self._one(i)
            except (OSError, ValueError, AssertionError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failed.append(f"{kind} {type(exc).__name__}: {str(exc)[:60]}")
                self._reset(i)
            else:
                with self._lock:
                    self.by_pid[pid] += 1
                    self.by_worker[wid] += 1
                    self.by_kind[kind] += 1
            with self._lock:
                self.done += 1
                self._progress.notify_all()
        self._reset(i)

    def until(self, n: int, timeout: float = 20) -> None:
        with self._progress:
            if not self._progress.wait_for(lambda: self.done >= n, timeout * FACTOR):
                raise TimeoutError(f"load stuck at {self.done}")

    def serve_until(self, deadline: float, stall: float = 5.0) -> None:
        """Keep the load running until ``time.monotonic()`` reaches ``deadline``,
        checking that requests keep completing (none for ``stall`` seconds is a hang)."""
        with self._progress:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                before = self.done
                wait = min(left, stall * FACTOR)
                self._progress.wait_for(lambda: time.monotonic() >= deadline, wait)
                if self.done == before and time.monotonic() < deadline:
                    raise TimeoutError(f"no request completed for {wait:.1f} s at {before}")

    def stop(self, now: bool = True) -> None:
        if now:
            self._stop.set()
        for f in self._futures:
            f.result(timeout=30 * FACTOR)
        self._pool.shutdown()


class HttpLoad(Load):
    """HTTP GETs from ``2 * threads`` threads: even ones reuse a keep-alive connection,
    odd ones open a connection per request and ask the server to close it
    (``Connection: close``). A keep-alive client retries a GET once when the server
    closed the reused connection before answering (what Node's Agent, browsers and
    urllib3 do: the request never reached a handler), counted in ``retried``; any other
    failure counts as failed."""

    def __init__(self, port: int, threads: int = 2) -> None:
        self.conns: dict[int, http.client.HTTPConnection] = {}
        self.retried = 0
        super().__init__(port, concurrency=2 * threads)

    def _kind(self, i: int) -> str:
        return "short" if i % 2 else "keep-alive"

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * FACTOR)

    def _get(self, conn: http.client.HTTPConnection, close: bool) -> tuple[int, int]:
        conn.request("GET", "/", headers={"Connection": "close"} if close else {})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, resp.status
        # (a keep-alive answer may close the connection: its worker is draining)
        assert resp.will_close or not close, resp.getheaders()
        wid, pid = body.split()
        return int(wid), int(pid)

    def _one(self, i: int) -> tuple[int, int]:
        if i % 2:
            conn = self.conns[i] = self._connect()
            try:
                return self._get(conn, close=True)
            finally:
                self._reset(i)
        conn = self.conns.get(i)
        if conn is None:
            conn = self.conns[i] = self._connect()
            return self._get(conn, close=False)
        try:
            return self._get(conn, close=False)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # a stale keep-alive connection: retry once on a new one
            self._reset(i)
            with self._lock:
                self.retried += 1
            conn = self.conns[i] = self._connect()
            return self._get(conn, close=False)

    def _reset(self, i: int) -> None:
        conn = self.conns.pop(i, None)
        if conn is not None:
            conn.close()
