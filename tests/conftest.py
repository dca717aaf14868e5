"""Fixtures shared by every suite: a fresh PostgreSQL database per test (or per module) that asks
for one, and the store a test of processes runs on.

PostgreSQL must be reachable at QUEUECTL_TEST_PG (default postgresql://postgres@127.0.0.1/test):
a test that needs it fails when it is not there — it never skips.

`store_under_test` (and `module_store_under_test`, for module-scoped scenarios) runs each test that
depends on it on both stores, `test_x[sqlite]` and `test_x[postgresql]`: it is None for SQLite (the
home's default queue.db, QUEUECTL_DB unset) or the URL of a fresh PostgreSQL database. A test about
one store's own behaviour (the SQLite file, its locks, its WAL) says so with
`@pytest.mark.backends("sqlite")` and is collected once, never as a skipped variant.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # proc_support, for every suite

ADMIN_URL = os.environ.get("QUEUECTL_TEST_PG", "postgresql://postgres@127.0.0.1/test")
BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run this test on these stores only (default: all)")


def pytest_generate_tests(metafunc):
    """Parametrise the store fixtures over the stores (the `backends` marker narrows them)."""
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker else BACKENDS
    for fixture in ("store_under_test", "module_store_under_test"):
        if fixture in metafunc.fixturenames:
            assert names and set(names) <= set(BACKENDS), f"unknown backends {names}"
            metafunc.parametrize(fixture, names, indirect=True)


def _admin():
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL, connect_timeout=5)
    conn.autocommit = True
    return conn


@contextmanager
def _fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped (its connections cut) afterwards."""
    name = f"queuectl_test_{uuid.uuid4().hex[:12]}"
    conn = _admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn = _admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()


@pytest.fixture(scope="session")
def _pg_session_database() -> Iterator[str]:
    """One database per test process (an xdist worker runs its tests one at a time), for `pg_url`."""
    with _fresh_database() as url:
        yield url


@pytest.fixture
def pg_url(_pg_session_database: str) -> str:
    """An empty PostgreSQL database for this test: the process's database, emptied first.

    Emptying (cut its connections, drop and re-create the public schema) takes ~10 ms where
    CREATE + DROP DATABASE take ~300 ms; with some 700 PostgreSQL tests that is minutes of CI.
    """
    import psycopg2

    conn = psycopg2.connect(_pg_session_database, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # A previous test's processes are reaped by its own teardown; a connection that
            # outlived it anyway is cut here, so it cannot hold a lock on the schema.
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            cur.execute("DROP SCHEMA public CASCADE")
            cur.execute("CREATE SCHEMA public")
    finally:
        conn.close()
    return _pg_session_database


@pytest.fixture
def pg_url_own() -> Iterator[str]:
    """A new PostgreSQL database of this test alone, which it may drop (pg_url's database is shared,
    one after another, by the tests of its process); dropped afterwards."""
    with _fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def pg_url_module() -> Iterator[str]:
    """A new, empty PostgreSQL database for a module-scoped scenario; dropped after the module."""
    with _fresh_database() as url:
        yield url


@pytest.fixture
def store_under_test(request) -> str | None:
    """None: the home's SQLite file; else a fresh PostgreSQL database's URL (see pytest_generate_tests)."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def module_store_under_test(request) -> str | None:
    """The same for a module-scoped scenario: one fresh database for the module."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url_module")
