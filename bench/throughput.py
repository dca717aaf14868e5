"""Throughput of trivial jobs: queuectl workers vs a raw subprocess loop, measured in the same run.

    python bench/throughput.py [--jobs 2000] [--workers 2 [4]] [--processes P] [--rounds R] [--db postgresql://…]

`--workers N` is `worker start -c N`: N slots, in the default layout (one process per core at
most) unless `--processes P` spreads them over P processes.

Baseline: N processes, each running `subprocess.run(["sh", "-c", "true"], capture_output=True)`
in a loop (the machine's limit for spawning trivial commands). queuectl: the same number of jobs
bulk-enqueued, the queue paused while the workers start, then resumed; timed until every job is
completed (output captured and stored, one run record each).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

from queuectl.core.config import ConfigStore
from queuectl.core.store import open_store
from queuectl.core.queue import JobQueue
from queuectl.core.wake import wake_workers


def _raw_loop(n: int) -> None:
    for _ in range(n):
        subprocess.run(["sh", "-c", "true"], capture_output=True)


def raw_rate(jobs: int, procs: int) -> float:
    per = jobs // procs
    start = time.perf_counter()
    workers = [multiprocessing.Process(target=_raw_loop, args=(per,)) for _ in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per * procs / (time.perf_counter() - start)


def q(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "queuectl", *args], env=env, input=stdin, text=True,
                         capture_output=True, check=True)
    return out.stdout


def queuectl_rate(jobs: int, workers: int, db: str | None = None, processes: int | None = None) -> float:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QUEUECTL_HOME=home)
        env.pop("QUEUECTL_DB", None)
        if db:
            env["QUEUECTL_DB"] = db
            _empty(db)
        q(env, "pause")
        q(env, "enqueue", "-", stdin="".join('{"command": "true"}\n' for _ in range(jobs)))
        q(env, "worker", "start", "-c", str(workers), *(("--processes", str(processes)) if processes else ()))
        queue = JobQueue(open_store(db or f"sqlite:///{home}/queue.db"))
        try:
            # Resume through the core, as `queuectl resume` does: the clock starts when the jobs
            # become claimable, not ~80 ms earlier when a CLI process would start up.
            start = time.perf_counter()
            ConfigStore(queue.store).set_paused(False)
            wake_workers(queue.store)
            # Poll in-process: a CLI process per poll would steal a core from the workers.
            while queue.counts()["completed"] < jobs:
                time.sleep(0.005)
            elapsed = time.perf_counter() - start
        finally:
            q(env, "worker", "stop", "--wait", "--timeout", "10")
        return jobs / elapsed


def _empty(url: str) -> None:
    store = open_store(url)
    with store.write():
        store.execute("DELETE FROM run_chunk")
        store.execute("DELETE FROM run")
        store.execute("DELETE FROM job")
        store.execute("DELETE FROM worker")
        store.execute("DELETE FROM setting")
        store.execute("UPDATE job_count SET n = 0")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--processes", type=int, help="spread the slots over this many worker processes")
    parser.add_argument("--db", help="a PostgreSQL URL to run against (its queuectl tables are emptied)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate raw and queuectl this many times and print the median ratio too")
    args = parser.parse_args()
    for n in sorted({1, *args.workers}):
        ratios = []
        for _ in range(args.rounds):
            raw = raw_rate(args.jobs, n)
            processes = min(args.processes, n) if args.processes else None
            ours = queuectl_rate(args.jobs, n, args.db, processes)
            layout = f" in {processes} process(es)" if processes else ""
            print(f"{args.jobs} `true` jobs, -c {n}{layout}: raw {raw:,.0f}/s ({n} process(es))  queuectl {ours:,.0f}/s"
                  f"  ratio {ours / raw:.2f}x", flush=True)
            ratios.append(ours / raw)
        if args.rounds > 1:
            print(f"-c {n}: median ratio of {args.rounds} rounds {statistics.median(ratios):.2f}x "
                  f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)


if __name__ == "__main__":
    main()
