"""Schema migrations: applied on open, forward only, and a newer store is refused."""

from __future__ import annotations

import sqlite3

import pytest

import queuectl.core.migrations as migrations
from queuectl.core.errors import StoreUnavailable
from queuectl.core.migrations import LATEST, m0001_initial, m0002_job_counts, m0003_count_shard_lock, schema_version
from queuectl.core.queue import JobQueue
from queuectl.core.results import exited
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store


def test_a_fresh_store_is_at_the_latest_version(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    assert schema_version(store) == LATEST


def test_an_old_store_migrates_forward_keeping_its_jobs(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    old = open_store(url, migrate=False)
    with old.write():
        old.execute("CREATE TABLE queuectl_schema (version INTEGER NOT NULL)")
        m0001_initial.up(old)
        old.execute("INSERT INTO queuectl_schema (version) VALUES (1)")
        for i, state in enumerate(["pending", "pending", "dead", "completed"]):
            old.execute(
                "INSERT INTO job (id, command, queue, priority, state, attempts, max_retries, timeout, run_at, "
                "created_at, updated_at) VALUES (?, 'true', 'default', 0, ?, 0, 3, 0, 0, 0, 0)", (f"j{i}", state)
            )
    old.close()
    store = open_store(url)
    assert schema_version(store) == LATEST
    queue = JobQueue(store)
    counts = queue.counts()
    assert (counts["pending"], counts["dead"], counts["completed"], counts.total) == (2, 1, 1, 4)


def test_a_store_from_a_newer_queuectl_is_refused(tmp_path):
    path = tmp_path / "q.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO queuectl_schema (version) VALUES (?)", (LATEST + 1,))
    with pytest.raises(StoreUnavailable, match="newer"):
        open_store(f"sqlite:///{path}")


def test_counts_kept_by_triggers_match_the_rows(queue, store, clock):
    ids = queue.enqueue([JobSpec(command="true", max_retries=0) for _ in range(6)], Settings())
    for exit_code in (0, 1):
        job = queue.claim("w")
        queue.finish(job, "w", None, exited(exit_code, None), Settings())
    queue.claim("w")
    queue.cancel([ids[-1]])
    queue.delete([ids[-2]])
    actual = dict(store.execute("SELECT state, count(*) FROM job GROUP BY state").fetchall())
    counts = queue.counts()
    assert {s: n for s, n in counts.by_state.items() if n} == actual


def _store_at_version_3(store) -> None:
    with store.write():
        store.execute("CREATE TABLE queuectl_schema (version INTEGER NOT NULL)")
        for number, up in ((1, m0001_initial.up), (2, m0002_job_counts.up), (3, m0003_count_shard_lock.up)):
            up(store)
            store.execute(store.sql("INSERT INTO queuectl_schema (version) VALUES (?)"), (number,))


def test_a_version_3_store_migrates_to_the_latest(tmp_path):
    """m0004 (64-bit output counts) and m0005 (keep_children) apply over a store at version 3."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    old = open_store(url, migrate=False)
    _store_at_version_3(old)
    with old.write():
        old.execute("INSERT INTO job (id, command, queue, priority, state, attempts, max_retries, timeout, run_at, "
                    "created_at, updated_at) VALUES ('old', 'true', 'default', 0, 'pending', 0, 3, 0, 0, 0, 0)")
    old.close()
    store = open_store(url)
    assert schema_version(store) == LATEST
    assert JobQueue(store).get("old").keep_children is False
    versions = {r[0] for r in store.execute("SELECT version FROM queuectl_schema").fetchall()}
    assert versions >= {1, 2, 3, 4, 5}
    store.close()


def test_a_migration_numbered_below_the_highest_applied_still_runs(tmp_path, monkeypatch):
    """A store that has m0005 but not m0004 (two branches' migrations merged in either order) gets m0004."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    full = migrations.MIGRATIONS
    monkeypatch.setattr(migrations, "MIGRATIONS", tuple(m for m in full if m[0] != 4))
    open_store(url).close()  # at LATEST, without a 4
    ran = []
    four = next(up for number, up in full if number == 4)
    monkeypatch.setattr(migrations, "MIGRATIONS", tuple((n, (lambda st, up=up, n=n: (ran.append(n), up(st))) if n == 4
                                                               else up) for n, up in full))
    store = open_store(url)
    assert ran == [4] and four is not None
    assert {r[0] for r in store.execute("SELECT version FROM queuectl_schema").fetchall()} >= {4, LATEST}
    store.close()
    open_store(url).close()
    assert len(ran) == 1  # applied once


def test_the_models_describe_the_latest_migration(store):
    """models.py is the one Peewee description of the tables the query builder reads: the same
    columns as the migrated store, each nullable where the store lets it be NULL, the same key."""
    from queuectl.core.models import bound_models

    for model in bound_models(store.db):
        table = model._meta.table_name
        columns = {c.name: c for c in store.db.get_columns(table)}
        fields = {f.column_name: f for f in model._meta.sorted_fields}
        assert sorted(fields) == sorted(columns), f"{table}: model and migration list other columns"
        for name, field in fields.items():
            if field.primary_key:
                assert columns[name].primary_key, f"{table}.{name} is the model's key, not the table's"
            else:
                assert field.null == columns[name].null, f"{table}.{name}: null={field.null} in the model"
