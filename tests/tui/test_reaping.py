"""Workers the TUI started and then stopped are reaped: no <defunct> child left in the TUI's process."""

from __future__ import annotations

import psutil
import pytest

from tui_support import loaded, refreshed, select, start_one_worker, wait_until

pytestmark = pytest.mark.asyncio


def zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_a_worker_started_and_stopped_from_the_tui_is_reaped(reaper, live_app_factory):
    core = reaper
    app = live_app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        [worker] = await start_one_worker(pilot, app, core)
        assert worker.pid in [p.pid for p in psutil.Process().children()], "the TUI is the worker's parent"
        await refreshed(pilot)
        select(app, "workers", worker.id)
        await pilot.press("x")
        await wait_until(pilot, lambda: core.registry.states([worker.id])[worker.id] == "stopped", timeout=15)
        await wait_until(pilot, lambda: not psutil.pid_exists(worker.pid) or zombie(worker.pid), timeout=10,
                         message="the worker process ended")
        await refreshed(pilot)
        await refreshed(pilot)
        assert not zombie(worker.pid), f"worker {worker.pid} is left <defunct>"
