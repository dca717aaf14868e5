"""End-to-end fixtures: a private QUEUECTL_HOME per test, and a reaper that guarantees no
process of the test survives it.

Every process a test starts (CLI, detached or foreground workers, the jobs they run) carries
`QUEUECTL_HOME=<this test's home>` in its environment: that is how the reaper finds leftovers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

# The suite runs with --import-mode=importlib (no sys.path insertion): make the helpers module
# next to this file importable, for this conftest and for the test modules.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from e2e_support import Queuectl, describe, processes_of_home  # noqa: E402


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
    problems: list[str] = []
    if qc.db_path.exists():
        try:
            stop = qc.run("worker", "stop", "--force", "--wait", "--timeout", "5", check=False, timeout=30)
            if stop.returncode != 0:
                problems.append(f"worker stop --force --wait failed ({stop.returncode}): {stop.stderr.strip()}")
        except subprocess.TimeoutExpired:
            problems.append("worker stop --force --wait hung")
    for proc in qc.popens:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            problems.append(f"foreground process {proc.args} still running after the stop")
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                stream.close()
    # Exiting workers and their killed jobs may take a moment to disappear.
    left: list[psutil.Process] = []
    deadline = time.monotonic() + 5
    while True:
        left = processes_of_home(qc.home)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if left:
        problems.extend(describe(left))
        for p in left:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=5)
    return problems
