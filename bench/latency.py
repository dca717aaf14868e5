"""Enqueue → start latency on idle workers: the time from a job's creation to its run starting.

    python bench/latency.py [--samples 200] [--workers 2] [--db postgresql://…]

Jobs are enqueued one at a time through the CLI's own path (JobQueue.enqueue + the wake-up
hint), each after the previous one finished, so the workers are idle each time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from queuectl.core.config import ConfigStore
from queuectl.core.store import open_store
from queuectl.core.queue import JobQueue
from queuectl.core.specs import JobSpec
from queuectl.core.wake import wake_workers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", help="a PostgreSQL URL (wake-ups by NOTIFY) instead of a SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QUEUECTL_HOME=home)
        env.pop("QUEUECTL_DB", None)
        if args.db:
            env["QUEUECTL_DB"] = args.db
        os.environ.update(QUEUECTL_HOME=home)
        store = open_store(args.db or f"sqlite:///{home}/queue.db")
        queue = JobQueue(store)
        settings = ConfigStore(store).settings()
        run = [sys.executable, "-m", "queuectl"]
        subprocess.run([*run, "worker", "start", "-c", str(args.workers)], env=env, check=True, capture_output=True)
        try:
            time.sleep(1.0)  # let them settle into idle waits
            latencies = []
            for _ in range(args.samples):
                [job_id] = queue.enqueue([JobSpec(command="true")], settings, default_cwd="/")
                wake_workers(store)
                while True:
                    runs = queue.runs(job_id)
                    if runs and runs[0].finished_at:
                        break
                    time.sleep(0.002)
                latencies.append(runs[0].started_at - queue.get(job_id).created_at)
                time.sleep(0.02)
        finally:
            subprocess.run([*run, "worker", "stop", "--wait", "--timeout", "10"], env=env, capture_output=True)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"enqueue -> start, {args.samples} samples, {args.workers} idle workers: "
          f"p50 {q[49] * 1000:.1f} ms  p95 {q[94] * 1000:.1f} ms  max {latencies[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
