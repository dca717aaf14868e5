"""Queues as rows (a limit and a pause of their own), job dependencies, unique keys, holds, labels.

- `queue`: one row per queue name, made on first use; `max_running` 0 = no limit.
- `job.held` (0/1), `job.label`, `job.unique_key`: a unique key is unique among jobs that wait
  or run (a partial unique index), so two concurrent enqueues with one key make one job.
- `job_dep`: job `job_id` runs only once job `after_id` completed. Both ends cascade on delete:
  a deleted job takes its edges with it (`JobQueue.delete` cancels waiting dependants first).
- `job_running_queue`: the running jobs of a queue, counted by the claim of a limited queue.
- PostgreSQL: `queuectl_queue_has_room(name, max_running)`, the claim's check of a limited queue.
  It takes the queue's transaction-scoped advisory lock without waiting (a queue another claim is
  looking at is skipped, as SKIP LOCKED skips a row) and, being VOLATILE, counts with a snapshot
  taken after the lock: two claims can never both see room for one more job.

Depends only on m0001's schema (and m0003's advisory-lock key space).
"""

from __future__ import annotations

import time

from queuectl.core.db import Store

# (two-int advisory keys: the first is this lock's kind; m0003's shard lock is 7061747)
QUEUE_LOCK_KEY = 7061748


def up(store: Store) -> None:
    real = "REAL" if store.is_sqlite else "DOUBLE PRECISION"
    statements = [
        f"""CREATE TABLE queue (
            name TEXT PRIMARY KEY,
            max_running INTEGER NOT NULL DEFAULT 0 CHECK (max_running >= 0),
            paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
            created_at {real} NOT NULL
        )""",
        "ALTER TABLE job ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1))",
        "ALTER TABLE job ADD COLUMN label TEXT",
        "ALTER TABLE job ADD COLUMN unique_key TEXT",
        "CREATE UNIQUE INDEX job_unique_live ON job (unique_key) "
        "WHERE unique_key IS NOT NULL AND state IN ('pending', 'failed', 'processing')",
        "CREATE INDEX job_running_queue ON job (queue) WHERE state = 'processing'",
        """CREATE TABLE job_dep (
            job_id TEXT NOT NULL REFERENCES job (id) ON DELETE CASCADE,
            after_id TEXT NOT NULL REFERENCES job (id) ON DELETE CASCADE,
            PRIMARY KEY (job_id, after_id)
        )""",
        "CREATE INDEX job_dep_after ON job_dep (after_id)",
    ]
    if not store.is_sqlite:
        statements.append(
            f"""CREATE FUNCTION queuectl_queue_has_room(queue_name TEXT, max_running INTEGER) RETURNS boolean
            VOLATILE AS $$
            BEGIN
                IF NOT pg_try_advisory_xact_lock({QUEUE_LOCK_KEY}, hashtext(queue_name)) THEN
                    RETURN false;
                END IF;
                RETURN (SELECT count(*) FROM job WHERE state = 'processing' AND queue = queue_name) < max_running;
            END $$ LANGUAGE plpgsql"""
        )
    for statement in statements:
        store.execute(statement)
    store.execute(
        "INSERT INTO queue (name, created_at) SELECT DISTINCT queue, ? FROM job", (time.time(),)
    )
