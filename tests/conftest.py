"""Fixtures shared by every suite: an empty PostgreSQL database for each test that asks for one
(one database per test process, emptied before each test; a fresh one per module, or for a test that
drops it), and the store a test runs on.

PostgreSQL must be reachable at QUEUECTL_TEST_PG (default postgresql://postgres@127.0.0.1/test):
a test that needs it fails when it is not there — it never skips.

`store_under_test` (and `module_store_under_test`, for module-scoped scenarios) runs each test that
depends on it on both stores, `test_x[sqlite]` and `test_x[postgresql]`: it is None for SQLite (the
home's default queue.db, QUEUECTL_DB unset) or the URL of an empty PostgreSQL database. A test about
one store's own behaviour (the SQLite file, its locks, its WAL) says so with
`@pytest.mark.backends("sqlite")` and is collected once, never as a skipped variant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pg_admin import ADMIN_URL, run_sql

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run this test on these stores only (default: all)")
    config.addinivalue_line("markers", "no_store: the test opens no store; it runs once, on no backend")


def pytest_generate_tests(metafunc):
    """Parametrise the store fixtures over the stores (the `backends` marker narrows them)."""
    if metafunc.definition.get_closest_marker("no_store"):
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker else BACKENDS
    for fixture in ("store_under_test", "module_store_under_test"):
        if fixture in metafunc.fixturenames:
            assert names and set(names) <= set(BACKENDS), f"unknown backends {names}"
            metafunc.parametrize(fixture, names, indirect=True)


@contextmanager
def _fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped (its connections cut) afterwards."""
    name = f"queuectl_test_{uuid.uuid4().hex[:12]}"
    run_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        run_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    # A previous test's processes are reaped by its own teardown; a connection that outlived it
    # anyway is cut here, so it cannot hold a lock on the schema.
    run_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            "DROP SCHEMA public CASCADE", "CREATE SCHEMA public", url=_pg_session_database)
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
    """None: the home's SQLite file; else an empty PostgreSQL database's URL (see pytest_generate_tests).

    A `no_store` test is not parametrised: it gets None, and its own suite checks it opened nothing."""
    return None if getattr(request, "param", "sqlite") == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture(scope="module")
def module_store_under_test(request) -> str | None:
    """The same for a module-scoped scenario: one fresh database for the module."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url_module")
