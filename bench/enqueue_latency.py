"""Wall time of one `queuectl enqueue` from a shell, vs `python -c pass`, medians of N runs.

    python bench/enqueue_latency.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QUEUECTL_HOME=home)
        env.pop("QUEUECTL_DB", None)
        exe = [sys.executable, "-m", "queuectl"]
        subprocess.run([*exe, "status"], env=env, check=True, capture_output=True)  # create the store
        base = statistics.median(wall([sys.executable, "-c", "pass"], env) for _ in range(args.runs))
        ours = statistics.median(wall([*exe, "enqueue", "true"], env) for _ in range(args.runs))
        status = statistics.median(wall([*exe, "status"], env) for _ in range(args.runs))
    print(f"python -c pass      median {base * 1000:6.1f} ms")
    print(f"queuectl enqueue    median {ours * 1000:6.1f} ms  ({ours / base:.1f}x python startup)")
    print(f"queuectl status     median {status * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
