"""Peewee, for the model-bound reads only (`models.py`, `queue.py`'s listing and showing).

Imported only by the code that builds a query with the models: the store's connections,
transactions and errors are `db.py`'s own, and `store_database` gives Peewee a database that runs
every statement through them. Peewee imports psycopg2 (and psycopg) eagerly when they are
installed, which would cost a SQLite-only command ~20 ms more: the driver is attached only for a
PostgreSQL store (`use_psycopg2`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

_DRIVERS = ("psycopg2", "psycopg2cffi", "psycopg")
_blocked = [name for name in _DRIVERS if name not in sys.modules]
for _name in _blocked:
    sys.modules[_name] = None  # type: ignore[assignment]  # makes `import psycopg2` fail fast
try:
    import peewee
finally:
    for _name in _blocked:
        if sys.modules.get(_name) is None:
            del sys.modules[_name]

if TYPE_CHECKING:
    from queuectl.core.db import Store


def use_psycopg2() -> None:
    """Give Peewee the psycopg2 driver it did not load at import; ImportError if it is missing."""
    if peewee.psycopg2 is not None:
        return
    import psycopg2
    from psycopg2 import extensions, extras

    peewee.psycopg2 = psycopg2
    peewee.pg_extensions = extensions
    peewee.Json_pg2 = extras.Json
    adapter = peewee.Psycopg2Adapter
    adapter.txn_idle = extensions.TRANSACTION_STATUS_IDLE
    adapter.txn_inerror = extensions.TRANSACTION_STATUS_INERROR
    adapter.txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN


class _OverStore:
    """A Peewee database that owns nothing: connections, statements and errors are the Store's, so a
    model-bound read and the Store's own statements share one connection (and transaction) per thread."""

    def __init__(self, store: Store, database: str) -> None:
        # Peewee's __init__ closes the connection it finds open: it must find none (the store's is
        # not Peewee's to close, and may be inside a write transaction)
        self.store: Store | None = None
        super().__init__(database)  # type: ignore[call-arg]
        self.store = store

    def connect(self, reuse_if_open: bool = False) -> bool:
        self.store.connection()
        return True

    def connection(self) -> Any:
        return self.store.connection()

    def cursor(self, named_cursor: object = None) -> Any:
        return self.store.connection().cursor()

    def is_closed(self) -> bool:
        return self.store is None or self.store.is_closed()

    def close(self) -> bool:
        was_open = not self.store.is_closed()
        self.store.close()
        return was_open

    def in_transaction(self) -> bool:
        return self.store.in_transaction()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        return self.store.execute_native(sql, params or ())

    def atomic(self, *args: object, **kwargs: object) -> Any:
        return self.store.write()


class _SqliteOverStore(_OverStore, peewee.SqliteDatabase):
    pass


class _PostgresqlOverStore(_OverStore, peewee.PostgresqlDatabase):
    pass


def store_database(store: Store) -> peewee.Database:
    """The Peewee database of `store` (`Store.db` makes it once per store)."""
    if store.is_sqlite:
        db: _OverStore = _SqliteOverStore(store, str(store.path))
    else:
        use_psycopg2()
        db = _PostgresqlOverStore(store, store.connect_params.get("dsn", store.url))
        db.server_version = store.connection().server_version  # type: ignore[attr-defined]
    return db  # type: ignore[return-value]


__all__ = ["peewee", "store_database", "use_psycopg2"]
