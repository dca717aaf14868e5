"""Claim + finish through the core (no job processes), N processes racing on one backlog.

    python bench/claim_finish.py [--jobs 100000] [--procs 1 2 4] [--gap-ms 0.3] [--db postgresql://…]

Each process runs the worker's own hot path: `finish_and_claim` in a loop, recording a run per
job, on a file-backed SQLite store. Prints jobs/s per process count. `--gap-ms`: a pause after
each claim, standing for the job's run, while the process does not hold the store's write lock
(a worker's transactions come with such gaps; back to back, they are the store's ceiling).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

from queuectl.core.config import ConfigStore
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import Completed
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store


def _work(url: str, worker: str, start: multiprocessing.Event, gap: float) -> None:
    store = open_store(url, durable=False)
    queue = JobQueue(store)
    settings = ConfigStore(store).settings()
    start.wait()
    job = queue.claim(worker)
    while job is not None:
        if gap:
            time.sleep(gap)
        _, job = queue.finish_and_claim(job, worker, RunStart("bench", None, None, time.time()), Completed(),
                                        settings)


def rate(jobs: int, procs: int, db: str | None = None, gap: float = 0.0) -> float:
    root = Path(tempfile.mkdtemp(prefix="queuectl-bench-"))
    try:
        url = db or f"sqlite:///{root / 'queue.db'}"
        if db:
            _reset_postgres(db)
        store = open_store(url)
        JobQueue(store).enqueue([JobSpec(command="true") for _ in range(jobs)], ConfigStore(store).settings(),
                                default_cwd="/")
        go = multiprocessing.Event()
        workers = [multiprocessing.Process(target=_work, args=(url, f"w{i}", go, gap)) for i in range(procs)]
        for w in workers:
            w.start()
        time.sleep(0.5)  # let them open the store
        began = time.perf_counter()
        go.set()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - began
        assert JobQueue(store).counts()["completed"] == jobs
        return jobs / elapsed
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _reset_postgres(url: str) -> None:
    store = open_store(url)
    with store.write():
        store.execute("DELETE FROM run")
        store.execute("DELETE FROM job")
        store.execute("UPDATE job_count SET n = 0")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--db", help="a PostgreSQL URL to use instead of a SQLite file (its jobs are deleted)")
    parser.add_argument("--gap-ms", type=float, default=0.0, help="a pause after each claim, as a job's run")
    args = parser.parse_args()
    gap = f", {args.gap_ms:g} ms between" if args.gap_ms else ""
    for procs in args.procs:
        got = rate(args.jobs, procs, args.db, args.gap_ms / 1000)
        print(f"claim+finish, {procs} process(es), {args.jobs:,} backlog{gap}: {got:,.0f} jobs/s")


if __name__ == "__main__":
    main()
