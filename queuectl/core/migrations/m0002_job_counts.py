"""Job counts per state kept by triggers, so `status` and the TUI never count a million rows."""

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
            "CREATE TRIGGER job_count_insert AFTER INSERT ON job BEGIN "
            "UPDATE job_count SET n = n + 1 WHERE state = NEW.state; END",
            "CREATE TRIGGER job_count_delete AFTER DELETE ON job BEGIN "
            "UPDATE job_count SET n = n - 1 WHERE state = OLD.state; END",
            "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job WHEN OLD.state <> NEW.state BEGIN "
            "UPDATE job_count SET n = n - 1 WHERE state = OLD.state; "
            "UPDATE job_count SET n = n + 1 WHERE state = NEW.state; END",
        ]
    else:
        statements = [
            """CREATE FUNCTION queuectl_job_count() RETURNS trigger AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    UPDATE job_count SET n = n - 1 WHERE state = OLD.state;
                END IF;
                IF TG_OP IN ('UPDATE', 'INSERT') THEN
                    UPDATE job_count SET n = n + 1 WHERE state = NEW.state;
                END IF;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER job_count_insert_delete AFTER INSERT OR DELETE ON job "
            "FOR EACH ROW EXECUTE FUNCTION queuectl_job_count()",
            "CREATE TRIGGER job_count_update AFTER UPDATE OF state ON job "
            "FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION queuectl_job_count()",
        ]
    for statement in statements:
        store.execute(statement)
