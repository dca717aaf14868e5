"""`run.output_bytes` as a 64-bit integer on PostgreSQL.

It counts everything a run printed, kept or not: a job that printed more than 2 GiB overflowed
PostgreSQL's 32-bit INTEGER ("integer out of range"), and every worker that took the job retried
its result for ever. SQLite's INTEGER is already 64-bit: nothing to do.
"""

from __future__ import annotations

from queuectl.core.db import Store


def up(store: Store) -> None:
    if store.is_sqlite:
        return
    store.execute("ALTER TABLE run ALTER COLUMN output_bytes TYPE BIGINT")
