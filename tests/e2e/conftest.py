"""End-to-end fixtures: a private QUEUECTL_HOME per test, and a reaper that guarantees no
process of the test survives it.

Every process a test starts (CLI, detached or foreground workers, the jobs they run) carries
`QUEUECTL_HOME=<this test's home>` in its environment: that is how the reaper finds leftovers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib (no sys.path insertion): make the helpers module
# next to this file importable, for this conftest and for the test modules.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from e2e_support import Queuectl  # noqa: E402
from proc_support import force_stop_workers, kill_leftovers, reap_popens  # noqa: E402


# ── fixtures ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def q(tmp_path: Path):
    """A queuectl for this test; at teardown every process of the test is stopped, and must be gone."""
    home = tmp_path / "qhome"  # not created: the first command creates it (0700)
    work = tmp_path / "work"
    work.mkdir()
    qc = Queuectl(home, work)
    try:
        yield qc
    finally:
        qc.close()
        leftovers = _reap(qc)
        # Popen'd CLI processes: reap them whatever happened, so no zombie outlives the test.
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"


def _reap(qc: Queuectl) -> list[str]:
    problems = force_stop_workers(qc.run) if qc.db_path.exists() else []
    problems += reap_popens(qc.popens)
    # Exiting workers and their killed jobs may take a moment to disappear.
    return problems + kill_leftovers(qc.home)
