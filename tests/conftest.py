"""Test plumbing shared by every tier.

``async def`` tests need no plugin: each runs on a fresh loop of the kind given by the
``loop_kind`` parameter. Tests under ``tests/integration`` and ``tests/interop`` are run
on both ``uvloop`` and plain ``asyncio``; the others run on uvloop. Each async test has a
deadline (``ASYNC_TEST_TIMEOUT`` seconds, scaled by ``NODISH_TIMEOUT_FACTOR``), and
fails if the loop's exception handler was called: nothing may be raised into the loop
unseen.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import warnings
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, settings

from nodish import process, runtime

TIMEOUT_FACTOR = float(os.environ.get("NODISH_TIMEOUT_FACTOR", "1"))
ASYNC_TEST_TIMEOUT = 30.0 * TIMEOUT_FACTOR
BOTH_LOOPS = ("integration", "interop")

# Hypothesis: no per-example deadline (a shared or loaded machine is slow now and then, and
# the interop properties run a node peer); under CI (CI=true) a fixed seed, so a run is
# reproducible and a red CI names an example anyone can replay.
settings.register_profile(
    "nodish", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("nodish-ci", parent=settings.get_profile("nodish"), derandomize=True)
settings.load_profile("nodish-ci" if os.environ.get("CI") else "nodish")


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if inspect.iscoroutinefunction(metafunc.function) and "loop_kind" not in metafunc.fixturenames:
        metafunc.fixturenames.append("loop_kind")
    if "loop_kind" in metafunc.fixturenames:
        path = str(metafunc.definition.path)
        kinds = ["uvloop", "asyncio"] if any(f"/{t}/" in path for t in BOTH_LOOPS) else ["uvloop"]
        metafunc.parametrize("loop_kind", kinds)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Any:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    kind = pyfuncitem.callspec.params.get("loop_kind", "uvloop")
    params = inspect.signature(fn).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in params}
    loop = new_loop(kind)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    asyncio.set_event_loop(loop)
    leaked: list[str] = []
    try:
        loop.run_until_complete(asyncio.wait_for(fn(**kwargs), ASYNC_TEST_TIMEOUT))
        # let callbacks scheduled by the test's last step run before judging
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        try:
            leaked = _close_leaked_handles(loop)
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            # A transport the test leaked warns while the loop closes; under -W error that
            # warning would stop uvloop half-way through closing and hang the run.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                loop.close()
    if errors:
        raise AssertionError(f"the loop's exception handler was called: {errors!r}")
    if leaked:
        raise AssertionError(f"the test left handles open: {leaked}")
    if errors:
        raise AssertionError(f"the loop's exception handler was called: {errors!r}")
    return True


def _close_leaked_handles(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Close what a test left open (servers, sockets, timers) and name it."""
    state = runtime.loop_state(loop)
    leaked = [repr(h.closer) for h in list(state.handles) if h.active]
    if leaked:
        runtime.close_all_handles(loop)
        for _ in range(5):
            loop.run_until_complete(asyncio.sleep(0))
    return leaked


@pytest.fixture(autouse=True)
def _fresh_exit_code() -> Any:
    """Each test starts with ``process.exit_code`` 0: an uncaught exception that a test
    provokes on purpose sets it to 1 (the exit status ``run()`` would end with)."""
    process.exit_code = 0
    yield
    process.exit_code = 0
