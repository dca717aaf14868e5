"""The PostgreSQL baseline: claim + finish with raw psycopg2 and SKIP LOCKED, no queuectl, vs the
same through queuectl's core, in the same run and database.

    python bench/pg_raw_claim.py --db postgresql://postgres@127.0.0.1/test [--jobs 20000] [--procs 1 2 4]

The raw loop is the least a SKIP LOCKED queue can do per job: one claim statement and one
finish statement, each committed. Its table is a scratch one, dropped afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

SETUP = """
DROP TABLE IF EXISTS bench_raw_job;
CREATE TABLE bench_raw_job (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, worker TEXT, finished_at DOUBLE PRECISION);
CREATE INDEX bench_raw_claim ON bench_raw_job (id) WHERE state = 'pending';
"""
CLAIM = """UPDATE bench_raw_job SET state = 'processing', worker = %s WHERE id = (
  SELECT id FROM bench_raw_job WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"""
FINISH = "UPDATE bench_raw_job SET state = 'completed', finished_at = %s WHERE id = %s AND state = 'processing'"


def _raw_worker(url: str, name: str, go) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    go.wait()
    while True:
        cur.execute(CLAIM, (name,))
        row = cur.fetchone()
        if row is None:
            return
        cur.execute(FINISH, (time.time(), row[0]))


def raw_rate(url: str, jobs: int, procs: int) -> float:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(SETUP)
    cur.execute("INSERT INTO bench_raw_job (state) SELECT 'pending' FROM generate_series(1, %s)", (jobs,))
    go = multiprocessing.Event()
    workers = [multiprocessing.Process(target=_raw_worker, args=(url, f"w{i}", go)) for i in range(procs)]
    for w in workers:
        w.start()
    time.sleep(0.5)
    start = time.perf_counter()
    go.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    cur.execute("DROP TABLE bench_raw_job")
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    for procs in args.procs:
        raw = raw_rate(args.db, args.jobs, procs)
        out = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("claim_finish.py")), "--db", args.db, "--jobs",
             str(args.jobs), "--procs", str(procs)], capture_output=True, text=True, check=True,
        ).stdout
        ours = float(out.rsplit(":", 1)[1].split()[0].replace(",", ""))
        print(f"PostgreSQL claim+finish, {procs} process(es): raw psycopg2 {raw:,.0f}/s  "
              f"queuectl {ours:,.0f}/s  ratio {ours / raw:.2f}x")


if __name__ == "__main__":
    main()
