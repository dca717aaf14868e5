"""`job.keep_children`: a job whose leftover processes (a daemon it starts on purpose) are not
killed when it ends. 0 for every existing job: from now on a job's leftovers are killed at its end.

Depends only on m0003's schema (it adds a column to `job`), so it applies whether or not m0004 has.
"""

from __future__ import annotations

from queuectl.core.db import Store


def up(store: Store) -> None:
    store.execute(
        "ALTER TABLE job ADD COLUMN keep_children INTEGER NOT NULL DEFAULT 0 CHECK (keep_children IN (0, 1))"
    )
