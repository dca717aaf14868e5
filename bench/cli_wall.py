"""Wall time of CLI commands from a shell: one enqueue, a 100,000-job bulk enqueue, and
`status` / `list --limit 50` on a store of N jobs — each next to `python -c pass`.

    python bench/cli_wall.py [--runs 20] [--big-store /tmp/queuectl-bench-million]

The big store is the one `bench/tui_million.py` builds (1,000,000 jobs); it is built if missing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import queuectl


def wall(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, input=stdin, check=True, capture_output=True)
    return time.perf_counter() - start


def median_ms(argv: list[str], env: dict[str, str], runs: int) -> float:
    return statistics.median(wall(argv, env) for _ in range(runs)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--big-store", default="/tmp/queuectl-bench-million")
    parser.add_argument("--big-jobs", type=int, default=1_000_000)
    parser.add_argument("--bulk", type=int, default=100_000)
    args = parser.parse_args()
    exe = [sys.executable, "-m", "queuectl"]
    # As installed by pip, every module has its bytecode compiled: measure that, not a compile of
    # queuectl's sources at each start (which PYTHONDONTWRITEBYTECODE=1 would force).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(queuectl.__file__).parent)], check=True)
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "QUEUECTL_DB")}
    with tempfile.TemporaryDirectory() as home:
        env = dict(base_env, QUEUECTL_HOME=home)
        subprocess.run([*exe, "status"], env=env, check=True, capture_output=True)
        base = median_ms([sys.executable, "-c", "pass"], env, args.runs)
        print(f"python -c pass                 {base:7.1f} ms")
        print(f"queuectl enqueue true          {median_ms([*exe, 'enqueue', 'true'], env, args.runs):7.1f} ms")
        bulk = "".join(json.dumps({"command": f"echo {i}"}) + "\n" for i in range(args.bulk)).encode()
        times = [wall([*exe, "enqueue", "-"], env, bulk) for _ in range(3)]
        print(f"queuectl enqueue - ({args.bulk:,})   {statistics.median(times) * 1000:7.1f} ms")
    big = Path(args.big_store)
    if not (big / "queue.db").exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("tui_million.py")), "--store", str(big),
                        "--jobs", str(args.big_jobs)], check=True, capture_output=True)
    env = dict(base_env, QUEUECTL_HOME=str(big))
    total = json.loads(subprocess.run([*exe, "status", "--json"], env=env, capture_output=True, check=True).stdout)["total"]
    print(f"queuectl status ({total:,} jobs) {median_ms([*exe, 'status'], env, args.runs):7.1f} ms")
    print(f"queuectl list --limit 50       {median_ms([*exe, 'list', '--limit', '50'], env, args.runs):7.1f} ms")


if __name__ == "__main__":
    main()
