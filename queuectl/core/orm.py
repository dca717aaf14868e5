"""Peewee, imported without loading a PostgreSQL driver.

Peewee imports psycopg2 (and psycopg) eagerly when they are installed, which costs a SQLite-only
command ~20 ms of start-up. Every module of queuectl imports Peewee from here; the driver is
attached only when a PostgreSQL store is opened (`use_psycopg2`).
"""

from __future__ import annotations

import sys

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


def use_psycopg2() -> None:
    """Give Peewee the psycopg2 driver it did not load at import; ImportError if it is missing."""
    if peewee.psycopg2 is not None:
        return
    import psycopg2
    from psycopg2 import extensions, extras

    extras.register_uuid()
    peewee.psycopg2 = psycopg2
    peewee.pg_extensions = extensions
    peewee.Json_pg2 = extras.Json
    adapter = peewee.Psycopg2Adapter
    adapter.txn_idle = extensions.TRANSACTION_STATUS_IDLE
    adapter.txn_inerror = extensions.TRANSACTION_STATUS_INERROR
    adapter.txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN


__all__ = ["peewee", "use_psycopg2"]
