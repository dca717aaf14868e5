"""Where a trivial job's time goes in a one-slot worker, against the raw loop, in one run.

    python bench/job_cost.py [--jobs 3000] [--rounds 3]

Four parts, each in a fresh process of its own, alternated for `--rounds` rounds; medians of the
wall time and of the CPU time of that process alone (`time.process_time`: not its children, so a
job's shell is in the wall time only):

  raw     `subprocess.run(["sh", "-c", "true"], capture_output=True)` in a loop: the throughput
          benchmark's baseline (bench/throughput.py)
  spawn   the worker's own spawn and reap of the same command, without the store: `JobRun`
          (its own session, output capture, pidfd, the leftover check), driven as the worker does
  store   one transaction that records a run's end and claims the next job
          (`JobQueue.finish_many_and_claim`), without a process
  worker  `Worker(burst=True).run()` draining `--jobs` jobs: all of the above, plus the loop, the
          log line per job, heartbeats and maintenance

What `worker` costs beyond `spawn` + `store` is the loop's own bookkeeping. The throughput
targets of issue 15 ask the worker's wall time per job to be at most 1.25× (`-c 1`) the raw
loop's; this prints the budget that leaves and what each part takes of it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time


def part_raw(jobs: int) -> None:
    for _ in range(jobs):
        subprocess.run(["sh", "-c", "true"], capture_output=True)


def part_spawn(jobs: int) -> None:
    import select

    from queuectl.core.execution import JobRun
    from queuectl.core.records import ClaimedJob
    from queuectl.core.settings import Settings

    settings = Settings()
    for n in range(jobs):
        job = ClaimedJob(id=f"j{n}", command="true", cwd=None, env=None, timeout=0, attempts=1, max_retries=0,
                         queue="default", keep_children=False)
        run = JobRun(job, worker_id="bench", host="bench", settings=settings)
        while not run.done:
            ready, _, _ = select.select(run.fds(), [], [], 1.0)
            run.service(ready)


def part_store(jobs: int) -> None:
    from queuectl.core.queue import Finish, JobQueue
    from queuectl.core.records import RunStart
    from queuectl.core.results import exited
    from queuectl.core.settings import Settings
    from queuectl.core.store import open_store

    queue = JobQueue(open_store(durable=False))
    settings = Settings()
    job = queue.claim_many("bench", None, 1)[0]
    for _ in range(jobs):
        now = time.time()
        finish = Finish(job, RunStart("bench", 123, None, now), exited(0, None), b"", 0, now)
        _, claimed = queue.finish_many_and_claim("bench", [finish], settings, claim=1)
        if claimed:
            job = claimed[0]


def part_worker(jobs: int) -> None:
    from queuectl.core.store import open_store
    from queuectl.core.worker import Worker

    # as `worker start` runs it: INFO to a log file
    logging.basicConfig(level=logging.INFO, filename=os.path.join(os.environ["QUEUECTL_HOME"], "worker.log"),
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    Worker(open_store(durable=False), burst=True).run()


PARTS = {"raw": part_raw, "spawn": part_spawn, "store": part_store, "worker": part_worker}


def measure(part: str, jobs: int) -> tuple[float, float]:
    """(wall, CPU) seconds per job of `part`, in a fresh process with a fresh store of `jobs` jobs."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QUEUECTL_HOME=home)
        env.pop("QUEUECTL_DB", None)
        if part in ("store", "worker"):
            lines = "".join('{"command": "true"}\n' for _ in range(jobs + 1))
            subprocess.run([sys.executable, "-m", "queuectl", "enqueue", "-"], input=lines, text=True, env=env,
                           capture_output=True, check=True)
        out = subprocess.run([sys.executable, __file__, "--part", part, "--jobs", str(jobs)], env=env,
                             capture_output=True, text=True, check=True).stdout
        wall, cpu = json.loads(out.strip().splitlines()[-1])
        return wall / jobs, cpu / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # one measurement, in its own process
    args = parser.parse_args()
    if args.part:
        wall, cpu = time.perf_counter(), time.process_time()
        PARTS[args.part](args.jobs)
        print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
        return
    got: dict[str, list[tuple[float, float]]] = {part: [] for part in PARTS}
    for _ in range(args.rounds):
        for part in PARTS:
            got[part].append(measure(part, args.jobs))
    med = {part: (statistics.median(w for w, _ in runs) * 1e3, statistics.median(c for _, c in runs) * 1e3)
           for part, runs in got.items()}
    print(f"{args.jobs} `true` jobs, medians of {args.rounds} alternated rounds; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'part':<8} {'wall ms/job':>12} {'CPU ms/job':>11}")
    for part, (wall, cpu) in med.items():
        print(f"{part:<8} {wall:12.3f} {cpu:11.3f}")
    raw_wall, worker_wall = med["raw"][0], med["worker"][0]
    rest = med["worker"][1] - med["spawn"][1] - med["store"][1]
    print(f"worker / raw throughput: {raw_wall / worker_wall:.2f}× (target at -c 1: 0.80×, i.e. at most "
          f"{raw_wall / 0.8:.3f} ms a job)")
    print(f"worker CPU beyond the raw loop's: {med['worker'][1] - med['raw'][1]:.3f} ms a job, of which the "
          f"store transaction {med['store'][1]:.3f}, the spawn beyond raw's {med['spawn'][1] - med['raw'][1]:.3f}, "
          f"the loop's bookkeeping {rest:.3f}")


if __name__ == "__main__":
    main()
