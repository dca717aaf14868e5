"""Schedules, durable hooks and the tables they need.

- `schedule`: a recurring job (cron expression in a time zone, or a fixed interval). Workers
  enqueue its due slot as part of their maintenance; `next_run_at` is compared-and-set in the
  transaction that inserts the slot's job, so one job per slot across every worker and host.
- `job.on_success`, `job.on_failure`, `job.on_dead`: hook commands, each enqueued as a job of its
  own in the transaction of the finish that fires it; `job.parent_id` names the job a hook job was
  fired by (a hook job fires no hooks of its own, so a failing hook cannot chain for ever).
- `queue_hook`: the same three hooks for every job of a queue, keyed by queue name.

Depends only on m0001's schema.
"""

from __future__ import annotations

from queuectl.core.db import Store


def up(store: Store) -> None:
    real = "REAL" if store.is_sqlite else "DOUBLE PRECISION"
    statements = [
        "ALTER TABLE job ADD COLUMN on_success TEXT",
        "ALTER TABLE job ADD COLUMN on_failure TEXT",
        "ALTER TABLE job ADD COLUMN on_dead TEXT",
        "ALTER TABLE job ADD COLUMN parent_id TEXT",
        f"""CREATE TABLE schedule (
            name TEXT PRIMARY KEY,
            cron TEXT,
            tz TEXT,
            every {real} CHECK (every IS NULL OR every > 0),
            command TEXT NOT NULL CHECK (command <> ''),
            cwd TEXT,
            env TEXT,
            queue TEXT NOT NULL DEFAULT 'default',
            priority INTEGER NOT NULL DEFAULT 0,
            max_retries INTEGER CHECK (max_retries IS NULL OR max_retries >= 0),
            timeout {real} CHECK (timeout IS NULL OR timeout >= 0),
            on_success TEXT,
            on_failure TEXT,
            on_dead TEXT,
            paused INTEGER NOT NULL DEFAULT 0,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            anchor_at {real} NOT NULL,
            next_run_at {real} NOT NULL,
            last_run_at {real},
            last_job_id TEXT,
            CHECK ((cron IS NULL) <> (every IS NULL))
        )""",
        "CREATE INDEX schedule_due ON schedule (next_run_at) WHERE paused = 0",
        """CREATE TABLE queue_hook (
            queue TEXT PRIMARY KEY,
            on_success TEXT,
            on_failure TEXT,
            on_dead TEXT
        )""",
    ]
    for statement in statements:
        store.execute(statement)
