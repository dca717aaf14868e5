"""Many slots: the idle cost of `worker start -c N` and how fast N slots drain sleeping jobs.

    python bench/slots.py [--count 64] [--processes P] [--idle 30] [--sleepers 1000] [--runs 3] [--db URL]

For each run, against a fresh store: start `worker start -c N` (the default layout unless
`--processes`), wait until every worker is registered and has settled, then measure
- the worker processes and their watchdogs (every process of the home that is not a job): how
  many, their total RSS, and their CPU over `--idle` seconds (percent of one core);
- store connections held by them (PostgreSQL: pg_stat_activity rows of the database);
- `--sleepers` `sleep 1` jobs, bulk-enqueued while paused, timed from the resume until all are
  completed, against the ideal `sleepers / N` seconds.
Baselines in the same run: the RSS of a bare `python -c` and the ideal drain time. Medians printed.
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

import psutil

from queuectl.core.config import ConfigStore
from queuectl.core.queue import JobQueue
from queuectl.core.store import open_store
from queuectl.core.wake import wake_workers

MIB = 2 ** 20


def q(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run([sys.executable, "-m", "queuectl", *args], env=env, input=stdin, text=True,
                          capture_output=True, check=True).stdout


def home_processes(home: str) -> list[psutil.Process]:
    """Workers and watchdogs of this home: processes carrying it in their environment, not jobs."""
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except psutil.Error:
            continue
        if env.get("QUEUECTL_HOME") == home and "QUEUECTL_JOB_ID" not in env and proc.pid != os.getpid():
            found.append(proc)
    return found


def bare_python_rss() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    time.sleep(1)
    rss = psutil.Process(proc.pid).memory_info().rss
    proc.wait()
    return rss


def one_run(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, QUEUECTL_HOME=home)
        env.pop("QUEUECTL_DB", None)
        url = args.db or f"sqlite:///{home}/queue.db"
        if args.db:
            env["QUEUECTL_DB"] = args.db
            empty_store(args.db)
        start = ["worker", "start", "-c", str(args.count)]
        if args.processes:
            start += ["--processes", str(args.processes)]
        q(env, "pause")
        q(env, *start)
        store = open_store(url)
        queue = JobQueue(store)
        try:
            time.sleep(3)  # settle: start-up imports and first heartbeats done
            procs = home_processes(home)
            workers = json.loads(q(env, "worker", "list", "--json"))
            rss = sum(p.memory_info().rss for p in procs)
            cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
            t0 = time.monotonic()
            time.sleep(args.idle)
            cpu = sum(sum(p.cpu_times()[:2]) - cpu0[p.pid] for p in procs if p.is_running())
            idle_cpu = 100 * cpu / (time.monotonic() - t0)
            conns = None
            if args.db:
                database = args.db.rsplit("/", 1)[1]
                pids = {p.pid for p in procs}
                rows = store.execute("SELECT client_port FROM pg_stat_activity WHERE datname = ?",
                                     (database,)).fetchall()
                ports = {c.laddr.port for p in procs for c in p.net_connections("tcp")
                         if c.raddr and c.raddr.port == 5432}
                conns = sum(1 for (port,) in rows if port in ports)
                del pids
            drain = None
            if args.sleepers:
                q(env, "enqueue", "-", stdin="".join('{"command": "sleep 1"}\n' for _ in range(args.sleepers)))
                t1 = time.perf_counter()
                ConfigStore(store).set_paused(False)
                wake_workers(store)
                while queue.counts()["completed"] < args.sleepers:
                    time.sleep(0.05)
                drain = time.perf_counter() - t1
        finally:
            q(env, "worker", "stop", "--wait", "--timeout", "20")
            store.close()
    return {"processes": len(procs), "workers": len(workers), "slots": sum(w["slots"] for w in workers),
            "rss_mib": rss / MIB, "idle_cpu_pct": idle_cpu, "connections": conns, "drain_s": drain}


def empty_store(url: str) -> None:
    """Delete every job, run and worker of a bench database between runs (bench/hosts.py too)."""
    store = open_store(url)
    with store.write():
        for table in ("run_chunk", "run", "job", "worker", "setting"):
            store.execute(f"DELETE FROM {table}")
        store.execute("UPDATE job_count SET n = 0")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--processes", type=int)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--sleepers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", help="a PostgreSQL URL to run against (its queuectl tables are emptied)")
    args = parser.parse_args()
    bare = bare_python_rss() / MIB
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args))
        print(f"run {i + 1}: {runs[-1]}", flush=True)

    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.median(values) if values else None

    ideal = args.sleepers / args.count if args.sleepers else None
    print(f"-c {args.count}: {med('workers'):.0f} worker processes, {med('processes'):.0f} processes with watchdogs, "
          f"{med('slots'):.0f} slots")
    print(f"idle RSS total {med('rss_mib'):.1f} MiB (a bare `python -c`: {bare:.1f} MiB, "
          f"{med('rss_mib') / bare:.1f}x); idle CPU {med('idle_cpu_pct'):.2f} % of a core over {args.idle:g} s")
    if args.db:
        print(f"store connections: {med('connections'):.0f}")
    if ideal:
        print(f"{args.sleepers} `sleep 1` jobs drained in {med('drain_s'):.2f} s; ideal {ideal:.2f} s; "
              f"{med('drain_s') / ideal:.3f}x")


if __name__ == "__main__":
    main()
