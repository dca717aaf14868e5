"""How a run ended (`RunResult` and its kinds), and what follows from it (`decide`).

The worker's finish and the rescue of a lost worker both ask `decide`; nothing else needs this
module, so a command that only adds or reads jobs never imports it (the frozen dataclasses below
cost a CLI command's start-up more than the states themselves). The states and the texts a run's
end records are `states.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Protocol

from queuectl.core.settings import Settings, backoff_delay
from queuectl.core.states import CANCELLED_BY_USER, INTERRUPTED, WORKER_LOST, JobState


class RunResult:
    """How one run ended, as its worker (or the rescuer of a lost worker) saw it.

    `exit_code` is the shell's, as a shell reports it (128 + signal when killed), None when no
    process ran to an end; `error` is the text recorded with the run. A result that is not a
    success counts as one failed attempt unless it says otherwise (`counted`)."""

    __slots__ = ()
    exit_code: int | None  # each kind sets it (a field, or None where no process ran to an end)
    counted: ClassVar[bool] = True
    outcome: ClassVar[str] = "failed"  # recorded with the run (run.outcome): one of RUN_OUTCOMES

    @property
    def error(self) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class Completed(RunResult):
    """The command exited 0."""

    exit_code: int | None = 0
    outcome: ClassVar[str] = "succeeded"


@dataclass(frozen=True, slots=True)
class Failed(RunResult):
    """The command exited non-zero or was killed by a signal it did not get from us."""

    exit_code: int | None
    reason: str | None  # `describe_exit`'s text ("exit code 3", "killed by SIGKILL")

    @property
    def error(self) -> str | None:
        return self.reason


def exited(exit_code: int | None, error: str | None) -> Completed | Failed:
    """A run that ended by itself, as `runner.describe_exit` tells it: completed on exit 0 with no
    error, else failed."""
    return Completed() if exit_code == 0 and error is None else Failed(exit_code, error)


@dataclass(frozen=True, slots=True)
class StartFailed(RunResult):
    """No process could be created (a missing cwd, no permission, …); `runner.CouldNotStart`."""

    reason: str
    exit_code: ClassVar[None] = None
    outcome: ClassVar[str] = "could_not_start"

    @property
    def error(self) -> str | None:
        return self.reason


@dataclass(frozen=True, slots=True)
class TimedOut(RunResult):
    """Killed by its worker after the job's `timeout`."""

    after: float
    exit_code: int | None = None
    outcome: ClassVar[str] = "timeout"

    @property
    def error(self) -> str | None:
        return f"timeout after {self.after:g}s"


@dataclass(frozen=True, slots=True)
class Fenced(RunResult):
    """Killed by its own worker, which could not reach the store for the fencing interval."""

    silent_for: float
    exit_code: int | None = None

    @property
    def error(self) -> str | None:
        return f"fenced: no heartbeat reached the store for {self.silent_for:.1f}s"


@dataclass(frozen=True, slots=True)
class Refused(RunResult):
    """The run ended as `original`, but the store refuses that result (its output too big, a number
    out of range): it is recorded without the output, and a success as a failure."""

    original: RunResult
    reason: str

    @property
    def exit_code(self) -> int | None:  # type: ignore[override]  # read-only here: the original's
        return self.original.exit_code

    @property
    def error(self) -> str | None:
        return f"result refused by the store: {self.reason}"


@dataclass(frozen=True, slots=True)
class Cancelled(RunResult):
    """Killed by its worker because the user cancelled the job."""

    exit_code: int | None = None
    outcome: ClassVar[str] = "cancelled"

    @property
    def error(self) -> str | None:
        return CANCELLED_BY_USER


@dataclass(frozen=True, slots=True)
class Interrupted(RunResult):
    """Killed because its worker was stopped by force: not the job's fault, so not counted."""

    exit_code: int | None = None
    counted: ClassVar[bool] = False
    outcome: ClassVar[str] = "interrupted"

    @property
    def error(self) -> str | None:
        return INTERRUPTED


@dataclass(frozen=True, slots=True)
class WorkerLost(RunResult):
    """Its worker died or went silent; another process recovers the job (rescue.py)."""

    exit_code: ClassVar[None] = None
    outcome: ClassVar[str] = "worker_lost"

    @property
    def error(self) -> str | None:
        return WORKER_LOST


@dataclass(frozen=True, slots=True)
class ClaimLost(RunResult):
    """The store no longer gives this run to its worker (recovered as lost, or a claim lost in a
    server crash): killed at once. Its finish is fenced off and changes nothing."""

    exit_code: int | None = None

    @property
    def error(self) -> str | None:
        return "claim lost"


class Decision(NamedTuple):
    """A job's next state after a run, with what the finish writes beside it."""

    state: JobState
    attempts: int
    run_at: float | None  # when it is due again (a retry's back-off, or now); None: unchanged
    error: str | None


class Attempt(Protocol):
    """The job as a run's end sees it: which attempt this was (claims count them), and how many
    failed attempts it may retry."""

    @property
    def attempts(self) -> int: ...

    @property
    def max_retries(self) -> int: ...


def decide(job: Attempt, result: RunResult, settings: Settings, now: float, *,
           cancel_requested: bool = False) -> Decision:
    """The job's next state after its `job.attempts`-th run ended with `result`.

    Completed → completed. Interrupted → pending, due now, the attempt handed back. Cancelled, or
    any other end while a cancel was pending → cancelled: the user asked for it not to run again.
    Anything else is a failed attempt: `failed`, due after the back-off, while attempts ≤
    max_retries; then `dead` (the DLQ). The finish statement applies the same cancel rule in SQL
    for a cancel that arrives after the worker last looked (queue.py, `_FINISH_JOB`)."""
    attempts = job.attempts
    if isinstance(result, Completed):
        return Decision(JobState.COMPLETED, attempts, None, None)
    if cancel_requested:
        return Decision(JobState.CANCELLED, attempts, None, CANCELLED_BY_USER)
    how = result.original if isinstance(result, Refused) else result  # a refused output changes no rule but success
    if not how.counted:
        return Decision(JobState.PENDING, attempts - 1, now, result.error)
    if isinstance(how, Cancelled):
        return Decision(JobState.CANCELLED, attempts, None, result.error)
    if attempts > job.max_retries:
        return Decision(JobState.DEAD, attempts, None, result.error)
    return Decision(JobState.FAILED, attempts, now + backoff_delay(settings, attempts), result.error)
