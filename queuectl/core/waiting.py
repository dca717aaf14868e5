"""What `wait` and `logs -f` decide: which jobs "everything" is, the exit status a wait ends
with, and the one-line phrases that say where a job stands (`failed, retry 2/4 in 8 s`) or how a
run ended (`run 1: exit 4; retry 2/4 in 2 s`). Pure but for `targets`, so every front end says
the same thing.

Exit statuses follow pueue and timeout(1): 0 when every job completed; with one job, its last
exit code when it failed (1 when it has none, e.g. it timed out or its worker was lost); 1 when
several did not all complete; 124 when the wait's own --timeout passed; 2 for an unknown id (the
CLI's usage error, as `JobNotFound` is raised before waiting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from queuectl.core.records import JobRecord, RunRecord
from queuectl.core.states import FINISHED, JobState

if TYPE_CHECKING:
    from queuectl.core.queue import JobQueue

WAIT_TIMED_OUT = 124  # as timeout(1)
WAITING_OR_RUNNING: tuple[JobState, ...] = (JobState.PENDING, JobState.FAILED, JobState.PROCESSING)


def targets(queue: JobQueue, queue_name: str | None = None) -> list[str]:
    """The ids of every job waiting or running now (of one queue if named): what a bare `wait` waits for."""
    ids: list[str] = []
    for state in WAITING_OR_RUNNING:
        ids.extend(job.id for job in queue.iter_jobs(state=state, queue=queue_name))
    return ids


def exit_status(jobs: Sequence[JobRecord], timed_out: bool) -> int:
    """The exit status of a wait for `jobs` (their states when it stopped)."""
    if timed_out:
        return WAIT_TIMED_OUT
    if all(job.state == JobState.COMPLETED for job in jobs):
        return 0
    if len(jobs) == 1:
        code = jobs[0].exit_code
        return code if code is not None and 0 < code < 256 else 1
    return 1


def _in(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _next_try(job: JobRecord, now: float) -> str:
    """`retry 2/4 in 8 s`: the run that comes next, out of how many it may have."""
    return f"retry {job.attempts + 1}/{job.max_retries + 1} in {_in(job.run_at - now)}"


def state_phrase(job: JobRecord, now: float) -> str:
    """Where a job stands, in a few words: `running (run 2/4)`, `failed, retry 2/4 in 8 s`, …"""
    state = job.state
    if state == JobState.PENDING:
        return "pending" + (f", due in {_in(job.run_at - now)}" if job.run_at > now + 0.5 else "")
    if state == JobState.PROCESSING:
        return f"running (run {job.attempts}/{job.max_retries + 1})"
    if state == JobState.FAILED:
        return f"failed, {_next_try(job, now)}"
    if state in FINISHED and job.exit_code not in (None, 0):
        return f"{state} (exit {job.exit_code})"
    return str(state)


def run_end(run: RunRecord) -> str:
    """How one run ended: `exit 4`, `timeout after 5s`, `worker lost`."""
    if run.exit_code is not None and (run.error is None or run.error.startswith("exit code")):
        return f"exit {run.exit_code}"
    return run.error or (f"exit {run.exit_code}" if run.exit_code is not None else "ended")


def run_status(run: RunRecord) -> int:
    """A run's exit status for a shell: its exit code, 1 when it failed without one (timed out, lost)."""
    if run.exit_code == 0 and run.error is None:
        return 0
    code = run.exit_code
    return code if code is not None and 0 < code < 256 else 1


def trailer(job: JobRecord, run: RunRecord, now: float) -> str:
    """The line `logs -f` ends a run with: `run 1: exit 4; retry 2/4 in 2 s` (or `; dead`, `; completed`)."""
    head = f"run {run.number}: {run_end(run)}"
    if job.state == JobState.FAILED:
        return f"{head}; {_next_try(job, now)}"
    if job.state in (JobState.PENDING, JobState.PROCESSING):
        return f"{head}; run again"
    return f"{head}; {job.state}"
