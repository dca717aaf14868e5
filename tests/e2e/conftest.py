"""End-to-end fixtures: a private QUEUECTL_HOME per test, on each store (`test_x[sqlite]`, the
home's queue.db; `test_x[postgresql]`, a fresh database: `store_under_test`, tests/conftest.py), and
a reaper that guarantees no process of the test survives it.

Every process a test starts (CLI, detached or foreground workers, the jobs they run) carries
`QUEUECTL_HOME=<this test's home>` in its environment: that is how the reaper finds leftovers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import Queuectl
from proc_support import force_stop_workers, kill_leftovers, reap_popens

# ── fixtures ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def q(tmp_path: Path, store_under_test: str | None):
    """A queuectl for this test; at teardown every process of the test is stopped, and must be gone."""
    home = tmp_path / "qhome"  # not created: the first command creates it (0700)
    work = tmp_path / "work"
    work.mkdir()
    qc = Queuectl(home, work, store_under_test)
    try:
        yield qc
    finally:
        leftovers = _reap(qc)
        # Popen'd CLI processes: reap them whatever happened, so no zombie outlives the test.
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"


def _reap(qc: Queuectl) -> list[str]:
    stop = qc.has_store()
    qc.close()
    problems = force_stop_workers(qc.run) if stop else []
    problems += reap_popens(qc.popens)
    # Exiting workers and their killed jobs may take a moment to disappear.
    return problems + kill_leftovers(qc.home)
