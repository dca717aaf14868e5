"""A worker's memory: RSS when idle, and after running N jobs (to spot growth).

    python bench/worker_rss.py [--jobs 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import psutil

from queuectl.core.store import open_store
from queuectl.core.queue import JobQueue


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    exe = [sys.executable, "-m", "queuectl"]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QUEUECTL_HOME=home)
        env.pop("QUEUECTL_DB", None)
        subprocess.run([*exe, "worker", "start"], env=env, check=True, capture_output=True)
        try:
            [worker] = json.loads(subprocess.run([*exe, "worker", "list", "--json"], env=env, check=True,
                                                 capture_output=True).stdout)
            proc = psutil.Process(worker["pid"])
            time.sleep(1.0)
            idle = proc.memory_info().rss
            queue = JobQueue(open_store(f"sqlite:///{home}/queue.db"))
            half = args.jobs // 2
            bulk = "".join('{"command": "echo some output"}\n' for _ in range(half)).encode()
            subprocess.run([*exe, "enqueue", "-"], env=env, input=bulk, check=True, capture_output=True)
            while queue.counts()["completed"] < half:
                time.sleep(0.1)
            middle = proc.memory_info().rss
            subprocess.run([*exe, "enqueue", "-"], env=env, input=bulk, check=True, capture_output=True)
            while queue.counts()["completed"] < 2 * half:
                time.sleep(0.1)
            after = proc.memory_info().rss
        finally:
            subprocess.run([*exe, "worker", "stop", "--wait"], env=env, capture_output=True)
    mib = 2 ** 20
    print(f"worker RSS idle {idle / mib:.1f} MiB; after {half:,} jobs {middle / mib:.1f} MiB; "
          f"after {2 * half:,} jobs {after / mib:.1f} MiB")


if __name__ == "__main__":
    main()
