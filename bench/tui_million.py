"""The TUI on a big store: time to first screen, store time per refresh, RSS.

    python bench/tui_million.py [--jobs 1000000] [--store DIR]

Builds (once, reused when --store already holds it) a store of N jobs in mixed states, then
starts the app headless (Textual's run_test, 120x40) and measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import psutil


def build(store_dir: Path, jobs: int) -> str:
    url = f"sqlite:///{store_dir / 'queue.db'}"
    from queuectl.core.config import ConfigStore
    from queuectl.core.store import open_store
    from queuectl.core.queue import JobQueue
    from queuectl.core.specs import JobSpec

    store = open_store(url, durable=False)
    queue = JobQueue(store)
    have = queue.counts().total
    if have >= jobs:
        return url
    settings = ConfigStore(store).settings()
    batch = [JobSpec(command=f"echo {i}", cwd="/srv") for i in range(100_000)]
    for start in range(have, jobs, len(batch)):
        queue.enqueue(batch[: min(len(batch), jobs - start)], settings)
    with store.write():
        store.execute("UPDATE job SET state='completed', attempts=1, finished_at=created_at+1, exit_code=0 WHERE seq % 10 < 7")
        store.execute("UPDATE job SET state='dead', attempts=4, finished_at=created_at+1, exit_code=3 WHERE seq % 10 = 7")
    store.close()
    return url


async def measure(url: str) -> None:
    from queuectl.tui.app import make_app
    from queuectl.tui.viewmodel import JobFilter

    started = time.perf_counter()
    app = make_app(url, poll_interval=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.005)
        first = time.perf_counter() - started
        times = []
        for _ in range(20):
            t = time.perf_counter()
            app.service.snapshot(JobFilter(), app.page_size)
            times.append(time.perf_counter() - t)
        rss = psutil.Process(os.getpid()).memory_info().rss
    print(f"first screen            {first * 1000:7.0f} ms (app start to the first snapshot applied)")
    print(f"store time per refresh  {statistics.median(times) * 1000:7.1f} ms median, {max(times) * 1000:.1f} ms max")
    print(f"RSS                     {rss / 2**20:7.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--store", default="/tmp/queuectl-bench-million")
    args = parser.parse_args()
    store_dir = Path(args.store)
    store_dir.mkdir(parents=True, exist_ok=True)
    os.environ["QUEUECTL_HOME"] = str(store_dir)
    url = build(store_dir, args.jobs)
    asyncio.run(measure(url))


if __name__ == "__main__":
    main()
