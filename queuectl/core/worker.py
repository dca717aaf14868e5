"""The worker loop: register, claim → run → finish, heartbeat, obey stop and cancel requests,
rescue the jobs of lost workers, and survive a busy or failing store by backing off.

Signals: the first SIGTERM/SIGINT asks for a graceful stop (the running job finishes); a second
one, or a forced stop through the store, kills the job and puts it back to `pending` uncounted.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store, describe_db_error
from queuectl.core.host import create_time, host_id
from queuectl.core.jobcgroup import WorkerCgroup
from queuectl.core.orm import peewee
from queuectl.core.queue import FinishResult, Holding, JobQueue
from queuectl.core.records import ClaimedJob, RunStart, iso
from queuectl.core.registry import Control, WorkerRegistry, new_worker_id
from queuectl.core.rescue import rescue_lost_workers
from queuectl.core.retention import PRUNE_INTERVAL, prune
from queuectl.core.runner import CouldNotStart, JobProcess, describe_exit
from queuectl.core.schedules import enqueue_due
from queuectl.core.settings import Settings
from queuectl.core.states import (
    Cancelled,
    ClaimLost,
    Fenced,
    Interrupted,
    Refused,
    RunResult,
    StartFailed,
    TimedOut,
    exited,
)
from queuectl.core.wake import PgListener, WakeSocket
from queuectl.core.watchdog import Watchdog

log = logging.getLogger("queuectl.worker")

HEARTBEAT_INTERVAL = 0.5  # stop, cancel and settings changes reach a worker within this
QUICK_JOB = 0.05  # a job that ends this fast gets its run recorded together with its result
STORE_RETRY_MAX = 30.0
T = TypeVar("T")
_STORE_ERRORS: tuple[type[BaseException], ...] = (peewee.DatabaseError, peewee.InterfaceError, sqlite3.Error)


def _with_driver_errors(store: Store) -> None:
    """On PostgreSQL a driver error peewee did not wrap (a rollback on a connection cut mid-call)
    is a store error too; psycopg2 is imported only then (headless commands never load it)."""
    global _STORE_ERRORS
    if not store.is_sqlite:
        import psycopg2

        if psycopg2.Error not in _STORE_ERRORS:
            _STORE_ERRORS += (psycopg2.Error,)


def _never_passes(exc: BaseException) -> bool:
    """A store error no retry can cure: the value itself is refused (a number out of range, a
    string or blob too big); busy, locked, full or unreachable stores pass."""
    text = str(exc).lower()
    if isinstance(exc, (peewee.DataError, sqlite3.DataError)) or "out of range" in text or "too big" in text:
        return True
    cause = exc.__cause__ or exc.__context__
    return str(getattr(cause, "pgcode", None) or "").startswith("22")  # PostgreSQL's class 22: data exception


class StopWorker(Exception):
    """Raised inside the loop when the worker must exit now (declared lost, or forced while retrying)."""


class Worker:
    def __init__(
        self,
        store: Store,
        *,
        worker_id: str | None = None,
        queues: Sequence[str] | None = None,
        burst: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        _with_driver_errors(store)
        self.id = worker_id or new_worker_id()
        self.queues = list(queues) if queues else None
        self.burst = burst
        self.clock = clock
        self.queue = JobQueue(store, clock)
        self.registry = WorkerRegistry(store, clock)
        self.config = ConfigStore(store)
        self.host = host_id()
        self.settings: Settings = Settings()
        self.stop_requested = False
        self.force = False
        self._signals = 0
        self._running: str | None = None  # the job in hand (claimed), so a heartbeat can tell strays from it
        self._last_beat_ok = time.monotonic()  # when the last heartbeat that reached the store began
        self._beat_failures = 0
        self._cancel_hint: str | None = None  # the worker row's cancel_job_id at the last heartbeat
        self._next_beat = 0.0
        self._next_poll = 0.0
        self._next_prune = 0.0
        self._run_cursor = 0  # retention's place in the run table (keep_runs)
        self._wake: WakeSocket | None = None
        self._watchdog: Watchdog | None = None
        self._cgroup: WorkerCgroup | None = None
        self._listener: PgListener | None = None

    # ── signals ──────────────────────────────────────────────────────────────────────────────

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        # Count signals, not stop requests: a stop asked through the store and then confirmed by
        # `worker stop`'s SIGTERM is still one graceful request.
        self._signals += 1
        self.stop_requested = True
        if self._signals >= 2:
            self.force = True

    # ── store access that survives a busy or failing store ──────────────────────────────────

    def _retrying(self, what: str, call: Callable[[], T], *, give_up_on_stop: bool = False) -> T:
        """Run a store call, backing off (capped) while the store is busy, full or unreachable."""
        delay = 0.1
        while True:
            try:
                return call()
            except _STORE_ERRORS as exc:
                log.warning(
                    "store error while %s: %s; retrying in %.1fs", what, describe_db_error(exc, self.store), delay
                )
                self._reset_connection()
            if give_up_on_stop and self.stop_requested:
                raise StopWorker()
            self._sleep(delay)
            delay = min(delay * 2, STORE_RETRY_MAX)

    def _reset_connection(self) -> None:
        """After a PostgreSQL error the connection may be cut or stuck: the next call opens a new one."""
        if not self.store.is_sqlite:
            try:
                self.store.db.close()
            except Exception:
                pass

    @property
    def fence_after(self) -> float:
        """With no heartbeat in the store for this long, this worker kills its jobs (it fences
        itself): half of `worker_timeout`, after which other workers recover them."""
        return self.settings.worker_timeout / 2

    def _apply_settings(self, settings: Settings) -> None:
        if settings.worker_timeout != self.settings.worker_timeout or self.store.call_timeout is None:
            # no store call may outlive the fencing interval: half of it, so a retry fits too
            self.store.bound_calls(settings.worker_timeout / 4)
        self.settings = settings

    def _sleep(self, seconds: float) -> None:
        if self._wake is not None:
            select.select([self._wake], [], [], seconds)
            self._wake.drain()
        else:
            time.sleep(seconds)

    # ── lifecycle ────────────────────────────────────────────────────────────────────────────

    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        os.umask(0o077)
        try:
            self._apply_settings(self._retrying("reading settings", self.config.settings, give_up_on_stop=True))
        except StopWorker:
            return 0
        try:
            self._wake = WakeSocket(self.id)
        except OSError:
            self._wake = None
        created = create_time(os.getpid()) or time.time()
        try:
            self._retrying(
                "registering",
                lambda: self.registry.register(
                    self.id, self.host, os.getpid(), created, self.queues, self._wake.address if self._wake else None
                ),
                give_up_on_stop=True,
            )
        except StopWorker:
            if self._wake is not None:
                self._wake.close()
            return 0
        except BaseException:
            if self._wake is not None:
                self._wake.close()
            raise
        # Only once registered: the watchdog kills every process carrying this worker id, so a
        # refused duplicate id must never have one.
        self._watchdog = Watchdog(self.id)
        self._cgroup = WorkerCgroup.enter(self.id)  # after the fork: the watchdog stays outside it
        self._last_beat_ok = time.monotonic()
        log.info("worker %s started (pid %d, host %s, queues %s, jobs contained by %s)", self.id, os.getpid(),
                 self.host, ",".join(self.queues) if self.queues else "all",
                 f"cgroup {self._cgroup.path}" if self._cgroup else "their environment marker")
        try:
            self._loop()
        except StopWorker:
            pass
        finally:
            try:
                self.registry.mark_stopped(self.id)
            except _STORE_ERRORS as exc:
                log.warning("could not record the stop: %s", describe_db_error(exc, self.store))
            if self._wake is not None:
                self._wake.close()
            if self._cgroup is not None:
                self._cgroup.leave()
            if self._watchdog is not None:
                self._watchdog.close()
            log.info("worker %s stopped", self.id)
        return 0

    def _loop(self) -> None:
        job: ClaimedJob | None = None  # claimed together with the previous job's finish
        try:
            look = True  # look for work now: at start, after a job, when woken, when the poll is due
            while not self.stop_requested:
                self._beat_if_due()
                if self.stop_requested:
                    break
                if job is None and (look or time.monotonic() >= self._next_poll):
                    job = self._retrying(
                        "claiming a job", lambda: self.queue.claim(self.id, self.queues), give_up_on_stop=True
                    )
                    self._next_poll = time.monotonic() + self.settings.poll_interval
                self._running = job.id if job is not None else None
                if job is not None:
                    job = self._run_job(job)
                    self._running = job.id if job is not None else None
                    self._next_poll = time.monotonic() + self.settings.poll_interval
                    look = False  # finish_and_claim just looked
                    continue
                if self.burst:
                    break
                look = self._idle_wait()
        finally:
            if job is not None:  # claimed but never started: hand it back untouched
                handed = job
                self._retrying("releasing a job", lambda: self.queue.release(handed, self.id), give_up_on_stop=True)

    def _idle_wait(self) -> bool:
        """Wait for a wake-up, the next poll or the next heartbeat; True when woken."""
        timeout = max(0.0, min(self._next_poll, self._next_beat) - time.monotonic())
        waits: list = [w for w in (self._wake, self._listen()) if w is not None]
        if not waits:
            time.sleep(timeout)
            return False
        ready, _, _ = select.select(waits, [], [], timeout)
        for source in ready:
            try:
                source.drain()
            except Exception:  # the PostgreSQL connection broke: listen again next time
                self._listener = None
                time.sleep(timeout)  # do not spin on a dead socket
                return False
        return bool(ready)

    def _listen(self) -> PgListener | None:
        """On PostgreSQL, a LISTEN for wake-ups from every host (made again after a reconnect)."""
        if self.store.is_sqlite:
            return None
        if self._listener is None or not self._listener.current:
            try:
                self._listener = PgListener(self.store)
            except Exception:
                self._listener = None
        return self._listener

    def _beat_if_due(self, running: bool = False) -> Control | None:
        """Heartbeat when due; None when not due or (`running`: tried once, not retried) it failed.

        While a job runs a failed heartbeat is not retried in place: the worker must go on
        watching the job, and kill it once no heartbeat has succeeded for `fence_after`."""
        if time.monotonic() < self._next_beat:
            return None
        self._next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        if self.store.replaced_or_deleted():
            # SQLite keeps writing to the unlinked file: nothing this worker does would be seen.
            log.error("the store %s was deleted or replaced; this worker stops (start it again)", self.store.path)
            self.stop_requested = True
            raise StopWorker()
        began = time.monotonic()
        if running:
            try:
                control = self.registry.heartbeat(self.id)
            except _STORE_ERRORS as exc:
                self._beat_failures += 1
                if self._beat_failures == 1 or self._beat_failures % 20 == 0:
                    log.warning("store error while sending a heartbeat: %s (none reached the store for %.1fs)",
                                describe_db_error(exc, self.store), time.monotonic() - self._last_beat_ok)
                self._reset_connection()
                return None
        else:
            control = self._retrying("sending a heartbeat", lambda: self.registry.heartbeat(self.id),
                                     give_up_on_stop=True)
        if control.lost:
            log.error("worker %s was declared lost by another process; exiting", self.id)
            raise StopWorker()
        self._last_beat_ok, self._beat_failures = began, 0
        if self._watchdog is not None:
            self._watchdog.heartbeat(began, self.fence_after)
        self._cancel_hint = control.cancel_job_id
        if control.stop_requested:
            self.stop_requested = True
            self.force = self.force or control.force
        try:
            self._apply_settings(self.config.settings())
            for job_id in self.queue.release_stray_claims(self.id, self._running):
                log.warning("job %s was claimed by this worker but never started (lost reply); released", job_id)
            for rescued in rescue_lost_workers(self.queue, self.registry, self.settings, me=self.id):
                for job_id, state in rescued.jobs:
                    log.warning("worker %s was lost; its job %s is now %s", rescued.worker_id, job_id, state)
            self._enqueue_due_slots()
            self._prune_if_due()
        except _STORE_ERRORS as exc:
            log.warning("store error during maintenance: %s", describe_db_error(exc, self.store))
            self._reset_connection()
        return control

    def _enqueue_due_slots(self) -> None:
        """Schedules' due slots become jobs (whichever worker gets there first; see schedules.py)."""
        def broken(name: str, exc: Exception) -> None:
            log.warning("schedule %s: cannot compute its slots on this host: %s", name, exc)

        for made in enqueue_due(self.store, self.clock.now(), self.settings, self.queue, on_error=broken):
            log.info("schedule %s: slot %s enqueued as job %s%s", made.schedule, iso(made.slot), made.job_id,
                     " (catching up missed slots)" if made.missed else "")

    def _prune_if_due(self) -> None:
        """Retention (retention.py), every PRUNE_INTERVAL seconds."""
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_INTERVAL
        pruned = prune(self.queue, self.settings, self.clock.now(), run_cursor=self._run_cursor)
        self._run_cursor = pruned.run_cursor
        if pruned.anything:
            log.info("retention: deleted %s finished jobs and %d runs",
                     ", ".join(f"{n} {state}" for state, n in pruned.jobs.items()) or "no", pruned.runs)

    # ── one job ──────────────────────────────────────────────────────────────────────────────

    def _run_job(self, job: ClaimedJob) -> ClaimedJob | None:
        """Run one job and record its result; returns the next job when it could claim one with it."""
        settings = self.settings
        env = dict(job.env or {})
        env.update(QUEUECTL_JOB_ID=job.id, QUEUECTL_ATTEMPT=str(job.attempts), QUEUECTL_WORKER_ID=self.id)
        started_at = self.clock.now()
        try:
            proc = JobProcess(job.command, cwd=job.cwd, env=env, max_bytes=settings.log_max_bytes,
                              cgroup=self._cgroup)
        except CouldNotStart as exc:
            return self._finish(job, RunStart(self.host, None, None, started_at), StartFailed(str(exc)))
        run: int | RunStart = RunStart(self.host, proc.pid, None, started_at)
        deadline = time.monotonic() + job.timeout if job.timeout > 0 else None
        # why this worker ended the run, once it did: called with the exit code, it is the result
        ending: Callable[..., RunResult] | None = None
        saved_bytes = 0
        exited_at: float | None = None  # the shell's own exit, before its leftovers are ended
        try:
            # Most jobs end within moments: their run is written once, with the result.
            if not proc.wait(min(QUICK_JOB, job.timeout or QUICK_JOB)):
                start = RunStart(self.host, proc.pid, create_time(proc.pid), started_at)
                run = self._retrying("recording a run", lambda: self.queue.start_run(job, self.id, start))
                log.info("job %s attempt %d running (pid %d)", job.id, job.attempts, proc.pid)
            while proc.returncode is None and not proc.wait(max(0.0, self._next_beat - time.monotonic())):
                if deadline is not None and time.monotonic() >= deadline and not proc.killing:
                    ending = partial(TimedOut, job.timeout)
                    proc.terminate(self.settings.kill_grace)
                try:
                    control = self._beat_if_due(running=True)
                except StopWorker:
                    proc.terminate(0)
                    proc.wait(5)
                    raise
                if self.force and not proc.killing:
                    ending = Interrupted
                    proc.terminate(self.settings.kill_grace)
                if control is not None and ending is not ClaimLost:
                    holding = self._holding(job)
                    if holding is not None and not holding.held:
                        # a lost claim (a server crash, a failover) or a recovery: never two runs
                        log.error("job %s attempt %d is no longer this worker's (%s); killing it at once",
                                  job.id, job.attempts, holding.why_not)
                        ending = ClaimLost
                        proc.terminate(0)
                    elif holding is not None and holding.cancel_requested and not proc.killing:
                        ending = Cancelled
                        proc.terminate(self.settings.kill_grace)
                if not proc.killing and self._fenced():
                    ending = partial(Fenced, self._fence_silence(job))
                    proc.terminate(0)
                if control is not None and ending is not ClaimLost:
                    if proc.output_bytes != saved_bytes and isinstance(run, int):
                        # tried once, like the heartbeat: the job must stay watched during an outage
                        try:
                            # only what is new since the last save (all the runner kept, if it dropped more)
                            self.queue.save_output(job.id, run, proc.last_bytes(proc.output_bytes - saved_bytes),
                                                   proc.output_bytes, self.id, keep=proc.max_bytes)
                            saved_bytes = proc.output_bytes
                        except _STORE_ERRORS as exc:
                            log.warning("store error while saving the output of job %s: %s", job.id,
                                        describe_db_error(exc, self.store))
                            if _never_passes(exc):
                                saved_bytes = proc.output_bytes  # not again until it changes
                            else:
                                self._reset_connection()
                if deadline is not None and not proc.killing:
                    # wake up in time for the deadline, not only at the next heartbeat
                    self._next_beat = min(self._next_beat, deadline)
            if ending is None:
                exited_at = self.clock.now()
                self._end_leftovers(job, proc)
        finally:
            proc.close()
        ended_at = exited_at or self.clock.now()
        if ending is None and self._fenced():  # frozen (SIGSTOP) while it ran: the watchdog killed it
            ending = partial(Fenced, self._fence_silence(job))
        exit_code, error = describe_exit(proc.returncode if proc.returncode is not None else -9)
        if ending is not None:  # the signal that did it is not the reason: the ending is
            result = ending(exit_code=exit_code)
        else:
            result = exited(exit_code, error)
        next_job = self._finish(job, run, result, proc.output, proc.output_bytes, ended_at)
        if self._cancel_hint == job.id:  # tidy the worker row; the job row's flag is what counts
            self._retrying("clearing a cancel request", lambda: self.registry.clear_cancel(self.id, job.id),
                           give_up_on_stop=True)
        return next_job

    def _end_leftovers(self, job: ClaimedJob, proc: JobProcess) -> None:
        """A job that exited by itself: its leftover processes end before its result is recorded
        (a retry never meets them), unless the job keeps them on purpose (a daemon)."""
        if job.keep_children:
            proc.keep_leftovers()
            if self._watchdog is not None:
                self._watchdog.keep(job.id, job.attempts)  # not killed if this worker dies later
            return
        if not proc.end_leftovers(self.settings.kill_grace):
            return
        log.info("job %s attempt %d left processes behind; ending them", job.id, job.attempts)
        try:
            while not proc.leftovers_gone(max(0.0, self._next_beat - time.monotonic())):
                self._beat_if_due(running=True)
                if self.force:
                    proc.kill_now()
                    return
        except StopWorker:
            proc.kill_now()
            raise

    def _holding(self, job: ClaimedJob) -> Holding | None:
        """What the store says of our run of `job`, or None if it could not be asked now."""
        try:
            return self.queue.holding(job.id, self.id, job.attempts)
        except _STORE_ERRORS as exc:
            log.warning("store error while checking job %s: %s", job.id, describe_db_error(exc, self.store))
            self._reset_connection()
            return None

    def _fenced(self) -> bool:
        return time.monotonic() - self._last_beat_ok > self.fence_after

    def _fence_silence(self, job: ClaimedJob) -> float:
        """Seconds without a heartbeat in the store, logged as the reason this worker kills `job`."""
        silent = time.monotonic() - self._last_beat_ok
        log.error("job %s attempt %d: no heartbeat reached the store for %.1fs (fencing interval %gs; other "
                  "workers recover it after worker_timeout %gs); killed it", job.id, job.attempts, silent,
                  self.fence_after, self.settings.worker_timeout)
        return silent

    def _finish(self, job: ClaimedJob, run: int | RunStart, result: RunResult, output: bytes = b"",
                output_bytes: int = 0, finished_at: float | None = None) -> ClaimedJob | None:
        """Record the result; unless stopping, claim the next job in the same transaction.

        A fenced-off run's result is worth nothing to others (they recover the job after
        worker_timeout), so a stop request ends the retries of an outage instead of waiting."""
        claim_next = not self.stop_requested
        lost = isinstance(result, ClaimLost)

        def record(result: RunResult, output: bytes, output_bytes: int) -> tuple[FinishResult, ClaimedJob | None]:
            if claim_next:
                return self.queue.finish_and_claim(job, self.id, run, result, self.settings, queues=self.queues,
                                                   output=output, output_bytes=output_bytes, finished_at=finished_at)
            return self.queue.finish(job, self.id, run, result, self.settings, output=output,
                                     output_bytes=output_bytes, finished_at=finished_at), None

        def attempt() -> tuple[FinishResult, ClaimedJob | None]:
            try:
                return record(result, output, output_bytes)
            except _STORE_ERRORS as exc:
                if not _never_passes(exc):
                    raise
                # Retrying the same values would fail for ever (and stall the worker): the run
                # ends failed, without the output the store refused.
                refused = describe_db_error(exc, self.store)
                log.error("job %s attempt %d: the store refuses its result (%s); recorded as failed without its "
                          "output", job.id, job.attempts, refused)
                return record(Refused(result, refused), b"", 0)

        done, next_job = self._retrying("recording a result", attempt,
                                        give_up_on_stop=isinstance(result, Fenced) or (not claim_next and (lost or self.force)))
        if done.state is None:
            if not lost:  # a lost claim was logged when it was found
                log.warning("job %s attempt %d: the store no longer records this run as this worker's (recovered "
                            "as lost, cancelled, or the job was changed); result not recorded", job.id, job.attempts)
        else:
            log.info("job %s attempt %d: %s", job.id, job.attempts, done.state)
        return next_job
