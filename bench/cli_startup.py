"""`queuectl enqueue 'CMD'` and `queuectl status` against the floor (`bench/enqueue_baseline.py`,
the least a Python enqueue can do): wall times from a shell, the three interleaved so they share the
machine's load, medians of `--runs`, and the ratios (issue 15's target: at most 1.6×).

    python bench/cli_startup.py [--runs 30]

Run with the interpreter queuectl is installed in; bytecode compiled first (pip install does it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from enqueue_latency import wall  # bench/ is sys.path[0] when run as a script

import queuectl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(queuectl.__file__).parent)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "QUEUECTL_DB")}
    with tempfile.TemporaryDirectory() as home:
        env["QUEUECTL_HOME"] = home
        cases = {
            "baseline enqueue": [sys.executable, str(here / "enqueue_baseline.py"), "--db", f"{home}/baseline.db",
                                 "true"],
            "queuectl enqueue": [sys.executable, "-m", "queuectl", "enqueue", "true"],
            "queuectl status": [sys.executable, "-m", "queuectl", "status"],
        }
        for argv in cases.values():  # the stores exist, their schema is there: steady state
            subprocess.run(argv, env=env, check=True, capture_output=True)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():
                times[name].append(wall(argv, env))
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    # the machine is shared: the load the figures were taken under belongs with them
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    base = medians["baseline enqueue"]
    for name, ms in medians.items():
        print(f"{name:<18} {ms:7.1f} ms   {ms / base:4.2f}×")


if __name__ == "__main__":
    main()
