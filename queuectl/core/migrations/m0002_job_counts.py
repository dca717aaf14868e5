"""Job counts per state in a small table, so `status` and the TUI never count a million rows.

A trigger keeps them on state changes; inserts and deletes adjust them in the same transaction
from `queue.py` (set-based: a per-row trigger doubled the cost of a 100,000-job bulk enqueue).
On PostgreSQL each connection writes its own shard of rows (by backend pid), so concurrent
workers never queue behind one hot counter row; a count is the sum over shards.
"""

from __future__ import annotations

from queuectl.core.db import Store
from queuectl.core.states import ALL_STATES

PG_SHARDS = 16


def shard_expression(store: Store) -> str:
    """The shard a write of this connection lands in."""
    return "0" if store.is_sqlite else f"mod(pg_backend_pid(), {PG_SHARDS})"


def up(store: Store) -> None:
    store.execute(
        "CREATE TABLE job_count (state TEXT NOT NULL, shard INTEGER NOT NULL, n BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (state, shard))"
    )
    for state in ALL_STATES:
        store.execute("INSERT INTO job_count (state, shard, n) SELECT ?, 0, count(*) FROM job WHERE state = ?",
                      (state, state))
    if store.is_sqlite:
        statements = [
            "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job WHEN OLD.state <> NEW.state BEGIN "
            "UPDATE job_count SET n = n - 1 WHERE state = OLD.state AND shard = 0; "
            "UPDATE job_count SET n = n + 1 WHERE state = NEW.state AND shard = 0; END",
        ]
    else:
        shard = shard_expression(store)
        statements = [
            f"""CREATE FUNCTION queuectl_job_count() RETURNS trigger AS $$
            BEGIN
                INSERT INTO job_count (state, shard, n) VALUES (OLD.state, {shard}, -1)
                    ON CONFLICT (state, shard) DO UPDATE SET n = job_count.n - 1;
                INSERT INTO job_count (state, shard, n) VALUES (NEW.state, {shard}, 1)
                    ON CONFLICT (state, shard) DO UPDATE SET n = job_count.n + 1;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job "
            "FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION queuectl_job_count()",
        ]
    for statement in statements:
        store.execute(statement)
