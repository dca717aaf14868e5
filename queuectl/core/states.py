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
are built from the tuples below so the SQL and this module cannot disagree.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


ALL_STATES: tuple[JobState, ...] = tuple(JobState)
CLAIMABLE: tuple[JobState, ...] = (JobState.PENDING, JobState.FAILED)
FINISHED: tuple[JobState, ...] = (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)
RETRYABLE: tuple[JobState, ...] = (JobState.FAILED, JobState.DEAD, JobState.CANCELLED)
CANCELLABLE_WAITING: tuple[JobState, ...] = (JobState.PENDING, JobState.FAILED)
PURGEABLE: tuple[JobState, ...] = FINISHED


class WorkerState(StrEnum):
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    LOST = "lost"


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
