"""CPU time per trivial job: a load-independent view of a worker's cost (wall-clock rates swing
with whatever else the machine runs; CPU seconds much less).

    python bench/cpu_per_job.py [--jobs 1000] [--count 1] [--runs 3]

`jobs` `true` jobs are enqueued, then one `worker run --burst -c COUNT` drains them; its CPU (user
+ system, with its watchdog and every job it ran: wait4's rusage of the reaped worker) is divided
by the jobs. Baseline in the same run: a raw loop of `subprocess.run(["sh", "-c", "true"],
capture_output=True)` in a child process, measured the same way. Medians printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

RAW = ("import subprocess, sys\n"
       "for _ in range(int(sys.argv[1])): subprocess.run(['sh', '-c', 'true'], capture_output=True)")


def cpu_of(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a child process and everything it reaped."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, argv
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ours, raw = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, QUEUECTL_HOME=home)
            env.pop("QUEUECTL_DB", None)
            exe = [sys.executable, "-m", "queuectl"]
            subprocess.run([*exe, "enqueue", "-"], env=env, check=True, capture_output=True, text=True,
                           input="".join('{"command": "true"}\n' for _ in range(args.jobs)))
            count = ["-c", str(args.count)] if args.count > 1 else []
            cpu, _ = cpu_of([*exe, "worker", "run", "--burst", "--quiet", *count], env)
            ours.append(cpu / args.jobs)
        cpu, _ = cpu_of([sys.executable, "-c", RAW, str(args.jobs)], dict(os.environ))
        raw.append(cpu / args.jobs)
        print(f"queuectl {ours[-1] * 1000:.3f} ms/job  raw {raw[-1] * 1000:.3f} ms/job", flush=True)
    q, r = statistics.median(ours), statistics.median(raw)
    print(f"{args.jobs} `true` jobs, -c {args.count}: queuectl {q * 1000:.3f} ms of CPU per job, raw loop "
          f"{r * 1000:.3f} ms; ratio raw/queuectl {r / q:.2f}x (the rate ratio two free cores would allow)")


if __name__ == "__main__":
    main()
