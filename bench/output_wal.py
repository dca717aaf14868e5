"""Write traffic of saving a running job's output: a job printing steadily into a large kept tail.

    python bench/output_wal.py --old /tmp/queuectl-old [--runs 3] [--mib-per-s 1] [--seconds 10]

`--old` is a tree of the code to compare with (e.g. `git archive 21cbd82 | tar -x -C /tmp/queuectl-old`);
without it only the current tree runs. Each run: a fresh SQLite home, `log_max_bytes` 64 MiB,
one `worker run --burst` and one job printing N MiB a second (a tenth every 0.1 s) for S seconds. Measured from
/proc/PID/io of the worker: bytes it wrote (`wchar`: WAL frames, checkpoints, its log), in all
and in the first S - 0.5 s (the job still printing, before its finish), CPU seconds, and the WAL
file's largest size seen. Prints each tree's median and new / old.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _cli(root: Path, home: Path, *args: str, **kw) -> subprocess.Popen:
    code = f"import sys; sys.path.insert(0, {str(root)!r}); from queuectl.cli import main; main()"
    env = dict(os.environ, QUEUECTL_HOME=str(home))
    env.pop("QUEUECTL_DB", None)
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, **kw)


def _wchar(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(root: Path, mib: int, seconds: int) -> tuple[int, float, int, float]:
    home = Path(tempfile.mkdtemp(prefix="queuectl-wal-"))
    try:
        for args in (("config", "set", "log_max_bytes", str(64 * 1024 * 1024)), ("config", "set", "poll_interval", "0.05")):
            assert _cli(root, home, *args, stdout=subprocess.DEVNULL).wait() == 0
        # steadily: a tenth of the rate every 0.1 s, so every heartbeat has something to save
        job = (f"i=0; while [ $i -lt {seconds * 10} ]; do head -c {mib * 1024 * 1024 // 10} /dev/zero | tr '\\0' x; "
               "i=$((i+1)); sleep 0.1; done")
        assert _cli(root, home, "enqueue", job, stdout=subprocess.DEVNULL).wait() == 0
        worker = _cli(root, home, "worker", "run", "--burst", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wal = home / "queue.db-wal"
        wrote, cpu, wal_peak, running = 0, 0.0, 0, 0
        began = time.monotonic()
        while worker.poll() is None:
            try:
                wrote, cpu = _wchar(worker.pid), _cpu(worker.pid)
            except (OSError, StopIteration, ValueError):
                pass
            if time.monotonic() - began <= seconds - 0.5:  # the job still prints: no finish yet
                running = wrote
            wal_peak = max(wal_peak, wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.1)
        return wrote, cpu, wal_peak, running
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib-per-s", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    trees = ([("old", args.old)] if args.old else []) + [("new", HERE)]
    results: dict[str, list[tuple[int, float, int, float]]] = {name: [] for name, _ in trees}
    for _ in range(args.runs):  # alternate, so both see the same load
        for name, root in trees:
            r = one_run(root, args.mib_per_s, args.seconds)
            results[name].append(r)
            print(f"{name}: worker wrote {r[0] / 1e6:.1f} MB ({r[3] / 1e6:.1f} MB in the first {args.seconds - 0.5:g} s), "
                  f"CPU {r[1]:.2f} s, WAL peak {r[2] / 1e6:.1f} MB", flush=True)
    medians = {}
    for name, rs in results.items():
        wrote = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        running = statistics.median(r[3] for r in rs)
        beats = (args.seconds - 0.5) / 0.5  # a running job's output is saved at each heartbeat (0.5 s)
        medians[name] = (wrote, cpu, running)
        print(f"{name} median: wrote {wrote / 1e6:.1f} MB, while the job printed {running / beats / 1e6:.2f} MB "
              "per heartbeat, "
              f"CPU {cpu:.2f} s, WAL peak {statistics.median(r[2] for r in rs) / 1e6:.1f} MB")
    if "old" in medians:
        print(f"new / old: bytes written {medians['new'][0] / medians['old'][0]:.3f} "
              f"(while the job printed {medians['new'][2] / medians['old'][2]:.3f}), "
              f"CPU {medians['new'][1] / medians['old'][1]:.2f}")


if __name__ == "__main__":
    main()
