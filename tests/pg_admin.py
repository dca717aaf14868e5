"""Administrative SQL on the tests' PostgreSQL server (creating, emptying and dropping databases)."""

from __future__ import annotations

import os

# The server of every PostgreSQL test; unreachable fails the tests that need it, never skips them.
ADMIN_URL = os.environ.get("QUEUECTL_TEST_PG", "postgresql://postgres@127.0.0.1/test")


def run_sql(*statements: str, url: str = ADMIN_URL) -> None:
    """Run each statement on `url` in autocommit mode (CREATE/DROP DATABASE refuse a transaction)."""
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()
