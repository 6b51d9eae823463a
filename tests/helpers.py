"""Small waiting helpers for tests: wait on events with a deadline, never sleep."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from typing import Any

from nodish import events

DEFAULT_TIMEOUT = 10.0 * float(os.environ.get("NODISH_TIMEOUT_FACTOR", "1"))
NODE = shutil.which("node") or "node"


async def wait_event(
    emitter: Any, name: str, timeout: float = DEFAULT_TIMEOUT, *, error_rejects: bool = True
) -> tuple[Any, ...]:
    """The arguments of the next ``name`` event on ``emitter``; fails after ``timeout``.

    Like Node's ``events.once``, an ``'error'`` emitted first raises it, unless
    ``error_rejects`` is False (for waiting on ``'close'`` after an expected error).
    """
    if error_rejects:
        return await asyncio.wait_for(events.once(emitter, name), timeout)
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def on_event(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)

    emitter.once(name, on_event)
    try:
        return await asyncio.wait_for(fut, timeout)
    finally:
        emitter.remove_listener(name, on_event)


async def wait_for(fut: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """``asyncio.wait_for`` with the test suite's default deadline."""
    return await asyncio.wait_for(fut, timeout)


class NodeProcess:
    """A ``node -e script`` child whose stdout lines are JSON messages."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, script: str, *args: str) -> NodeProcess:
        proc = await asyncio.create_subprocess_exec(
            NODE,
            "-e",
            script,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def message(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next JSON line the script printed."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            err = b""
            if self.proc.stderr is not None:
                err = await self.proc.stderr.read()
            raise AssertionError(f"node exited early: {err.decode(errors='replace')}")
        return json.loads(line)

    async def messages_until(self, event: str) -> list[Any]:
        """The script's messages up to and including the first ``{"event": event}``."""
        msgs = []
        while True:
            msgs.append(await self.message())
            if msgs[-1].get("event") == event:
                return msgs

    async def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for the script to exit; returns its exit code."""
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()


async def until(predicate: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Yield to the loop until ``predicate()`` is true; fails after ``timeout``.

    For conditions that have no event of their own (a counter reaching a value).
    """

    async def spin() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(spin(), timeout)


def next_event(emitter: Any, name: str) -> asyncio.Future[tuple[Any, ...]]:
    """A future of the next ``name`` event's arguments, listening from now on.

    Unlike :func:`wait_event` the listener is added before anything is awaited, and an
    ``'error'`` does not reject it: for events that follow one another in one turn
    (``'error'`` then ``'close'``). Await it with :func:`wait_for`.
    """
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def on_event(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)

    emitter.once(name, on_event)
    return fut


def unchunk(data: bytes) -> bytes:
    """An HTTP body sent with ``Transfer-Encoding: chunked``, joined (trailers dropped)."""
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if not size:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
