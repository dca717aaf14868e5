"""Numbered, forward-only schema migrations, applied when a store is opened.

Each migration is a module `mNNNN_name.py` with `up(store)`; it is written out in full (not from
the current models) so an old database migrates the same way whatever the code looks like today.

The store records each version it applied, and every migration it lacks is applied in number
order, not only those above its highest: migrations written in parallel (numbers with a gap, merged
in any order) all reach every store, provided each depends only on migrations numbered below it.
"""

from __future__ import annotations

from collections.abc import Callable

from queuectl.core.db import DatabaseError, Store
from queuectl.core.errors import StoreUnavailable


def _up(module: str) -> Callable[[Store], None]:
    """Migration `module`'s `up`, the module imported when it runs: a store already up to date (every
    command after the first) imports none of them (a CLI command's start-up)."""

    def up(store: Store) -> None:
        __import__(f"{__name__}.{module}", fromlist=["up"]).up(store)

    up.__qualname__ = up.__name__ = f"{module}.up"
    return up


MIGRATIONS: tuple[tuple[int, Callable[[Store], None]], ...] = (
    (1, _up("m0001_initial")),
    (2, _up("m0002_job_counts")),
    (3, _up("m0003_count_shard_lock")),
    (4, _up("m0004_output_bytes_bigint")),
    (5, _up("m0005_keep_children")),
    (6, _up("m0006_run_chunks")),
    (7, _up("m0007_worker_slots")),
    (8, _up("m0008_queues_deps_unique")),
    (9, _up("m0009_schedules_hooks")),
    (10, _up("m0010_run_outcome")),
    (11, _up("m0011_sort_indexes")),
)
LATEST = MIGRATIONS[-1][0]


def _applied(store: Store) -> set[int] | None:
    """The versions the store has applied, or None for an empty store."""
    try:
        rows = store.execute("SELECT version FROM queuectl_schema").fetchall()
    except DatabaseError as exc:
        if "queuectl_schema" in str(exc) or "no such table" in str(exc) or "does not exist" in str(exc):
            return None
        raise
    return {row[0] for row in rows}


def schema_version(store: Store) -> int | None:
    """The store's schema version (its highest applied migration), or None for an empty store."""
    applied = _applied(store)
    return max(applied, default=None) if applied is not None else None


def apply_migrations(store: Store) -> int:
    """Bring the store's schema to LATEST (every migration it lacks); refuse a store from a newer queuectl."""
    applied = _applied(store)
    if applied is not None and max(applied, default=0) == LATEST and all(n in applied for n, _ in MIGRATIONS):
        return LATEST
    with store.write():
        if not store.is_sqlite:  # SQLite's write lock already serialises this; PostgreSQL needs a lock
            store.execute("SELECT pg_advisory_xact_lock(7061746)")
        store.execute("CREATE TABLE IF NOT EXISTS queuectl_schema (version INTEGER NOT NULL)")
        applied = {row[0] for row in store.execute("SELECT version FROM queuectl_schema").fetchall()}
        version = max(applied, default=0)
        if version > LATEST:
            raise StoreUnavailable(
                f"the store's schema (version {version}) is newer than this queuectl understands "
                f"(version {LATEST}); upgrade queuectl"
            )
        for number, up in MIGRATIONS:
            if number not in applied:
                up(store)
                store.execute("INSERT INTO queuectl_schema (version) VALUES (?)", (number,))
    return LATEST
