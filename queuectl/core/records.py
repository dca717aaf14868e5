"""Read-only views of rows that the core hands to front ends, with their JSON shape.

No `from __future__ import annotations` here, on purpose: `typing.NamedTuple` turns each string
annotation into a `ForwardRef`, which compiles it, ~100 small compiles at every import (and most
commands import this module). Evaluated annotations cost a type check each; a class naming itself
is quoted.
"""

from typing import Any, NamedTuple

# what `status` reads lives apart (it needs none of the job and run records): named here too, as before
from queuectl.core.overview import Counts as Counts
from queuectl.core.overview import WorkerCounts as WorkerCounts
from queuectl.core.overview import WorkerInfo as WorkerInfo
from queuectl.core.overview import iso as iso
from queuectl.core.overview import jsonable


class ClaimedJob(NamedTuple):
    """What a worker needs to run a job it has just claimed."""

    id: str
    command: str
    cwd: str | None
    env: dict[str, str] | None
    timeout: float
    attempts: int
    max_retries: int
    queue: str
    keep_children: bool = False


class RunStart(NamedTuple):
    """A run not yet recorded: a short job's run is written once, with its result."""

    host: str
    pid: int | None
    pid_created_at: float | None
    started_at: float


class JobRecord(NamedTuple):
    id: str
    command: str
    state: str
    attempts: int
    max_retries: int
    priority: int
    queue: str
    timeout: float
    cwd: str | None
    env: dict[str, str] | None
    run_at: float
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    worker_id: str | None
    exit_code: int | None
    last_error: str | None
    cancel_requested_at: float | None = None
    keep_children: bool = False
    held: bool = False
    label: str | None = None
    unique_key: str | None = None
    on_success: str | None = None
    on_failure: str | None = None
    on_dead: str | None = None
    parent_id: str | None = None  # the job whose finish fired this hook job

    TIME_KEYS = ("run_at", "created_at", "updated_at", "started_at", "finished_at", "cancel_requested_at")

    @classmethod
    def from_row(cls, row: Any) -> "JobRecord":
        import json  # here: the commands that import this module without reading a job (status) skip it

        return cls(
            id=row.id, command=row.command, state=row.state, attempts=row.attempts,
            max_retries=row.max_retries, priority=row.priority, queue=row.queue, timeout=row.timeout,
            cwd=row.cwd, env=json.loads(row.env) if row.env else None, run_at=row.run_at,
            created_at=row.created_at, updated_at=row.updated_at, started_at=row.started_at,
            finished_at=row.finished_at, worker_id=row.worker_id, exit_code=row.exit_code,
            last_error=row.last_error, cancel_requested_at=row.cancel_requested_at,
            keep_children=bool(row.keep_children), held=bool(row.held), label=row.label, unique_key=row.unique_key,
            on_success=row.on_success, on_failure=row.on_failure, on_dead=row.on_dead, parent_id=row.parent_id,
        )

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None or self.finished_at < self.started_at:
            return None
        return self.finished_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        data = self._asdict()
        # env values may be secrets: show which variables are set, not their values.
        data["env"] = sorted(self.env) if self.env else None
        return jsonable(data, self.TIME_KEYS)


class RunRecord(NamedTuple):
    job_id: str
    number: int
    attempt: int
    worker_id: str
    host: str
    pid: int | None
    started_at: float
    finished_at: float | None
    exit_code: int | None
    error: str | None
    output_bytes: int

    TIME_KEYS = ("started_at", "finished_at")

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else max(0.0, self.finished_at - self.started_at)

    def to_json(self) -> dict[str, Any]:
        data = jsonable(self._asdict(), self.TIME_KEYS)
        data["duration"] = self.duration
        return data


class RunOutput(NamedTuple):
    job_id: str
    number: int
    finished: bool
    output: bytes
    output_bytes: int


class WaitingReason(NamedTuple):
    """`code` is stable for scripts (held, dependencies, paused, queue_paused, due_later,
    queue_full, no_worker, ready); `text` says it to a person."""

    code: str
    text: str
    short: str = ""  # a few words for a table cell ("" for ready and due later: other columns say it)
