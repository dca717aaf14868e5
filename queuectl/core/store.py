"""Open a store: connect (db.py), then bring its schema up to date (migrations/).

Apart from db.py so that the connection module does not depend on the migrations, which depend on it.
"""

from __future__ import annotations

import sqlite3

from queuectl.core import paths
from queuectl.core.db import BUSY_TIMEOUT_S, DatabaseError, Store, connect, describe_db_error
from queuectl.core.errors import StoreUnavailable
from queuectl.core.migrations import apply_migrations


def open_store(
    url: str | None = None, *, durable: bool = True, busy_timeout: float = BUSY_TIMEOUT_S, migrate: bool = True
) -> Store:
    """Open (creating and migrating if needed) the store at `url` (default: QUEUECTL_DB or the home's SQLite)."""
    if url is None:
        paths.ensure_home_or_fail()
        url = paths.default_store_url()
    store = connect(url, durable=durable, busy_timeout=busy_timeout)
    if migrate:
        try:
            apply_migrations(store)
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            store.close()
            raise StoreUnavailable(describe_db_error(exc, store)) from None
    return store
