"""Rolling reload: every worker replaced, one at a time, without refusing a connection.

For each worker alive when :func:`reload` starts: fork a replacement (same ``env``),
wait for its ``'listening'`` (its ``'online'`` when the old one never listened; at most
``timeout`` seconds, else the replacement is killed and the reload fails), then
disconnect the old one (its servers stop taking connections and it exits once they
have drained) and ``SIGKILL`` it if it has not exited within ``timeout`` seconds.
Under ``SCHED_RR`` and ``SCHED_NONE`` the port is the primary's and never closes, so
no connection is refused; under ``reuse_port`` the kernel resets the connections it
had queued on the old worker's socket when that closes (the kernel's behaviour, not
ours; ``net.ipv4.tcp_migrate_req=1`` makes Linux 5.14+ move them to another socket of
the group instead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .. import runtime
from ..errors import ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE
from . import primary

__all__ = ["reload"]

_running: asyncio.Future[None] | None = None


def reload(
    timeout: float = 30.0, *, callback: Callable[[BaseException | None], Any] | None = None
) -> asyncio.Future[None]:
    """Replace every worker in turn; returns a future done when all are replaced.

    A reload asked for while one runs joins it. ``callback(err)`` is called at the end
    (``err`` when a replacement exited before listening, or did not listen within
    ``timeout``: it is killed then; the old worker stays either way).

    Raises:
        ERR_INVALID_ARG_TYPE: ``timeout`` is not a number.
        ERR_OUT_OF_RANGE: ``timeout`` is not above 0.
    """
    global _running
    primary._check_thread("cluster.reload()")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise ERR_INVALID_ARG_TYPE("timeout", "a number", type(timeout).__name__)
    if not timeout > 0:
        raise ERR_OUT_OF_RANGE("timeout", "> 0", timeout)
    if _running is not None and not _running.done():
        fut = _running
    else:
        fut = _running = runtime.spawn(_reload(float(timeout)))
    if callback is not None:

        def done(f: asyncio.Future[None]) -> None:
            err = None if f.cancelled() else f.exception()
            runtime.guarded(None, callback, err)

        fut.add_done_callback(done)
    return fut


async def _reload(timeout: float) -> None:
    loop = runtime.get_loop()
    for old in list(primary.workers.values()):
        if old.is_dead() or not old.is_connected():
            continue
        assert isinstance(old, primary.PrimaryWorker)
        # a worker that listens is replaced once its replacement listens; one that
        # never listened (a worker that only does jobs) once its replacement is online
        event = "listening" if old.state == "listening" else "online"
        new = primary.fork(old._env)
        ready: asyncio.Future[bool] = loop.create_future()

        def listening(*_: Any, ready: asyncio.Future[bool] = ready) -> None:
            if not ready.done():
                ready.set_result(True)

        def exited(*_: Any, ready: asyncio.Future[bool] = ready) -> None:
            if not ready.done():
                ready.set_result(False)

        new.once(event, listening)
        new.once("exit", exited)
        try:
            ok = await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.TimeoutError:
            # the old worker stays; the replacement that never got ready goes
            new.remove_listener("exit", exited)
            new.process.kill("SIGKILL")
            raise RuntimeError(
                f"cluster.reload: worker {new.id} was not {event} within {timeout:g} s"
            ) from None
        new.remove_listener("exit", exited)
        if not ok:
            raise RuntimeError(f"cluster.reload: worker {new.id} exited before {event}")
        gone: asyncio.Future[None] = loop.create_future()

        def on_exit(*_: Any, gone: asyncio.Future[None] = gone) -> None:
            if not gone.done():
                gone.set_result(None)

        old.once("exit", on_exit)
        old.disconnect()
        try:
            await asyncio.wait_for(asyncio.shield(gone), timeout)
        except asyncio.TimeoutError:
            primary.logger.warning(
                "cluster.reload: worker %d did not exit within %.1f s; killing it",
                old.id,
                timeout,
            )
            old.process.kill("SIGKILL")
            await gone
