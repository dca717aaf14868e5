"""What a due waiting job needs besides its state and `run_at` before a worker may claim it.

One SQL condition on the claim's candidate rows (`job`), shared by every claim statement:
- not held;
- its queue neither paused nor at its limit of running jobs;
- every job it runs after has completed.

`why.py` explains the same rules in words, for a job that waits.

The limit is enforced here, in the claim, so it holds across all workers and hosts. SQLite: a
claim is one write statement, and SQLite has one writer at a time, so the count is exact.
PostgreSQL: claims run concurrently and a statement sees a snapshot taken when it began, so the
count goes through `queuectl_queue_has_room` (m0008), which takes the queue's advisory lock (or
skips the queue, as SKIP LOCKED skips a row) and counts with a snapshot taken after the lock.
The lock is held until the claim's transaction ends: the next claim of that queue sees its job.

A claim that takes several jobs at once (a worker's free slots, LIMIT k) takes a limited queue's
jobs only when the queue has room for k more, so the batch cannot overshoot the limit whatever it
picks; `JobQueue.claim_many` then fills the slots left one job at a time.
"""

from __future__ import annotations

from queuectl.core.db import Store


def _queue_full(store: Store, batch: int) -> str:
    """`blocked` (a queue row with a limit) has no room for `batch` more running jobs."""
    if store.is_sqlite:
        return ("(SELECT count(*) FROM job AS busy WHERE busy.state = 'processing' "
                f"AND busy.queue = blocked.name) + {batch} > blocked.max_running")
    return f"NOT queuectl_queue_has_room(blocked.name, blocked.max_running - {batch - 1})"


def claim_ready_condition(store: Store, batch: int = 1) -> str:
    """The condition, on the claim's candidate rows of `job`, that they may run now; `batch` is the
    claim's LIMIT (a limited queue takes part only with room for that many)."""
    return (
        "job.held = 0 "
        "AND job.queue NOT IN (SELECT blocked.name FROM queue AS blocked WHERE blocked.paused = 1 "
        f"OR (blocked.max_running > 0 AND {_queue_full(store, int(batch))})) "
        "AND NOT EXISTS (SELECT 1 FROM job_dep AS dep JOIN job AS prior ON prior.id = dep.after_id "
        "WHERE dep.job_id = job.id AND prior.state <> 'completed')"
    )
