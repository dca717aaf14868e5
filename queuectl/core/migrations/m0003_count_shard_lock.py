"""Job counts on PostgreSQL without deadlocks: a shard's rows are written under the shard's lock.

Shards go by backend pid mod 16, so two workers may share one. A transaction writes several rows
of its shard one after another (a finish: the old and the new state's rows; the claim that follows
in the same transaction: two more), in an order set by the states. Two transactions on one shard
could each hold a row the other needs: "deadlock detected" after a second's stall, and a failed
claim or finish to retry. Now every write to a shard's rows first takes a transaction-scoped
advisory lock on the shard, before any of its rows: one lock, always first, so no cycle of waits
(the writers of one shard queued behind each other on its rows already). SQLite: one writer, nothing
to do.
"""

from __future__ import annotations

from queuectl.core.db import Store
from queuectl.core.migrations.m0002_job_counts import shard_expression

# (two-int advisory keys: a space apart from the migrations' one-bigint lock)
SHARD_LOCK_KEY = 7061747


def shard_lock(store: Store) -> str:
    """SQL that takes this connection's shard lock (PostgreSQL)."""
    return f"pg_advisory_xact_lock({SHARD_LOCK_KEY}, {shard_expression(store)})"


def up(store: Store) -> None:
    if store.is_sqlite:
        return
    shard = shard_expression(store)
    store.execute(
        f"""CREATE OR REPLACE FUNCTION queuectl_job_count() RETURNS trigger AS $$
        BEGIN
            PERFORM {shard_lock(store)};
            INSERT INTO job_count (state, shard, n) VALUES (OLD.state, {shard}, -1)
                ON CONFLICT (state, shard) DO UPDATE SET n = job_count.n - 1;
            INSERT INTO job_count (state, shard, n) VALUES (NEW.state, {shard}, 1)
                ON CONFLICT (state, shard) DO UPDATE SET n = job_count.n + 1;
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
    )
