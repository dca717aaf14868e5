"""The worker loop: register, fill free slots with claims, drive every slot's run from one select
loop (execution.py), record the runs that ended together with the next claims, heartbeat, obey
stop and cancel requests, run maintenance (maintenance.py) on its own cadence, and survive a busy
or failing store by backing off.

One process, one store connection and one watchdog, whatever the number of slots. Signals: the
first SIGTERM/SIGINT asks for a graceful stop (running jobs finish, no new claims); a second one,
or a forced stop through the store, kills every slot's job and puts it back to `pending` uncounted.
"""

from __future__ import annotations

import logging
import os
import random
import select
import signal
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import ConfigStore
from queuectl.core.db import DatabaseError, DataError, Store, describe_db_error
from queuectl.core.execution import JobRun, Tick
from queuectl.core.host import create_time, host_id
from queuectl.core.jobcgroup import SlotCgroup, WorkerCgroup
from queuectl.core.maintenance import MAINTENANCE_INTERVAL_S, run_maintenance
from queuectl.core.queue import Finish, FinishResult, JobQueue
from queuectl.core.records import ClaimedJob
from queuectl.core.registry import Control, WorkerRegistry, new_worker_id
from queuectl.core.results import ClaimLost, Fenced, Refused
from queuectl.core.settings import Settings
from queuectl.core.wake import PgListener, WakeSocket
from queuectl.core.watchdog import Watchdog

log = logging.getLogger("queuectl.worker")

HEARTBEAT_INTERVAL = 0.5  # stop and cancel requests reach a worker within this
UPKEEP_INTERVAL_S = 1.0  # settings changes reach a worker within this; stray claims are released
STORE_RETRY_MAX = 30.0
T = TypeVar("T")
_STORE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, sqlite3.Error)


def _with_driver_errors(store: Store) -> None:
    """On PostgreSQL a driver error the store did not wrap (a LISTEN connection polled after a cut)
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
    if isinstance(exc, (DataError, sqlite3.DataError)) or "out of range" in text or "too big" in text:
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
        slots: int = 1,
    ) -> None:
        self.store = store
        _with_driver_errors(store)
        self.id = worker_id or new_worker_id()
        self.queues = list(queues) if queues else None
        self.burst = burst
        self.clock = clock
        self.slots = max(1, slots)
        self.queue = JobQueue(store, clock)
        self.registry = WorkerRegistry(store, clock)
        self.config = ConfigStore(store)
        self.host = host_id()
        self.settings: Settings = Settings()
        self.stop_requested = False
        self.force = False
        self._signals = 0
        self._runs: dict[int, JobRun] = {}  # slot number -> the run in it (ended ones until recorded)
        self._slot_cgroups: dict[int, SlotCgroup | None] = {}
        self._last_beat_ok = time.monotonic()  # when the last heartbeat that reached the store began
        self._beat_failures = 0
        self._cancel_hint: str | None = None  # the worker row's cancel_job_id at the last heartbeat
        self._next_beat = 0.0
        self._next_poll = 0.0
        self._next_upkeep = 0.0
        self._next_maintenance = 0.0  # the first at once: a worker started after a crash recovers its jobs
        self._store_retry_at = 0.0  # after a store error with runs to watch: when to try again
        self._store_delay = 0.1
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
        """Run a store call, backing off (capped) while the store is busy, full or unreachable.
        Only while no job runs: a run must stay watched (see `_store_failed`)."""
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

    def _store_failed(self, what: str, exc: BaseException) -> None:
        """A store call failed while runs are watched: try again after a back-off, without blocking."""
        log.warning("store error while %s: %s; retrying in %.1fs", what, describe_db_error(exc, self.store),
                    self._store_delay)
        self._reset_connection()
        self._store_retry_at = time.monotonic() + self._store_delay
        self._store_delay = min(self._store_delay * 2, STORE_RETRY_MAX)

    def _store_ok(self) -> None:
        self._store_delay = 0.1

    def _reset_connection(self) -> None:
        """After a PostgreSQL error the connection may be cut or stuck: the next call opens a new one."""
        if not self.store.is_sqlite:
            try:
                self.store.close()
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
                    self.id, self.host, os.getpid(), created, self.queues, self._wake.address if self._wake else None,
                    slots=self.slots,
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
        log.info("worker %s started (pid %d, host %s, %d slot%s, queues %s, jobs contained by %s)", self.id,
                 os.getpid(), self.host, self.slots, "" if self.slots == 1 else "s",
                 ",".join(self.queues) if self.queues else "all",
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
        look = True  # look for work now: at start, when woken, when the poll is due
        try:
            while True:
                self._beat_if_due()
                self._upkeep_if_due()
                self._act_on_force_and_fence()
                ended = [slot for slot, run in self._runs.items() if run.done]
                free = self.slots - len(self._runs) + len(ended)
                # a finish claims for the slot it frees in the same transaction, as does a due poll
                due = look or bool(ended) or time.monotonic() >= self._next_poll
                want = free if not self.stop_requested and due else 0
                claimed: list[ClaimedJob] | None = None
                if (ended or want) and time.monotonic() >= self._store_retry_at:
                    claimed, recorded = self._record_and_claim(ended, want)
                    if claimed is not None and want:
                        self._next_poll = time.monotonic() + self.settings.poll_interval
                        look = False
                        self._start(claimed)
                    # after the spawns: the new jobs' shells start while this is logged
                    for run, finished in recorded:
                        self._recorded(run, finished)
                self._record_starts()
                if not self._runs and (self.stop_requested or (self.burst and claimed == [])):
                    break
                look = self._wait() or look
        except StopWorker:
            for run in self._runs.values():
                run.kill_now()
            raise

    # ── slots ────────────────────────────────────────────────────────────────────────────────

    def _slot_cgroup(self, slot: int) -> SlotCgroup | WorkerCgroup | None:
        """Where a slot's job runs: the worker's own cgroup for a one-slot worker (see jobcgroup.py)."""
        if self._cgroup is None or self.slots == 1:
            return self._cgroup
        if slot not in self._slot_cgroups:
            self._slot_cgroups[slot] = self._cgroup.slot(slot)
        return self._slot_cgroups[slot]

    def _start(self, claimed: list[ClaimedJob]) -> None:
        """Start each claimed job in a free slot (the claim asked for no more than there are)."""
        free = [slot for slot in range(self.slots) if slot not in self._runs]
        for job, slot in zip(claimed, free, strict=False):
            self._runs[slot] = JobRun(job, worker_id=self.id, host=self.host, settings=self.settings,
                                      clock=self.clock, cgroup=self._slot_cgroup(slot), slot=slot)
        if len(claimed) > len(free):
            # A claim that returned more jobs than asked (a PostgreSQL plan once re-ran the claim's
            # sub-select): hand the extras back now rather than hold them unrun until maintenance.
            log.error("claimed %d jobs for %d free slots; giving back the rest", len(claimed), len(free))
            try:
                self.queue.release_stray_claims(self.id, {run.job.id for run in self._runs.values()})
            except _STORE_ERRORS as exc:
                self._store_failed("giving back extra claims", exc)

    def _record_starts(self) -> None:
        """Record as under way the runs that outlived the quick-job wait (one transaction for all)."""
        due = [run for run in self._runs.values() if run.needs_recording()]
        if not due or time.monotonic() < self._store_retry_at:
            return
        try:
            numbers = self.queue.start_runs(self.id, [(run.job, run.run_start()) for run in due])
        except _STORE_ERRORS as exc:
            self._store_failed("recording a run", exc)
            return
        self._store_ok()
        for run, number in zip(due, numbers, strict=True):
            run.recorded(number)
            assert run.proc is not None
            log.info("job %s attempt %d running (pid %d, slot %d)", run.job.id, run.job.attempts, run.proc.pid,
                     run.slot)

    def _record_and_claim(
        self, ended: list[int], want: int,
    ) -> tuple[list[ClaimedJob] | None, list[tuple[JobRun, FinishResult]]]:
        """Record the runs in `ended` slots and claim up to `want` jobs, in one transaction: the
        claimed jobs (None when the store failed: the ended runs stay, to be recorded later) and
        the runs recorded, with what the store made of them, for `_recorded`."""
        runs = [self._runs[slot] for slot in ended]
        if self._fenced():
            for run in runs:  # frozen (SIGSTOP) while it ran: the watchdog may have killed it
                run.fence_ended(self._fence_silence(run.job))
        finishes = [Finish(run.job, run.run, run.result(), run.output, run.output_bytes, run.ended_at)
                    for run in runs]
        if not self._runs_watched(ended):
            # nothing else to watch: wait out an outage here, as before slots
            def attempt() -> tuple[list[FinishResult], list[ClaimedJob]]:
                return self._finish_many(finishes, want)

            try:
                done, claimed = self._retrying("recording a result" if finishes else "claiming a job", attempt,
                                               give_up_on_stop=self._may_give_up(finishes))
            except StopWorker:
                if finishes:
                    raise
                return [], []
        else:
            try:
                done, claimed = self._finish_many(finishes, want)
            except _STORE_ERRORS as exc:
                self._store_failed("recording a result" if finishes else "claiming a job", exc)
                return None, []
        self._store_ok()
        for slot in ended:
            del self._runs[slot]
        return claimed, list(zip(runs, done, strict=True))

    def _runs_watched(self, ended: list[int]) -> bool:
        """Whether any run other than those in `ended` is still under way."""
        return len(self._runs) > len(ended)

    def _may_give_up(self, finishes: list[Finish]) -> bool:
        """A fenced-off run's result is worth nothing to others (they recover the job after
        worker_timeout), so a stop request ends the retries of an outage instead of waiting."""
        if not finishes:
            return True
        return all(isinstance(f.result, (Fenced, ClaimLost)) for f in finishes) or self.force

    def _finish_many(self, finishes: list[Finish], want: int) -> tuple[list[FinishResult], list[ClaimedJob]]:
        try:
            return self.queue.finish_many_and_claim(self.id, finishes, self.settings, claim=want, queues=self.queues)
        except _STORE_ERRORS as exc:
            if not _never_passes(exc):
                raise
        # Retrying the same values would fail for ever (and stall the worker): each run alone, and
        # one the store refuses ends failed, without the output it refused.
        self._reset_connection()
        done = [self._finish_refusable(f) for f in finishes]
        return done, self.queue.claim_many(self.id, self.queues, want) if want else []

    def _finish_refusable(self, f: Finish) -> FinishResult:
        try:
            return self.queue.finish(f.job, self.id, f.run, f.result, self.settings, output=f.output,
                                     output_bytes=f.output_bytes, finished_at=f.finished_at)
        except _STORE_ERRORS as exc:
            if not _never_passes(exc):
                raise
            refused = describe_db_error(exc, self.store)
            log.error("job %s attempt %d: the store refuses its result (%s); recorded as failed without its "
                      "output", f.job.id, f.job.attempts, refused)
            return self.queue.finish(f.job, self.id, f.run, Refused(f.result, refused), self.settings,
                                     finished_at=f.finished_at)

    def _recorded(self, run: JobRun, done: FinishResult) -> None:
        job = run.job
        if run.kept_leftovers and self._watchdog is not None:
            self._watchdog.keep(job.id, job.attempts)  # not killed if this worker dies later
        if done.state is None:
            if not isinstance(run.result(), ClaimLost):  # a lost claim was logged when it was found
                log.warning("job %s attempt %d: the store no longer records this run as this worker's (recovered "
                            "as lost, cancelled, or the job was changed); result not recorded", job.id, job.attempts)
        else:
            log.info("job %s attempt %d: %s", job.id, job.attempts, done.state)
        if self._cancel_hint == job.id:  # tidy the worker row; the job row's flag is what counts
            try:
                self.registry.clear_cancel(self.id, job.id)
                self._cancel_hint = None
            except _STORE_ERRORS as exc:
                log.warning("store error while clearing a cancel request: %s", describe_db_error(exc, self.store))
                self._reset_connection()

    # ── waiting ──────────────────────────────────────────────────────────────────────────────

    def _wait(self) -> bool:
        """Wait for a run's output or end, a wake-up, the next poll, heartbeat or deadline; True when woken."""
        if any(run.done for run in self._runs.values()) and time.monotonic() >= self._store_retry_at:
            return False  # an ended run to record now
        times = [self._next_beat, self._next_upkeep]
        free = len(self._runs) < self.slots and not self.stop_requested
        if free:
            times.append(self._next_poll)
        if self._store_retry_at > time.monotonic():
            times.append(self._store_retry_at)
        by_fd: dict[int, JobRun] = {}
        due_at: dict[JobRun, float] = {}
        for run in self._runs.values():
            wake = run.wake_at()
            if wake is not None:
                times.append(wake)
                due_at[run] = wake
            for fd in run.fds():
                by_fd[fd] = run
        timeout = max(0.0, min(times) - time.monotonic())
        hints: list = [w for w in (self._wake, self._listen() if free else None) if w is not None]
        waits = [*by_fd, *hints]
        if not waits:
            time.sleep(timeout)
            ready: list = []
        else:
            ready, _, _ = select.select(waits, [], [], timeout)
        woken = False
        touched: set[JobRun] = set()
        ready_fds = set()
        for source in ready:
            if isinstance(source, int):
                ready_fds.add(source)
                touched.add(by_fd[source])
                continue
            try:
                source.drain()
                woken = True
            except Exception:  # the PostgreSQL connection broke: listen again next time
                self._listener = None
        now = time.monotonic()
        for run in self._runs.values():
            if run in touched or due_at.get(run, now + 1) <= now:
                run.service(ready_fds)
        return woken

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

    # ── heartbeat, upkeep, maintenance ───────────────────────────────────────────────────────

    def _beat_if_due(self) -> None:
        """Heartbeat when due, and act on what it says (stop, force, cancel, a lost claim).

        While jobs run a failed heartbeat is not retried in place: the worker must go on watching
        them, and kill them once no heartbeat has succeeded for `fence_after`."""
        if time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + HEARTBEAT_INTERVAL
        if self.store.replaced_or_deleted():
            # SQLite keeps writing to the unlinked file: nothing this worker does would be seen.
            log.error("the store %s was deleted or replaced; this worker stops (start it again)", self.store.path)
            self.stop_requested = True
            raise StopWorker()
        began = time.monotonic()
        if self._runs:
            try:
                control = self.registry.heartbeat(self.id)
            except _STORE_ERRORS as exc:
                self._beat_failures += 1
                if self._beat_failures == 1 or self._beat_failures % 20 == 0:
                    log.warning("store error while sending a heartbeat: %s (none reached the store for %.1fs)",
                                describe_db_error(exc, self.store), time.monotonic() - self._last_beat_ok)
                self._reset_connection()
                return
        else:
            control = self._retrying("sending a heartbeat", lambda: self.registry.heartbeat(self.id),
                                     give_up_on_stop=True)
        self._obey(control, began)

    def _obey(self, control: Control, began: float) -> None:
        """Everything a heartbeat reply asks, in one place."""
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
        self._check_runs()

    def _check_runs(self) -> None:
        """Ask the store about every run under way (one query): kill those no longer ours or
        cancelled; then save what they printed since the last heartbeat."""
        live = {run.job.id: run for run in self._runs.values() if not run.done}
        if not live:
            return
        try:
            holdings = self.queue.holdings(self.id, {job_id: run.job.attempts for job_id, run in live.items()})
        except _STORE_ERRORS as exc:
            log.warning("store error while checking the running jobs: %s", describe_db_error(exc, self.store))
            self._reset_connection()
            holdings = {}
        for job_id, run in live.items():
            holding = holdings.get(job_id)
            if holding is None:
                run.hear(Tick(force=self.force))
            else:
                run.hear(Tick(force=self.force, held=holding.held, why_not=holding.why_not,
                              cancel=holding.cancel_requested))
        for run in live.values():
            new = run.unsaved_output()
            if new is None or run.claim_lost or not isinstance(run.run, int):
                continue
            # tried once, like the heartbeat: the job must stay watched during an outage
            try:
                self.queue.save_output(run.job.id, run.run, new[0], new[1], self.id, keep=run.settings.log_max_bytes)
                run.output_saved(new[1])
            except _STORE_ERRORS as exc:
                log.warning("store error while saving the output of job %s: %s", run.job.id,
                            describe_db_error(exc, self.store))
                if _never_passes(exc):
                    run.output_saved(new[1])  # not again until it changes
                else:
                    self._reset_connection()

    def _act_on_force_and_fence(self) -> None:
        """A forced stop (a second signal, or through the store) interrupts every slot; a worker
        silent past the fencing interval kills every slot's job."""
        if not self._runs:
            return
        if self.force:
            for run in self._runs.values():
                run.hear(Tick(force=True))
        if self._fenced():
            for run in self._runs.values():
                if not run.done and not run.killing:
                    run.hear(Tick(fenced_for=self._fence_silence(run.job)))

    def _upkeep_if_due(self) -> None:
        """This worker's own chores (settings reload, stray claims) and the store-wide maintenance,
        each on its own cadence rather than at every heartbeat."""
        now = time.monotonic()
        if now >= self._next_upkeep:
            self._next_upkeep = now + UPKEEP_INTERVAL_S
            try:
                self._apply_settings(self.config.settings())
                held = {run.job.id for run in self._runs.values()}
                for job_id in self.queue.release_stray_claims(self.id, held):
                    log.warning("job %s was claimed by this worker but never started (lost reply); released", job_id)
            except _STORE_ERRORS as exc:
                log.warning("store error during upkeep: %s", describe_db_error(exc, self.store))
                self._reset_connection()
        if now >= self._next_maintenance:
            # jittered, so the workers of a host drift apart instead of all rescuing at one moment
            self._next_maintenance = now + MAINTENANCE_INTERVAL_S * random.uniform(0.75, 1.25)
            if run_maintenance(self.store, self.settings, self.clock.now(), worker_id=self.id, clock=self.clock,
                               queue=self.queue, registry=self.registry):
                self._reset_connection()

    def _fenced(self) -> bool:
        return time.monotonic() - self._last_beat_ok > self.fence_after

    def _fence_silence(self, job: ClaimedJob) -> float:
        """Seconds without a heartbeat in the store, logged as the reason this worker kills `job`."""
        silent = time.monotonic() - self._last_beat_ok
        log.error("job %s attempt %d: no heartbeat reached the store for %.1fs (fencing interval %gs; other "
                  "workers recover it after worker_timeout %gs); killed it", job.id, job.attempts, silent,
                  self.fence_after, self.settings.worker_timeout)
        return silent
