"""One run of a claimed job, from its spawn to its `RunResult`: timeout, cancel, forced stop, a
lost claim, fencing, the leftovers of a run that exited, and its output for the store.

A worker drives the runs of all its slots from one select loop and never blocks on one: `fds()`
and `wake_at()` say what to wait for, `service(ready)` moves a run on (reads its output, reaps
its shell, sends a due SIGKILL, notices its timeout), and `hear(tick)` applies what a heartbeat
learned about it. `until_done(tick)` drives one run alone the same way: the unit tests use it
with a fake heartbeat, no worker and no store.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.host import create_time
from queuectl.core.jobcgroup import SlotCgroup, WorkerCgroup
from queuectl.core.records import ClaimedJob, RunStart
from queuectl.core.results import (
    Cancelled,
    ClaimLost,
    Fenced,
    Interrupted,
    RunResult,
    StartFailed,
    TimedOut,
    exited,
)
from queuectl.core.runner import CouldNotStart, JobProcess, describe_exit
from queuectl.core.settings import Settings

log = logging.getLogger("queuectl.worker")

QUICK_JOB_S = 0.05  # a run that ends this fast is recorded once, together with its result
LEFTOVER_POLL_S = 0.05  # how often the leftovers of a run that exited are looked at while they end


class Tick(NamedTuple):
    """What one heartbeat taught the worker about one of its runs."""

    force: bool = False  # the worker is stopped by force: interrupt the run, uncounted
    held: bool = True  # False: the store no longer gives this run to this worker (never two runs)
    why_not: str = ""  # why not, for the log
    cancel: bool = False  # the user cancelled the job
    fenced_for: float | None = None  # the worker fenced itself: seconds no heartbeat reached the store


class JobRun:
    """One claimed job's run in one slot of a worker."""

    def __init__(
        self, job: ClaimedJob, *, worker_id: str, host: str, settings: Settings, clock: Clock = SYSTEM_CLOCK,
        cgroup: SlotCgroup | WorkerCgroup | None = None, slot: int = 0,
    ) -> None:
        self.job = job
        self.slot = slot
        self.settings = settings
        self._clock = clock
        env = dict(job.env or {})
        env.update(QUEUECTL_JOB_ID=job.id, QUEUECTL_ATTEMPT=str(job.attempts), QUEUECTL_WORKER_ID=worker_id)
        self.started_at = clock.now()
        self.ended_at: float | None = None  # when the shell exited (before its leftovers ended)
        # why the worker ended the run, once it did: called with the exit code, it is the result
        self._ending: Callable[..., RunResult] | None = None
        self._result: RunResult | None = None
        self._ending_leftovers = False
        self._poll_at = 0.0  # while its leftovers end: when to look at them again
        self.kept_leftovers = False  # the run ended and keeps its processes (keep_children)
        self.saved_bytes = 0
        self.proc: JobProcess | None
        try:
            self.proc = JobProcess(job.command, cwd=job.cwd, env=env, max_bytes=settings.log_max_bytes,
                                   cgroup=cgroup)
        except CouldNotStart as exc:
            self.proc = None
            self.run: int | RunStart = RunStart(host, None, None, self.started_at)
            self.ended_at = self.started_at
            self._result = StartFailed(str(exc))
            return
        self.run = RunStart(host, self.proc.pid, None, self.started_at)
        began = time.monotonic()
        self._deadline = began + job.timeout if job.timeout > 0 else None
        self._record_at = began + min(QUICK_JOB_S, job.timeout or QUICK_JOB_S)

    # ── what to wait for ────────────────────────────────────────────────────────────────────

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def killing(self) -> bool:
        """The worker has begun to kill it (or it ended): a later reason changes nothing."""
        return self.proc is None or self.proc.killing or self._ending_leftovers

    @property
    def claim_lost(self) -> bool:
        return self._ending is ClaimLost

    def result(self) -> RunResult:
        assert self._result is not None, "the run has not ended"
        return self._result

    def fds(self) -> list[int]:
        if self.done or self._ending_leftovers or self.proc is None:
            return []
        return self.proc.fds()

    def wake_at(self) -> float | None:
        """When the run needs `service` though no fd is ready (time.monotonic()), or None."""
        if self.done or self.proc is None:
            return None
        if self._ending_leftovers:
            return self._poll_at
        times = [self.proc.wake_at()]
        if self._deadline is not None and not self.proc.killing:
            times.append(self._deadline)
        if isinstance(self.run, RunStart) and self._record_at > time.monotonic():
            times.append(self._record_at)
        return min((t for t in times if t is not None), default=None)

    # ── moving on ───────────────────────────────────────────────────────────────────────────

    def service(self, ready: frozenset[int] | set[int] | list[int] = ()) -> None:
        """Read output, reap the shell, end leftovers, kill at the timeout: whatever is due now."""
        proc = self.proc
        if self.done or proc is None:
            return
        if self._ending_leftovers:
            if time.monotonic() >= self._poll_at:
                self._poll_at = time.monotonic() + LEFTOVER_POLL_S
                if proc.leftovers_gone(0):
                    self._end()
            return
        if self._deadline is not None and time.monotonic() >= self._deadline and not proc.killing:
            self._ending = partial(TimedOut, self.job.timeout)
            proc.terminate(self.settings.kill_grace)
        if proc.service(ready):
            self._exited()

    def hear(self, tick: Tick) -> None:
        """Apply what a heartbeat learned: kill for a forced stop, a lost claim, a cancel or a fence."""
        proc = self.proc
        if self.done or proc is None:
            return
        if self._ending_leftovers:
            if tick.force or tick.fenced_for is not None or not tick.held:
                proc.kill_now()
                self._end()
            return
        if tick.force and not proc.killing:
            self._ending = Interrupted
            proc.terminate(self.settings.kill_grace)
        if not tick.held and self._ending is not ClaimLost:
            log.error("job %s attempt %d is no longer this worker's (%s); killing it at once",
                      self.job.id, self.job.attempts, tick.why_not)
            self._ending = ClaimLost
            proc.terminate(0)
        elif tick.held and tick.cancel and not proc.killing:
            self._ending = Cancelled
            proc.terminate(self.settings.kill_grace)
        if tick.fenced_for is not None and not proc.killing:
            self._ending = partial(Fenced, tick.fenced_for)
            proc.terminate(0)
        self.service()

    def fence_ended(self, silent_for: float) -> None:
        """The run ended by itself while the worker was fenced (frozen, or cut off): the watchdog may
        have killed it, so its end is not the command's — it is recorded as fenced."""
        if self._result is not None and self._ending is None and not isinstance(self._result, StartFailed):
            self._ending = partial(Fenced, silent_for)
            self._result = self._ending(exit_code=self._result.exit_code)

    def kill_now(self) -> None:
        """SIGKILL the run at once (the worker must exit now); its result no longer matters."""
        if self.proc is not None and not self.done:
            self.proc.terminate(0)
            self.proc.wait(5)

    def _exited(self) -> None:
        proc = self.proc
        assert proc is not None
        self.ended_at = self._clock.now()
        if self._ending is not None:
            self._end()
        elif self.job.keep_children:
            proc.keep_leftovers()
            self.kept_leftovers = True
            self._end()
        elif proc.end_leftovers(self.settings.kill_grace):
            log.info("job %s attempt %d left processes behind; ending them", self.job.id, self.job.attempts)
            self._ending_leftovers = True
            self._poll_at = time.monotonic() + LEFTOVER_POLL_S
        else:
            self._end()

    def _end(self) -> None:
        proc = self.proc
        assert proc is not None
        self._ending_leftovers = False
        if self.ended_at is None:
            self.ended_at = self._clock.now()
        # the signal that did it is not the reason: the ending is
        exit_code, error = describe_exit(proc.returncode if proc.returncode is not None else -9)
        self._result = self._ending(exit_code=exit_code) if self._ending is not None else exited(exit_code, error)
        proc.close()

    # ── what the store should hear ──────────────────────────────────────────────────────────

    def needs_recording(self) -> bool:
        """Still running past the quick-job wait and not yet recorded as under way."""
        return (isinstance(self.run, RunStart) and not self.done and self.proc is not None
                and time.monotonic() >= self._record_at)

    def recorded(self, number: int) -> None:
        """The store recorded the run as under way, as run `number`."""
        self.run = number

    def run_start(self) -> RunStart:
        """The run as `JobQueue.start_run` records it (with its shell's create time: never a reused pid)."""
        assert isinstance(self.run, RunStart) and self.proc is not None
        return self.run._replace(pid_created_at=create_time(self.proc.pid))

    def unsaved_output(self) -> tuple[bytes, int] | None:
        """(what was printed since the last save, all bytes printed so far), for a recorded run that
        printed something new; the caller says `output_saved` once the store has it."""
        if self.proc is None or not isinstance(self.run, int) or self.proc.output_bytes == self.saved_bytes:
            return None
        # only what is new since the last save (all the runner kept, if it dropped more)
        return self.proc.last_bytes(self.proc.output_bytes - self.saved_bytes), self.proc.output_bytes

    def output_saved(self, total: int) -> None:
        self.saved_bytes = total

    @property
    def output(self) -> bytes:
        return self.proc.output if self.proc is not None else b""

    @property
    def output_bytes(self) -> int:
        return self.proc.output_bytes if self.proc is not None else 0

    # ── one run alone ───────────────────────────────────────────────────────────────────────

    def until_done(
        self, tick: Callable[[JobRun], Tick | None], *, every: float = 0.5,
        record: Callable[[RunStart], int] | None = None, flush: Callable[[JobRun, bytes, int], None] | None = None,
    ) -> RunResult:
        """Drive this run to its end, calling `tick` (the heartbeat: None when it failed) every
        `every` seconds, `record` once it outlives the quick-job wait, and `flush` with new output
        after each tick; returns the result."""
        next_tick = time.monotonic() + every
        while not self.done:
            wake = min(t for t in (self.wake_at(), next_tick) if t is not None)
            timeout = max(0.0, wake - time.monotonic())
            fds = self.fds()
            if fds:
                ready, _, _ = select.select(fds, [], [], timeout)
            else:
                time.sleep(timeout)
                ready = []
            self.service(ready)
            if record is not None and self.needs_recording():
                self.recorded(record(self.run_start()))
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + every
                heard = tick(self)
                if heard is not None:
                    self.hear(heard)
                if flush is not None and (new := self.unsaved_output()) is not None:
                    flush(self, *new)
        return self.result()
