"""Store size under retention: rounds of N jobs printing 50 KB each, one day apart, with
keep_completed = 1d; after each round, the workers' retention pass (`retention.prune`, the same
function a worker calls every 10 s) runs until it has nothing left to do.

    python bench/retention.py [--jobs 10000] [--rounds 3] [--store sqlite|postgresql] [--url URL]

Prints, per round: the store's size (SQLite: the file after a WAL checkpoint; PostgreSQL:
pg_database_size) before and after the pass (which deletes the previous round, now a day old),
the pass's wall time, and its longest single write transaction (how long any other writer could
have had to wait). Without retention the store grows by one round's worth every round; with it,
it stays at about one round's worth after each pass (SQLite gives the pages back to the
filesystem). PostgreSQL keeps the pages of deleted rows for reuse once a VACUUM has passed
(autovacuum does it in its own time; the bench runs one at once), so its size stops growing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from queuectl.core.clock import FrozenClock
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import Completed
from queuectl.core.retention import prune
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store

OUTPUT = 50_000
DAY = 86400.0


def _size(store, db: Path | None) -> int:
    if db is not None:
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # the pages' home is the file
        wal = Path(str(db) + "-wal")
        return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return int(store.execute("SELECT pg_database_size(current_database())").fetchone()[0])


class _TimedQueue(JobQueue):
    """Records how long each retention transaction held the store."""

    held: list[float]

    def prune_finished(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return super().prune_finished(*args, **kwargs)
        finally:
            self.held.append(time.perf_counter() - start)


def _fill(queue: JobQueue, n: int, settings: Settings) -> None:
    """N jobs run to completion as a worker records them: each finish stores 50 KB of output."""
    queue.enqueue([JobSpec(command="true") for _ in range(n)], settings)
    job = queue.claim("w-bench")
    while job is not None:
        _, job = queue.finish_and_claim(job, "w-bench", RunStart("h", 1, None, queue.clock.now()), Completed(),
                                        settings, output=os.urandom(OUTPUT), output_bytes=OUTPUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1/test",
                        help="a PostgreSQL server (through any database on it): the bench creates a database "
                             "of its own there and drops it at the end")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="queuectl-retention-"))
    own_db = None
    try:
        if args.store == "sqlite":
            db: Path | None = folder / "q.db"
            url = "sqlite:///" + str(db).lstrip("/")
        else:
            own_db = f"queuectl_bench_{uuid.uuid4().hex[:10]}"
            _admin(args.url, f'CREATE DATABASE "{own_db}"')
            db, url = None, args.url.rsplit("/", 1)[0] + "/" + own_db
        store = open_store(url, durable=False)
        clock = FrozenClock(time.time() - args.rounds * DAY)
        queue = _TimedQueue(store, clock)
        queue.held = []
        settings = Settings(keep_completed=DAY)
        print(f"{args.store}: rounds of {args.jobs:,} jobs x {OUTPUT // 1000} KB output, keep_completed = 1d")
        empty = _size(store, db)
        grew: list[float] = []
        previous_after = empty
        for number in range(1, args.rounds + 1):
            start = time.perf_counter()
            _fill(queue, args.jobs, settings)
            filled = time.perf_counter() - start
            before = _size(store, db)
            queue.held = []
            start = time.perf_counter()
            passes = 0
            while True:  # a worker's passes, back to back (a worker waits 10 s between them)
                passes += 1
                if not prune(queue, settings, clock.now()).anything:
                    break
            took = time.perf_counter() - start
            if db is None:  # what autovacuum does in its own time: the space of deleted rows is reused
                store.execute("VACUUM job, run")
            after = _size(store, db)
            held = sorted(queue.held) or [0.0]
            grew.append(before - previous_after)
            previous_after = after
            print(f"round {number}: filled in {filled:.0f} s; store {before / 1e6:,.1f} MB before the pass, "
                  f"{after / 1e6:,.1f} MB after ({passes} passes, {took:.1f} s; write transactions: "
                  f"median {statistics.median(held) * 1000:.0f} ms, longest {held[-1] * 1000:.0f} ms)")
            clock.advance(DAY + 1)  # the next round runs a day later: this one is then past keep_completed
        print(f"empty store {empty / 1e6:.1f} MB; each round of {args.jobs:,} jobs adds "
              f"{statistics.median(grew) / 1e6:,.1f} MB (median), which retention gives back a day later")
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if own_db is not None:
            _admin(args.url, f'DROP DATABASE IF EXISTS "{own_db}" WITH (FORCE)')


def _admin(url: str, statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE refuse a transaction
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
