"""What one Prometheus scrape costs on a big store, against a `SELECT 1` round trip and `status`'s reads.

    python bench/metrics_scrape.py [--jobs 1000000] [--queues 2] [--store DIR] [--db postgresql://…] [--scrapes 50]

Builds (once, reused when the store already holds it) a store of N jobs: 70 % completed and 10 %
dead (each with one run; they finished in enqueue order over the last 7 days, as a store fills
up), 20 % pending; with --queues 2 (the
default), one job in a hundred on a second queue (2,000 of the waiting jobs: counted; the big
queue is the total minus them). Then times, in one process on one connection, median of --scrapes:
- baseline: `SELECT 1` (one round trip) and `status`'s reads (counts, workers, pause flag);
- a scrape of `stats --serve` after the first (everything but the runs is re-read; runs are read
  incrementally, only those finished since the last scrape);
- a one-shot `stats --prometheus` (the runs of the last hour are read every time);
- rendering the text format with prometheus_client on top of the reads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def build(url: str, jobs: int, queues: int = 2) -> None:
    from queuectl.core.config import ConfigStore
    from queuectl.core.store import open_store
    from queuectl.core.queue import JobQueue
    from queuectl.core.specs import JobSpec

    store = open_store(url, durable=False)
    queue = JobQueue(store)
    have = queue.counts().total
    if have >= jobs:
        store.close()
        return
    settings = ConfigStore(store).settings()
    batch = [JobSpec(command=f"echo {i}", cwd="/srv") for i in range(100_000)]
    for start in range(have, jobs, len(batch)):
        queue.enqueue(batch[: min(len(batch), jobs - start)], settings)
    week = 7 * 86400.0
    now = time.time()
    last = store.execute("SELECT max(seq) FROM job").fetchone()[0]
    with store.write():
        if not store.is_sqlite:  # the per-row count trigger would take many minutes: recount once instead
            store.execute("ALTER TABLE job DISABLE TRIGGER job_count_update")
        if queues == 2:
            store.execute("UPDATE job SET queue = 'mail' WHERE seq - (seq / 100) * 100 = 99")
        store.execute(store.sql(
            "UPDATE job SET state = 'completed', attempts = 1, finished_at = ? - (? - seq) * ?, exit_code = 0 "
            "WHERE seq - (seq / 10) * 10 < 7"), (now, last, week / jobs))
        store.execute(store.sql(
            "UPDATE job SET state = 'dead', attempts = 4, finished_at = ? - (? - seq) * ?, exit_code = 3 "
            "WHERE seq - (seq / 10) * 10 = 7"), (now, last, week / jobs))
        store.execute(
            "INSERT INTO run (job_id, number, attempt, worker_id, host, started_at, finished_at, exit_code, "
            "output_bytes) SELECT id, 1, 1, 'w-bench', 'bench', finished_at - 0.5, finished_at, exit_code, 0 "
            "FROM job WHERE state IN ('completed', 'dead')"
        )
        if not store.is_sqlite:
            store.execute("ALTER TABLE job ENABLE TRIGGER job_count_update")
            store.execute("DELETE FROM job_count")
            store.execute("INSERT INTO job_count (state, shard, n) SELECT state, 0, count(*) FROM job GROUP BY state")
    # PostgreSQL: as autovacuum would on a settled store (index-only scans need the visibility map)
    store.execute("ANALYZE" if store.is_sqlite else "VACUUM ANALYZE")
    store.close()


def median_ms(fn, n: int) -> float:
    fn()  # warm: the first call pays for cold pages and prepared plans
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--queues", type=int, choices=(1, 2), default=2)
    parser.add_argument("--store", help="default: /tmp/queuectl-bench-metrics-q{QUEUES}")
    parser.add_argument("--db", help="a PostgreSQL URL instead of the SQLite file in --store")
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    store_dir = Path(args.store or f"/tmp/queuectl-bench-metrics-q{args.queues}")
    store_dir.mkdir(parents=True, exist_ok=True)
    os.environ["QUEUECTL_HOME"] = str(store_dir)
    url = args.db or f"sqlite:///{store_dir / 'queue.db'}"
    build(url, args.jobs, args.queues)

    from queuectl.core.config import ConfigStore
    from queuectl.core.store import open_store
    from queuectl.core.metrics import MetricsReader
    from queuectl.core.queue import JobQueue
    from queuectl.core.registry import WorkerRegistry
    from queuectl.prometheus import render

    store = open_store(url)
    jobs = JobQueue(store).counts().total

    def select_1() -> None:
        store.execute("SELECT 1").fetchone()

    def status_reads() -> None:
        JobQueue(store).counts()
        config = ConfigStore(store)
        WorkerRegistry(store).list(worker_timeout=config.settings().worker_timeout)
        config.is_paused()

    reader = MetricsReader(store, window=3600.0)
    reader.read()

    def one_shot() -> None:
        MetricsReader(store, window=3600.0).read()

    base_1 = median_ms(select_1, args.scrapes)
    base_status = median_ms(status_reads, args.scrapes)
    serve = median_ms(reader.read, args.scrapes)
    serve_text = median_ms(lambda: render(reader.read()), args.scrapes)
    shot = median_ms(one_shot, max(5, args.scrapes // 5))
    store.close()
    print(f"store: {url.split('://')[0]}, {jobs:,} jobs, {args.queues} queue(s); medians of {args.scrapes} (one-shot: {max(5, args.scrapes // 5)})")
    print(f"baseline SELECT 1                 {base_1:8.3f} ms")
    print(f"baseline status reads             {base_status:8.3f} ms")
    print(f"scrape (--serve, reads)           {serve:8.3f} ms   {serve / base_status:5.1f}x status")
    print(f"scrape (--serve, reads + text)    {serve_text:8.3f} ms   {serve_text / base_status:5.1f}x status")
    print(f"one-shot --prometheus, 1h window  {shot:8.3f} ms   {shot / base_status:5.1f}x status")


if __name__ == "__main__":
    main()
