"""Numbered, forward-only schema migrations, applied when a store is opened.

Each migration is a module `mNNNN_name.py` with `up(store)`; it is written out in full (not from
the current models) so an old database migrates the same way whatever the code looks like today.
"""

from __future__ import annotations

from collections.abc import Callable

from queuectl.core.orm import peewee

from queuectl.core.db import Store
from queuectl.core.errors import StoreUnavailable
from queuectl.core.migrations import (
    m0001_initial,
    m0002_job_counts,
    m0003_count_shard_lock,
    m0004_output_bytes_bigint,
)

MIGRATIONS: tuple[tuple[int, Callable[[Store], None]], ...] = (
    (1, m0001_initial.up),
    (2, m0002_job_counts.up),
    (3, m0003_count_shard_lock.up),
    (4, m0004_output_bytes_bigint.up),
)
LATEST = MIGRATIONS[-1][0]


def schema_version(store: Store) -> int | None:
    """The store's schema version, or None for an empty store."""
    try:
        row = store.execute("SELECT max(version) FROM queuectl_schema").fetchone()
    except peewee.DatabaseError as exc:
        if "queuectl_schema" in str(exc) or "no such table" in str(exc) or "does not exist" in str(exc):
            return None
        raise
    return row[0] if row else None


def apply_migrations(store: Store) -> int:
    """Bring the store's schema to LATEST; refuse a store from a newer queuectl."""
    version = schema_version(store)
    if version == LATEST:
        return version
    with store.write():
        if not store.is_sqlite:  # SQLite's write lock already serialises this; PostgreSQL needs a lock
            store.execute("SELECT pg_advisory_xact_lock(7061746)")
        store.execute("CREATE TABLE IF NOT EXISTS queuectl_schema (version INTEGER NOT NULL)")
        version = store.execute("SELECT max(version) FROM queuectl_schema").fetchone()[0] or 0
        if version > LATEST:
            raise StoreUnavailable(
                f"the store's schema (version {version}) is newer than this queuectl understands "
                f"(version {LATEST}); upgrade queuectl"
            )
        for number, up in MIGRATIONS:
            if number > version:
                up(store)
                store.execute(store.sql("INSERT INTO queuectl_schema (version) VALUES (?)"), (number,))
    return LATEST
