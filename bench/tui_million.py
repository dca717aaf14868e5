"""The TUI on a big store: time to first screen, store time per refresh, RSS.

    python bench/tui_million.py [--jobs 1000000] [--runs 100000] [--store DIR]

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


def add_recent_runs(url: str, runs: int) -> None:
    """`runs` finished runs spread over the last 30 minutes (a busy queue's history for the pulse
    strip), a tenth of them failed; added once (a store already holding them is kept)."""
    from queuectl.core.store import open_store

    store = open_store(url, durable=False)
    now = time.time()
    have = store.execute("SELECT count(*) FROM run WHERE finished_at >= ?", (now - 1800,)).fetchone()[0]
    if have < runs:
        store.execute("DELETE FROM run")
        ids = [r[0] for r in store.execute("SELECT id FROM job ORDER BY seq LIMIT ?", (runs,)).fetchall()]
        rows = [(job_id, 1, 1, "w-bench", "bench", 1, now - 1800 + 1800 * i / len(ids),
                 now - 1800 + 1800 * i / len(ids) + 0.1, 1 if i % 10 == 0 else 0,
                 "exit code 1" if i % 10 == 0 else None)
                for i, job_id in enumerate(ids)]
        with store.write():
            store.db.cursor().executemany(
                "INSERT INTO run (job_id, number, attempt, worker_id, host, pid, started_at, finished_at, "
                "exit_code, error, output_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", rows)
    store.close()


def build(store_dir: Path, jobs: int) -> str:
    url = f"sqlite:///{store_dir / 'queue.db'}"
    from queuectl.core.config import ConfigStore
    from queuectl.core.queue import JobQueue
    from queuectl.core.specs import JobSpec
    from queuectl.core.store import open_store

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
    from queuectl.core.states import JobState
    from queuectl.tui.app import make_app
    from queuectl.tui.viewmodel import SORTS, JobFilter

    started = time.perf_counter()
    app = make_app(url, poll_interval=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.005)
        first = time.perf_counter() - started
        def timed(job_filter: JobFilter, n: int = 20) -> list[float]:
            times = []
            for _ in range(n):
                t = time.perf_counter()
                app.service.snapshot(job_filter, app.page_size, frozenset({"jobs"}))
                times.append(time.perf_counter() - t)
            return times

        times = timed(JobFilter())
        pulse_cold = time.perf_counter()
        app.service.api.finished_per_minute(time.time() - 1800)
        pulse_cold = time.perf_counter() - pulse_cold
        pulse_warm = []
        for _ in range(20):
            t = time.perf_counter()
            app.service.api.finished_per_minute(time.time() // 60 * 60)
            pulse_warm.append(time.perf_counter() - t)
        sorted_times = {(sort, down): timed(JobFilter(sort=sort, descending=down), 3)
                        for sort, _ in SORTS for down in (True, False)}
        pending_priority = timed(JobFilter(state=JobState.PENDING, sort="priority"), 3)
        search_times = {term: timed(JobFilter(search=term), 3) for term in SEARCHES}
        queues_times = timed_panes(app, frozenset({"queues"}))
        queue_list = []
        for _ in range(3):
            t = time.perf_counter()
            app.service.api.queues()
            queue_list.append(time.perf_counter() - t)
        minute = time.time() // 60 * 60
        throughput_cold = time.perf_counter()
        app.service.api.finished_per_queue_minute(minute - 300, minute)
        throughput_cold = time.perf_counter() - throughput_cold
        throughput_minute = []
        for _ in range(5):
            t = time.perf_counter()
            app.service.api.finished_per_queue_minute(minute - 60, minute)
            throughput_minute.append(time.perf_counter() - t)
        rss = psutil.Process(os.getpid()).memory_info().rss
    print(f"first screen            {first * 1000:7.0f} ms (app start to the first snapshot applied)")
    print(f"store time per refresh  {statistics.median(times) * 1000:7.1f} ms median, {max(times) * 1000:.1f} ms max")
    print(f"pulse: 30 min read      {pulse_cold * 1000:7.1f} ms (once, when the TUI opens)")
    print(f"pulse: current minute   {statistics.median(pulse_warm) * 1000:7.1f} ms median (each refresh)")
    for (sort, down), ts in sorted_times.items():
        way = "desc" if down else "asc "
        print(f"refresh sorted by {sort:<8} {way} {statistics.median(ts) * 1000:7.1f} ms median")
    print(f"refresh, pending by priority {statistics.median(pending_priority) * 1000:7.1f} ms median")
    for term, ts in search_times.items():
        print(f"refresh, search {term!r:<14} {statistics.median(ts) * 1000:7.1f} ms median ({SEARCHES[term]})")
    print(f"refresh, Queues tab     {statistics.median(queues_times) * 1000:7.1f} ms median")
    print(f"  of which queue counts {statistics.median(queue_list) * 1000:7.1f} ms median (every job read)")
    print(f"  throughput: 5 min     {throughput_cold * 1000:7.1f} ms (once, when the tab opens)")
    print(f"  throughput: 1 minute  {statistics.median(throughput_minute) * 1000:7.1f} ms median (once a minute)")
    print(f"RSS                     {rss / 2**20:7.0f} MiB")


def timed_panes(app, panes: frozenset[str], n: int = 5) -> list[float]:
    from queuectl.tui.viewmodel import JobFilter

    times = []
    for _ in range(n):
        t = time.perf_counter()
        app.service.snapshot(JobFilter(), app.page_size, panes)
        times.append(time.perf_counter() - t)
    return times


# commands are "echo 0" … "echo 99999", each ten times at a million jobs
SEARCHES = {"echo 1": "a page of matches at once", "echo 99999": "10 matches: reads every row",
            "no-such-text": "no match: reads every row"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--store", default="/tmp/queuectl-bench-million")
    parser.add_argument("--runs", type=int, default=100_000, help="finished runs in the last 30 minutes")
    args = parser.parse_args()
    store_dir = Path(args.store)
    store_dir.mkdir(parents=True, exist_ok=True)
    os.environ["QUEUECTL_HOME"] = str(store_dir)
    url = build(store_dir, args.jobs)
    add_recent_runs(url, args.runs)
    asyncio.run(measure(url))


if __name__ == "__main__":
    main()
