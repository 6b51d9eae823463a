"""nodish.process: the process-wide emitter and the parts of Node's process it keeps."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from nodish import process
from nodish.events import EventEmitter
from nodish.process import Process


def test_process_is_the_one_process_emitter() -> None:
    import nodish

    assert isinstance(process, Process)
    assert isinstance(process, EventEmitter)
    assert nodish.process is process
    assert not hasattr(process, "__dict__")


def test_process_mirrors_pid_platform_argv_env() -> None:
    assert process.pid == os.getpid()
    assert process.platform == sys.platform
    assert process.argv is sys.argv
    assert process.env is os.environ


def test_exit_code_starts_at_zero() -> None:
    assert process.exit_code == 0


def test_process_exit_emits_exit_then_raises_system_exit_with_the_code() -> None:
    seen: list[int] = []
    process.on("exit", seen.append)
    try:
        with pytest.raises(SystemExit) as info:
            process.exit(5)
        assert info.value.code == 5
        assert seen == [5]
        with pytest.raises(SystemExit) as info:
            process.exit()  # the exit_code set last
        assert info.value.code == 5
    finally:
        process.remove_all_listeners("exit")
        process.exit_code = 0


async def test_process_next_tick_runs_the_callback_with_its_arguments() -> None:
    done = asyncio.get_running_loop().create_future()
    process.next_tick(lambda a, b: done.set_result((a, b)), 1, 2)
    assert await asyncio.wait_for(done, 5) == (1, 2)
