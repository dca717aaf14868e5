"""Job counts per state in a small table, so `status` and the TUI never count a million rows.

A trigger keeps them on state changes; inserts and deletes adjust them in the same transaction
from `queue.py` (set-based: a per-row trigger doubled the cost of a 100,000-job bulk enqueue).
"""

from __future__ import annotations

from queuectl.core.db import Store
from queuectl.core.states import ALL_STATES


def up(store: Store) -> None:
    store.execute("CREATE TABLE job_count (state TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0)")
    for state in ALL_STATES:
        store.execute(
            store.sql("INSERT INTO job_count (state, n) SELECT ?, count(*) FROM job WHERE state = ?"), (state, state)
        )
    if store.is_sqlite:
        statements = [
            "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job WHEN OLD.state <> NEW.state BEGIN "
            "UPDATE job_count SET n = n - 1 WHERE state = OLD.state; "
            "UPDATE job_count SET n = n + 1 WHERE state = NEW.state; END",
        ]
    else:
        statements = [
            """CREATE FUNCTION queuectl_job_count() RETURNS trigger AS $$
            BEGIN
                UPDATE job_count SET n = n - 1 WHERE state = OLD.state;
                UPDATE job_count SET n = n + 1 WHERE state = NEW.state;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job "
            "FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION queuectl_job_count()",
        ]
    for statement in statements:
        store.execute(statement)
