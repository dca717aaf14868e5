"""`worker.slots`: how many jobs a worker process runs at once. 1 for every existing worker (a
worker before slots ran one job). Which job each slot runs is the job table's: the jobs in state
`processing` whose `worker_id` is the worker's (one a slot), so a claim or a finish writes nothing
more than before.

Depends only on m0001's schema (it adds a column to `worker`).
"""

from __future__ import annotations

from queuectl.core.db import Store


def up(store: Store) -> None:
    store.execute("ALTER TABLE worker ADD COLUMN slots INTEGER NOT NULL DEFAULT 1 CHECK (slots >= 1)")
