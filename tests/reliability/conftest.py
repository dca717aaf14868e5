"""Reliability fixtures: a private QUEUECTL_HOME per test, on each store (`test_x[sqlite]`, the home's
queue.db; `test_x[postgresql]`, a fresh database: `store_under_test`, tests/conftest.py; a test about
SQLite itself is marked `backends("sqlite")`), and a reaper that guarantees no process of the test
survives it (workers the test started, detached workers, the jobs they ran).

Run the long versions with `python -m pytest tests/reliability -m slow`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability_support import RQueuectl, owned_q, tmpfs


@pytest.fixture
def q(tmp_path: Path, store_under_test: str | None) -> Iterator[RQueuectl]:
    """A queuectl for this test; at teardown every process of the test is stopped, and must be gone."""
    with owned_q(tmp_path / "qhome", tmp_path / "work", store_under_test) as qc:  # the home: made by first use
        yield qc


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test (we run as root); unmounted at teardown.

    A real ENOSPC is the honest way to fill a store: SQLite's `max_page_count` is per connection,
    so a pre-filled database cannot impose it on the CLI or a worker."""
    with tmpfs(tmp_path / "fs") as mount:
        yield mount


@pytest.fixture
def qfs(small_fs: Path, tmp_path: Path) -> Iterator[RQueuectl]:
    """Like `q`, with QUEUECTL_HOME (and so the SQLite store: these tests are SQLite's) on the small tmpfs."""
    with owned_q(small_fs / "qhome", tmp_path / "work") as qc:
        yield qc
