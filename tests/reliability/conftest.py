"""Reliability fixtures: a private QUEUECTL_HOME per test, and a reaper that guarantees no process of
the test survives it (workers the test started, detached workers, the jobs they ran).

Run the long versions with `python -m pytest tests/reliability -m slow`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib (no sys.path insertion): make the helpers next to
# this file importable, for this conftest and for the test modules.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reliability_support import RQueuectl, make_q, reap, tmpfs  # noqa: E402


@pytest.fixture
def q(tmp_path: Path) -> Iterator[RQueuectl]:
    """A queuectl for this test; at teardown every process of the test is stopped, and must be gone."""
    qc = make_q(tmp_path / "qhome", tmp_path / "work")  # the home is not created: first use creates it
    try:
        yield qc
    finally:
        leftovers = reap(qc)
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for this test (we run as root); unmounted at teardown.

    A real ENOSPC is the honest way to fill a store: SQLite's `max_page_count` is per connection,
    so a pre-filled database cannot impose it on the CLI or a worker."""
    with tmpfs(tmp_path / "fs") as mount:
        yield mount


@pytest.fixture
def qfs(small_fs: Path, tmp_path: Path) -> Iterator[RQueuectl]:
    """Like `q`, with QUEUECTL_HOME on the small tmpfs."""
    qc = make_q(small_fs / "qhome", tmp_path / "work")
    try:
        yield qc
    finally:
        leftovers = reap(qc)
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"
