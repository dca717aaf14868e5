"""Contention on SQLite: 8 worker processes race for 2,000 trivial jobs, released all at once.

Each job is claimed exactly once (the run table holds one run per job, attempt 1, exit 0), no
job is left behind, and no worker meets "database is locked" (or any store error) — neither in
its log ($QUEUECTL_HOME/workers/*.log) nor as a failed run.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from reliability_support import tracebacks, wait_until

WORKERS = 8
JOBS = 2000


def test_eight_workers_claim_each_of_2000_jobs_exactly_once(q):
    q.configure(poll_interval=0.05)
    q.pause()  # the jobs wait until every worker is ready: then they all race
    ids = q.enqueue_many([{"id": f"c{i:04d}", "command": "true"} for i in range(JOBS)])
    assert len(ids) == JOBS
    workers = [q.spawn_worker() for _ in range(WORKERS)]
    q.wait_registered(workers)
    started = time.monotonic()
    q.pause(False)
    wait_until(lambda: q.counts()["completed"] == JOBS, timeout=120, interval=0.2,
               message=f"all {JOBS} jobs to complete (counts {q.counts()})")
    took = time.monotonic() - started

    counts = q.counts()
    assert counts["completed"] == JOBS and sum(counts.values()) == JOBS, counts
    per_job = q.sql("SELECT job_id, count(*) FROM run GROUP BY job_id HAVING count(*) <> 1")
    assert per_job == [], f"jobs run more or less than once: {per_job[:10]}"
    assert q.sql("SELECT count(*) FROM run")[0][0] == JOBS
    bad_runs = q.sql("SELECT job_id, attempt, exit_code, error FROM run WHERE exit_code <> 0 OR error IS NOT NULL "
                     "OR attempt <> 1")
    assert bad_runs == [], bad_runs[:10]
    assert q.sql("SELECT count(*) FROM job WHERE attempts <> 1 OR state <> 'completed'") == [(0,)]
    by_worker = Counter(r[0] for r in q.sql("SELECT worker_id FROM run"))
    assert set(by_worker) <= {w.id for w in workers}
    assert len(by_worker) >= WORKERS // 2, f"only {len(by_worker)} workers got jobs: {by_worker}"

    logs = q.worker_logs()
    assert len(logs) == WORKERS
    for name, text in logs.items():
        assert not re.search(r"locked|busy|store error", text, re.I), f"{name}:\n{text[-2000:]}"
    assert not tracebacks(logs)
    print(f"\n{JOBS} jobs on {WORKERS} workers in {took:.1f}s ({JOBS / took:.0f} jobs/s); "
          f"per worker {sorted(by_worker.values())}")
