"""Worker CPU % and RSS add up the job's process tree, and the job's pid is shown (TUI and CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from queuectl.core.clock import SYSTEM_CLOCK
from queuectl.core.process_stats import process_stats
from queuectl.core.specs import JobSpec
from queuectl.core.supervisor import start_workers
from queuectl.tui.app import make_app
from queuectl.tui.viewmodel import WORKER_COLUMNS
from tui_support import loaded, refreshed, table, wait_for, wait_until

# 200 MiB touched, then a busy loop: the job, not the worker, holds the memory and burns the CPU
HOG = "python3 -c \"b = b'x' * (200 * 2**20)\nwhile True: pass\""
MIB = 2**20


@pytest.fixture
def hog(reaper, tmp_path):
    core = reaper
    [worker_id] = start_workers(core.store, 1)
    core.queue.enqueue([JobSpec(HOG, id="hog", cwd=str(tmp_path), timeout=120)], core.config.settings())
    run = wait_for(lambda: next((r for r in core.queue.runs("hog") if r.pid), None), timeout=20, message="hog's run")
    [info] = [w for w in core.registry.list() if w.id == worker_id]
    wait_for(lambda: process_stats([info], sample=0.2)[worker_id].rss_bytes > 200 * MIB, timeout=20,
             message="the job's memory counted")
    yield core, worker_id, run
    core.queue.cancel(["hog"])


def test_stats_include_the_jobs_process_tree(hog):
    core, worker_id, run = hog
    [info] = [w for w in core.registry.list() if w.id == worker_id]
    process_stats([info], sample=0)
    time.sleep(1.0)
    stats = process_stats([info], sample=0)[worker_id]
    assert stats.rss_bytes > 200 * MIB
    assert stats.cpu_percent is not None and stats.cpu_percent > 15, stats  # 0-1 % for the worker alone
    assert stats.job_pid == run.pid


def test_worker_list_shows_the_job_tree_and_pid(hog, store_url, home):
    core, worker_id, run = hog
    env = dict(os.environ, QUEUECTL_DB=store_url, QUEUECTL_HOME=str(home))
    out = subprocess.run([sys.executable, "-m", "queuectl", "worker", "list", "--json"], env=env,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    [row] = [w for w in json.loads(out) if w["id"] == worker_id]
    assert row["job_pid"] == run.pid and row["rss_bytes"] > 200 * MIB and row["cpu_percent"] > 15, row
    text = subprocess.run([sys.executable, "-m", "queuectl", "worker", "list"], env=env,
                          capture_output=True, text=True, timeout=30, check=True).stdout
    assert "JOB PID" in text.splitlines()[0] and str(run.pid) in text


@pytest.mark.asyncio
async def test_workers_tab_shows_the_job_tree_and_pid(hog, store_url):
    core, worker_id, run = hog
    app = make_app(store_url, clock=SYSTEM_CLOCK, poll_interval=0, process_stats=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.pane == "workers")
        await pilot.pause(1.0)
        await refreshed(pilot)
        cells = [str(c) for c in table(app, "workers").get_row(worker_id)]
        column = {name: i for i, name in enumerate(WORKER_COLUMNS)}
        assert cells[column["Job PID"]] == str(run.pid)
        rss = cells[column["RSS"]]
        assert rss.endswith("MiB") and float(rss[:-3]) > 200, cells
        cpu = cells[column["CPU"]]
        assert cpu != "-" and int(cpu.rstrip("%")) > 15, cells
