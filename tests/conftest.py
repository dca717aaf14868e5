"""Fixtures shared by every suite: a fresh PostgreSQL database per test that asks for one.

PostgreSQL must be reachable at QUEUECTL_TEST_PG (default postgresql://postgres@127.0.0.1/test):
a test that needs it fails when it is not there — it never skips.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # proc_support, for every suite

ADMIN_URL = os.environ.get("QUEUECTL_TEST_PG", "postgresql://postgres@127.0.0.1/test")


def _admin():
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL, connect_timeout=5)
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_url() -> str:
    """A new, empty PostgreSQL database for this test; dropped afterwards."""
    name = f"queuectl_test_{uuid.uuid4().hex[:12]}"
    conn = _admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    conn = _admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
