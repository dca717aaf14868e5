"""The job state machine: states, who moves a job between them, and which moves are allowed.

    pending ──claim──▶ processing ──exit 0──▶ completed
       ▲                  │ failed run (exit ≠ 0, could not start, timeout, worker lost)
       │                  ├──attempts ≤ max_retries──▶ failed ──due──▶ (claimed again)
       │                  ├──attempts > max_retries──▶ dead (the DLQ)
       │                  ├──cancel──▶ cancelled
       └──worker stopping─┘ (interrupted, not counted)
    retry: failed | dead | cancelled (| completed with force) ──▶ pending, attempts reset
    cancel: pending | failed ──▶ cancelled; processing: the worker kills the group, then cancelled
    delete: any state but processing

Every transition is one guarded statement or one IMMEDIATE transaction in `queue.py`; the guards
are built from the tuples below so the SQL and this module cannot disagree. How a run ended is a
`RunResult`, and `decide` is the one place that turns it into the job's next state: both live in
`results.py`, which only a worker and the rescue of a lost worker import (a command that adds or
reads jobs does not pay for them at start-up).
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    """Waiting to be claimed: due at `run_at` (and not held, not behind its dependencies or a pause)."""
    PROCESSING = "processing"
    """Claimed by `worker_id`, its run under way; only that worker (or the rescue of it) ends it."""
    COMPLETED = "completed"
    """Its last run exited 0. Finished: runs again only by `retry --force`."""
    FAILED = "failed"
    """Its last run failed and it has retries left: claimable again once `run_at` (the back-off) passes."""
    DEAD = "dead"
    """Its last run failed with no retry left: the DLQ. Finished: runs again only by a retry."""
    CANCELLED = "cancelled"
    """Cancelled by a user (a running one killed first). Finished: runs again only by a retry."""


ALL_STATES: tuple[JobState, ...] = tuple(JobState)
CLAIMABLE: tuple[JobState, ...] = (JobState.PENDING, JobState.FAILED)
FINISHED: tuple[JobState, ...] = (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)
RETRYABLE: tuple[JobState, ...] = (JobState.FAILED, JobState.DEAD, JobState.CANCELLED)
CANCELLABLE_WAITING: tuple[JobState, ...] = (JobState.PENDING, JobState.FAILED)
PURGEABLE: tuple[JobState, ...] = FINISHED


class WorkerState(StrEnum):
    RUNNING = "running"
    """Registered and heartbeating; claims jobs for its free slots."""
    STOPPING = "stopping"
    """Asked to stop: claims nothing more, finishes (or, forced, kills) what it runs, then stops."""
    STOPPED = "stopped"
    """Exited cleanly; its row stays for `worker list --all`."""
    LOST = "lost"
    """Found dead (its process gone) or silent past worker_timeout; its jobs were recovered."""


LIVE_WORKER_STATES: tuple[WorkerState, ...] = (WorkerState.RUNNING, WorkerState.STOPPING)


def sql_in(states: tuple[str, ...]) -> str:
    """A literal `IN (…)` list; literals (not parameters) let SQLite match partial indexes."""
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


def parse_state(text: str) -> JobState:
    """A state name from user input; ValueError names the valid ones."""
    try:
        return JobState(text.strip().lower())
    except ValueError:
        raise ValueError(
            f"unknown state '{text}' (one of: {', '.join(ALL_STATES)})"
        ) from None


# ── how a run ended, as the store records it (the kinds of end: results.py) ──────────────────────────

# How a run ended, as `run.outcome` records it (the metrics count runs by it).
RUN_OUTCOMES = ("succeeded", "failed", "timeout", "could_not_start", "worker_lost", "cancelled", "interrupted")

WORKER_LOST = "worker lost"
INTERRUPTED = "interrupted: worker stopped"
CANCELLED_BY_USER = "cancelled by user"
