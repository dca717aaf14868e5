"""A PostgreSQL store written by an earlier queuectl keeps working: the schema is migrated forward
when a newer queuectl opens it (contract: "Where data lives")."""

from __future__ import annotations

import time


def _version_1_store(url: str, work: str) -> None:
    """A store at schema version 1 (before job counts), with one waiting job."""
    from queuectl.core.migrations import m0001_initial
    from queuectl.core.store import open_store

    store = open_store(url, migrate=False)
    try:
        with store.write():
            store.execute("CREATE TABLE queuectl_schema (version INTEGER NOT NULL)")
            m0001_initial.up(store)
            store.execute("INSERT INTO queuectl_schema (version) VALUES (1)")
            now = time.time()
            store.execute(
                "INSERT INTO job (id, command, cwd, queue, priority, state, attempts, max_retries, timeout, "
                "run_at, created_at, updated_at) VALUES ('old-1', 'echo from-before', %s, 'default', 0, "
                "'pending', 0, 3, 0, %s, %s, %s)", (work, now, now, now),
            )
    finally:
        store.close()


def test_store_of_an_earlier_release_is_migrated(pq):
    _version_1_store(pq.store_url, str(pq.work))
    new = pq.enqueue("echo after-upgrade")
    pq.run("worker", "run", "--burst", timeout=60)
    assert pq.states(["old-1", new]) == {"old-1": "completed", new: "completed"}
    assert pq.run("logs", "old-1").stdout == "from-before\n"
    assert pq.json("status")["jobs"]["completed"] == 2
