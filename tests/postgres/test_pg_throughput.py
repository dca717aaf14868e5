"""Throughput sanity on PostgreSQL: many trivial jobs, two workers, each job run exactly once.
No timing assertion (CI machines vary); the rate is printed."""

from __future__ import annotations

import time

from pg_support import wait_until

N = 300


def test_throughput_sanity_on_postgres(pq):
    pq.config("poll_interval", 0.1)
    pq.run("pause")
    workers = pq.start_workers(2)
    ids = pq.enqueue_many([{"command": "true"} for _ in range(N)])
    assert len(set(ids)) == N
    started = time.monotonic()
    pq.run("resume")
    wait_until(lambda: pq.counts().get("completed") == N, timeout=90, interval=0.1, message=f"{N} jobs to complete")
    took = time.monotonic() - started

    assert pq.counts() == {"completed": N}
    rows = pq.probe.rows(
        "SELECT j.id, j.attempts, count(r.seq), min(r.exit_code), max(r.exit_code), "
        "bool_and(r.finished_at IS NOT NULL) "
        "FROM job j LEFT JOIN run r ON r.job_id = j.id GROUP BY j.id, j.attempts"
    )
    assert len(rows) == N
    wrong = [r for r in rows if r[1:] != (1, 1, 0, 0, True)]
    assert not wrong, f"jobs not run exactly once: {wrong[:10]}"
    status = pq.json("status")  # the kept counts match the jobs
    assert status["jobs"]["completed"] == N and status["total"] == N, status
    per_worker = dict(pq.probe.rows("SELECT worker_id, count(*) FROM run GROUP BY worker_id"))
    assert set(per_worker) <= set(workers)
    print(f"\n{N} jobs in {took:.2f} s on PostgreSQL with 2 workers: {N / took:.0f} jobs/s; per worker {per_worker}")
