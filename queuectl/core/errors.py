"""Error types the core raises; the CLI maps each to an exit code (`queuectl.cli.exit_codes`) and a one-line
message."""

from __future__ import annotations


class QueuectlError(Exception):
    """Something could not be done."""


class InvalidInput(QueuectlError):
    """Bad usage or bad input; nothing was changed."""


class InvalidJobSpec(InvalidInput):
    """A job description is malformed; the message names the field."""


class InvalidSetting(InvalidInput):
    """An unknown setting key or an invalid value."""


class DuplicateJob(InvalidInput):
    """A job with this id already exists (or appears twice in one bulk)."""


class JobNotFound(QueuectlError):
    """No job with this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no such job: {job_id}")
        self.job_id = job_id


class WorkerNotFound(QueuectlError):
    """No worker with this id."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(f"no such worker: {worker_id}")
        self.worker_id = worker_id


class InvalidTransition(QueuectlError):
    """The job is not in a state that allows this operation. `forcible`: it would be allowed when
    forced (a retry of a completed job); each front end says how to force it in its own words."""

    def __init__(self, message: str, *, forcible: bool = False) -> None:
        super().__init__(message)
        self.forcible = forcible


class StoreUnavailable(QueuectlError):
    """The store cannot be opened, read or written (busy, corrupt, full, unreachable)."""


def show_value(value: object, limit: int = 60) -> str:
    """A short repr of a user value for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ScheduleNotFound(QueuectlError):
    """No schedule with this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no such schedule: {name}")
        self.name = name


class DuplicateSchedule(InvalidInput):
    """A schedule with this name already exists."""
