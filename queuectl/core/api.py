"""The one door front ends go through: the CLI, the TUI and the web view call this, never the parts.

Each operation a person starts is one method here, with its policy: a job made due wakes the workers;
a cancel can wait for the kill; waiting and following recover the workers of this host that died
meanwhile. Written once, these cannot drift between front ends (before this module the CLI and the
TUI each had a copy of the wake policy and of what counts as a live worker, and the copies differed).
The front ends parse, call and print; no SQL and no JobQueue, registry or supervisor outside the core.

Opening is cheap: the store is opened (and migrated) on first use; the heavy modules (the worker
loop, psutil, the metrics reader) are imported by the methods that need them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.states import CLAIMABLE, FINISHED, JobState

# The records and views are named only as annotations here and imported by the methods that build one:
# `enqueue` builds none, `status` only the overview's (start-up, issue 15).
if TYPE_CHECKING:
    from queuectl.core.config import ConfigStore
    from queuectl.core.db import Store
    from queuectl.core.health import Health
    from queuectl.core.hooks import QueueHooks
    from queuectl.core.metrics import MetricsReader
    from queuectl.core.overview import Counts, QueueStatus, Unserved, WorkerCounts, WorkerInfo
    from queuectl.core.process_stats import ProcessStats
    from queuectl.core.queue import Enqueued, JobQueue
    from queuectl.core.queues import QueueInfo, QueueRow
    from queuectl.core.records import JobRecord, RunOutput, RunRecord, WaitingReason
    from queuectl.core.registry import WorkerRegistry
    from queuectl.core.rescue import Rescued
    from queuectl.core.schedules import Schedule
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec
    from queuectl.core.stats import Stats
    from queuectl.core.views import JobDetail, SettingsView

CANCEL_WAIT_MARGIN_S = 3.0  # past kill_grace: the worker's heartbeat, the kill, the finish being written
RECOVER_EVERY_S = 1.0  # how often a wait or a follow looks for workers of this host that died
WAIT_POLL_S = 0.1
FOLLOW_POLL_S = 0.2


class Api:
    """One store, seen through the operations a person can ask for.

    `on_rescued` hears of workers of this host found dead (and recorded lost, their jobs recovered)
    by `recover_dead_workers`, which reads and waits call; the CLI says so on stderr.
    """

    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK, *,
                 on_rescued: Callable[[list[Rescued]], None] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.on_rescued = on_rescued
        self._queue: JobQueue | None = None
        self._config: ConfigStore | None = None
        self._registry: WorkerRegistry | None = None

    @classmethod
    def open(cls, url: str | None, clock: Clock = SYSTEM_CLOCK, *, durable: bool = True, migrate: bool = True,
             on_rescued: Callable[[list[Rescued]], None] | None = None) -> Api:
        """Open (creating and migrating unless `migrate` is False) the store at `url` (None: the default)."""
        from queuectl.core.store import open_store

        return cls(open_store(url, durable=durable, migrate=migrate), clock, on_rescued=on_rescued)

    def close(self) -> None:
        self.store.close()

    @property
    def url(self) -> str:
        return self.store.url

    # The parts, made on first use: `enqueue` needs neither the registry nor (often) the config.
    @property
    def _jobs(self) -> JobQueue:
        if self._queue is None:
            from queuectl.core.queue import JobQueue

            self._queue = JobQueue(self.store, self.clock)
        return self._queue

    @property
    def _settings(self) -> ConfigStore:
        if self._config is None:
            from queuectl.core.config import ConfigStore

            self._config = ConfigStore(self.store)
        return self._config

    @property
    def _workers(self) -> WorkerRegistry:
        if self._registry is None:
            from queuectl.core.registry import WorkerRegistry

            self._registry = WorkerRegistry(self.store, self.clock)
        return self._registry

    def _wake(self) -> None:
        from queuectl.core.wake import wake_workers

        try:
            wake_workers(self.store)
        except Exception:
            pass  # only a hint: workers poll anyway

    def recover_dead_workers(self) -> list[Rescued]:
        """A worker of this host whose process is gone is declared lost and its jobs recovered now
        (README: "A worker that dies"), instead of after worker_timeout."""
        from queuectl.core.rescue import recover_dead_local_workers

        rescued = recover_dead_local_workers(self.store)
        if rescued and self.on_rescued is not None:
            self.on_rescued(rescued)
        return rescued

    # ── adding and changing jobs ─────────────────────────────────────────────────────────────

    def enqueue(self, specs: Sequence[JobSpec], *, default_cwd: str | None = None,
                now: float | None = None) -> list[Enqueued]:
        """Add jobs (all or none); wakes the workers when one of them is due now. One `Enqueued` (id,
        and whether a job holding its unique key was there already) per spec."""
        now = self.clock.now() if now is None else now
        added = self._jobs.enqueue_jobs(specs, self._settings.settings(), default_cwd=default_cwd, now=now)
        if any(s.run_at is None or s.run_at <= now for s in specs):
            self._wake()
        return added

    def enqueue_fields(self, fields: Mapping[str, object], default_cwd: str) -> str:
        """One job from form fields, validated exactly as the CLI validates a JSON job."""
        from queuectl.core.specs import spec_from_mapping

        now = self.clock.now()
        return self.enqueue([spec_from_mapping(dict(fields), now)], default_cwd=default_cwd, now=now)[0].id

    def retry(self, job_ids: Sequence[str], *, force: bool = False, only_dead: bool = False) -> list[str]:
        ids = self._jobs.retry(job_ids, force=force, only_dead=only_dead)
        self._wake()
        return ids

    def retry_all_dead(self) -> int:
        n = self._jobs.retry_all_dead()
        self._wake()
        return n

    def cancel(self, job_ids: Sequence[str], *, wait: bool = False) -> dict[str, str]:
        """Cancel jobs; each id's state after the call. With `wait`, a running job's kill is waited
        for (up to kill_grace and a margin): it then reads cancelled, or processing if still dying."""
        result = {k: str(v) for k, v in self._jobs.cancel(job_ids).items()}
        running = [j for j, s in result.items() if s == JobState.PROCESSING]
        if running and wait:
            deadline = time.monotonic() + self._settings.settings().kill_grace + CANCEL_WAIT_MARGIN_S
            while running and time.monotonic() < deadline:
                time.sleep(0.05)
                for job_id in list(running):
                    state = self._jobs.get(job_id).state
                    if state != JobState.PROCESSING:
                        result[job_id] = state
                        running.remove(job_id)
        return result

    def hold(self, job_ids: Sequence[str]) -> list[str]:
        """Keep waiting jobs from running until released."""
        return self._jobs.hold(job_ids)

    def release(self, job_ids: Sequence[str]) -> list[str]:
        ids = self._jobs.release_held(job_ids)
        self._wake()
        return ids

    def start_now(self, job_ids: Sequence[str]) -> list[str]:
        """Make waiting jobs due now (a back-off, a later run_at and a hold skipped)."""
        ids = self._jobs.start(job_ids)
        self._wake()
        return ids

    def edit(self, job_id: str, changes: Mapping[str, object]) -> JobRecord:
        """Change a job that has not started; it may be due now."""
        job = self._jobs.edit(job_id, changes)
        self._wake()
        return job

    def delete(self, job_ids: Sequence[str], *, only_dead: bool = False) -> list[str]:
        return self._jobs.delete(job_ids, only_dead=only_dead)

    def purge(self, states: Iterable[JobState], older_than: float | None = None) -> int:
        return self._jobs.purge(states, older_than)

    def set_paused(self, paused: bool) -> None:
        """Pause (no new claims) or resume; a resume wakes the workers."""
        self._settings.set_paused(paused)
        if not paused:
            self._wake()

    def toggle_pause(self) -> bool:
        paused = not self._settings.is_paused()
        self.set_paused(paused)
        return paused

    # ── reading jobs ─────────────────────────────────────────────────────────────────────────

    def job(self, job_id: str) -> JobRecord:
        return self._jobs.get(job_id)

    def jobs(self, job_ids: Sequence[str]) -> list[JobRecord]:
        """The jobs with these ids, in the order given (unknown ids left out)."""
        return self._jobs.get_many(job_ids)

    def runs(self, job_id: str) -> list[RunRecord]:
        return self._jobs.runs(job_id)

    def output(self, job_id: str, number: int | None = None) -> RunOutput | None:
        return self._jobs.output(job_id, number)

    def list_jobs(self, state: JobState | None = None, queue: str | None = None, *, limit: int = 50,
                  offset: int = 0, search: str | None = None, run_order: bool = False,
                  label: str | None = None, sort: str | None = None, descending: bool = True) -> list[JobRecord]:
        return self._jobs.list_jobs(state=state, queue=queue, limit=limit, offset=offset, search=search,
                                    run_order=run_order, label=label, sort=sort, descending=descending)

    def finished_per_minute(self, since: float) -> list[tuple[int, int, int]]:
        """(minute from `since`, completed, failed) for the runs that ended since `since`."""
        return self._jobs.finished_per_minute(since)

    def finished_per_queue_minute(self, since: float, until: float) -> list[tuple[str, int, int, int]]:
        """(queue, minute from `since`, completed, failed) for the runs that ended in [since, until)."""
        return self._jobs.finished_per_queue_minute(since, until)

    def last_output_lines(self, job_ids: Sequence[str]) -> dict[str, str]:
        """The last non-empty line each job's latest run printed (not cleaned for a terminal)."""
        return self._jobs.last_output_lines(job_ids)

    def iter_jobs(self, state: JobState | None = None, queue: str | None = None, *,
                  run_order: bool = False, label: str | None = None) -> Iterator[JobRecord]:
        return self._jobs.iter_jobs(state=state, queue=queue, run_order=run_order, label=label)

    def count_jobs(self, state: JobState | None = None, queue: str | None = None, label: str | None = None) -> int:
        return self._jobs.count_jobs(state=state, queue=queue, label=label)

    def counts(self) -> Counts:
        from queuectl.core.counts import job_counts

        return job_counts(self.store)

    def finished_since(self, since: float) -> int:
        return self._jobs.finished_since(since)

    def unserved_due_queue(self, workers: Sequence[WorkerInfo]) -> str | None:
        """The queue of a due job that none of these workers' running ones would claim (None: none)."""
        running = [w for w in workers if w.state == "running"]
        served = None if any(not w.queues for w in running) else sorted({q for w in running for q in w.queues or ()})
        return self._jobs.unserved_due_queue(served)

    def detail(self, job_id: str, run_number: int | None = None, *, seen: tuple[int, int] | None = None,
               output: bool = True) -> JobDetail:
        """The job, its runs, why it waits, what it runs after, and (`output`) the output of run
        `run_number` (default: the latest). When that run's (number, output bytes) is still `seen`,
        its output (up to a megabyte) is not read again."""
        from queuectl.core.views import JobDetail
        from queuectl.core.why import why_waiting

        job = self._jobs.get(job_id)
        runs = self._jobs.runs(job_id)
        after = tuple(self._jobs.dependencies([job_id]).get(job_id, ()))
        extra = {"waiting": why_waiting(self._jobs, job), "after": after}
        if not output:
            return JobDetail(job, runs, None, **extra)
        if run_number is None:
            target = runs[-1] if runs else None
        else:
            target = next((r for r in runs if r.number == run_number), None)
        if target is not None and seen == (target.number, target.output_bytes):
            return JobDetail(job, runs, None, output_unchanged=True, **extra)
        return JobDetail(job, runs, self._jobs.output(job_id, run_number), **extra)

    def waiting_reasons(self, jobs: Sequence[JobRecord], workers: Sequence[WorkerInfo]) -> dict[str, WaitingReason]:
        """Why each waiting job of `jobs` waits (the others left out), `workers` as listed already."""
        from queuectl.core.why import load_wait_context, waiting_reason

        if not any(job.state in CLAIMABLE for job in jobs):
            return {}
        context = load_wait_context(self._jobs, jobs, workers=workers)
        return {job.id: reason for job in jobs if (reason := waiting_reason(job, context)) is not None}

    def dependencies(self, job_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """For each of `job_ids` that runs after other jobs: (their id, their state)."""
        return self._jobs.dependencies(job_ids)

    def complete_job_ids(self, prefix: str, limit: int = 50) -> list[str]:
        """Ids starting with `prefix`, for shell completion."""
        return self._jobs.ids_starting_with(prefix, limit)

    def status(self) -> QueueStatus:
        from queuectl.core.counts import job_counts
        from queuectl.core.overview import QueueStatus, WorkerCounts

        counts = job_counts(self.store)  # not through JobQueue: `status` does not import the state machine
        return QueueStatus(counts, WorkerCounts.of(self.workers()), self._settings.is_paused())

    def unserved(self, queues: Iterable[str]) -> Unserved | None:
        """Why jobs of `queues` would wait now (None: a live worker serves each and nothing is paused)."""
        from queuectl.core.overview import Unserved

        queues = set(queues)
        if not queues:
            return None
        serving = [w for w in self.workers() if w.state == "running"]
        unserved = tuple(sorted(q for q in queues if not any(w.queues is None or q in w.queues for w in serving)))
        if not serving or unserved:
            return Unserved(no_workers=not serving, queues=unserved, paused=False)
        if self._settings.is_paused():
            return Unserved(no_workers=False, queues=(), paused=True)
        return None

    def wait(self, job_ids: Sequence[str], timeout: float | None = None,
             on_progress: Callable[[int], None] | None = None) -> dict[str, str]:
        """Block until every job has finished (or `timeout` passes); each id's last state.

        Unknown ids fail at once (JobNotFound). Every RECOVER_EVERY_S, a worker of this host that
        died is recorded lost, so its jobs go on (retry or DLQ) instead of waiting for worker_timeout.
        `on_progress(finished)` hears how many have finished, at each poll."""
        ids = list(dict.fromkeys(job_ids))
        for job_id in ids:
            self._jobs.get(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        recheck = time.monotonic() + RECOVER_EVERY_S
        while True:
            if time.monotonic() >= recheck:
                self.recover_dead_workers()
                recheck = time.monotonic() + RECOVER_EVERY_S
            states = {job_id: str(self._jobs.get(job_id).state) for job_id in ids}
            done = sum(1 for s in states.values() if s in FINISHED)
            if on_progress is not None:
                on_progress(done)
            if done == len(ids) or (deadline is not None and time.monotonic() >= deadline):
                return states
            time.sleep(WAIT_POLL_S)

    def waiting_or_running(self, queue: str | None = None) -> list[str]:
        """The ids of every job waiting or running now (of one queue if named): a bare `wait`'s jobs."""
        from queuectl.core.waiting import targets

        return targets(self._jobs, queue)

    def follow(self, job_id: str, number: int | None = None, first: RunOutput | None = None) -> Iterator[bytes]:
        """A run's output as it grows, until the run ends (waiting for a first run if needed): `logs -f`.

        `first` is the output already read (its bytes are yielded first). A run whose worker died
        ends as lost (the recovery runs every RECOVER_EVERY_S), so following it ends too."""
        out = first if first is not None else self._jobs.output(job_id, number)
        while out is None:
            if self._jobs.get(job_id).state in FINISHED:
                return
            time.sleep(FOLLOW_POLL_S)
            out = self._jobs.output(job_id, number)
        printed = 0
        recheck = time.monotonic() + RECOVER_EVERY_S
        while True:
            if time.monotonic() >= recheck:
                self.recover_dead_workers()
                recheck = time.monotonic() + RECOVER_EVERY_S
            new = out.output_bytes - printed
            if new > 0:
                yield out.output[-new:] if new <= len(out.output) else out.output
                printed = out.output_bytes
            if out.finished:
                return
            time.sleep(FOLLOW_POLL_S)
            out = self._jobs.output(job_id, out.number)

    # ── workers ──────────────────────────────────────────────────────────────────────────────

    def workers(self, *, include_stopped: bool = False) -> list[WorkerInfo]:
        """Workers (live and lost; `include_stopped`: all); one silent past worker_timeout shows as lost."""
        worker_timeout = self._settings.settings().worker_timeout
        return self._workers.list(include_stopped=include_stopped, worker_timeout=worker_timeout)

    def worker_counts(self) -> WorkerCounts:
        """Alive (running or stopping, heartbeat younger than worker_timeout), busy and lost workers."""
        from queuectl.core.overview import WorkerCounts

        return WorkerCounts.of(self.workers())

    def workers_recorded_running(self) -> int:
        """Workers whose row says running or stopping, a silent one included: what may still be running
        in the background when a front end exits (rescue, not this count, decides they are lost)."""
        return len(self._workers.live())

    def process_stats(self, workers: Sequence[WorkerInfo], sample: float = 0.1) -> dict[str, ProcessStats]:
        """CPU and RSS of each local worker and its job's process tree (psutil, imported here only)."""
        from queuectl.core.process_stats import process_stats

        return process_stats(workers, sample=sample)

    def start_workers(self, count: int, queues: Sequence[str] | None = None, processes: int | None = None) -> list[str]:
        """Start `count` slots as detached workers (at most one process per core unless `processes`);
        returns once they are running."""
        from queuectl.core.supervisor import start_workers

        return start_workers(self.store, count, queues=queues or None, processes=processes)

    def stop_workers(self, worker_ids: Sequence[str] | None = None, *, force: bool = False, wait: bool = False,
                     timeout: float | None = None) -> tuple[list[str], list[str]]:
        """Ask workers (all live ones by default) to stop; (asked, still running)."""
        from queuectl.core.supervisor import stop_workers

        return stop_workers(self.store, list(worker_ids) if worker_ids else None, force=force, wait=wait,
                            timeout=timeout, clock=self.clock, on_rescued=self.on_rescued)

    def reap_started_workers(self) -> None:
        """Workers this process started and that have since stopped leave no zombie behind."""
        from queuectl.core.supervisor import reap_started_workers

        reap_started_workers()

    def run_worker(self, *, queues: Sequence[str] | None = None, burst: bool = False,
                   worker_id: str | None = None, slots: int = 1) -> int:
        """Run one worker of `slots` slots in this process until it stops (SIGTERM/SIGINT handled);
        its exit status."""
        from queuectl.core.worker import Worker

        worker = Worker(self.store, worker_id=worker_id, queues=queues or None, burst=burst, slots=slots)
        worker.install_signal_handlers()
        return worker.run()

    # ── queues ───────────────────────────────────────────────────────────────────────────────

    def _queue_table(self):  # -> QueueTable
        from queuectl.core.queues import QueueTable

        return QueueTable(self.store, self.clock)

    def queues(self) -> list[QueueInfo]:
        """Every queue: running/limit, paused, jobs per state, its oldest due job's wait."""
        return self._queue_table().list()

    def set_queue_limit(self, name: str, limit: int | str) -> QueueRow:
        row = self._queue_table().set_limit(name, limit)
        self._wake()  # a higher limit lets waiting jobs start now
        return row

    def set_queue_hooks(self, name: str, **hooks: str | None) -> QueueHooks:
        """Set (a command) or clear (None) some of a queue's hooks; the others stay."""
        from queuectl.core.hooks import set_queue_hooks

        return set_queue_hooks(self.store, name, **hooks)

    def queue_hooks(self, name: str) -> QueueHooks:
        from queuectl.core.hooks import queue_hooks

        return queue_hooks(self.store, name)

    def queue_row(self, name: str) -> QueueRow | None:
        return self._queue_table().get(name)

    # ── schedules ────────────────────────────────────────────────────────────────────────────

    def add_schedule(self, name: str, job: JobSpec, *, cron: str | None = None, tz: str | None = None,
                     every: object = None) -> Schedule:
        """A new schedule of `job`'s fields at each slot of `cron` (in `tz`) or `every`; its first slot
        is the first one after now (workers enqueue the slots). Checked here: one door for the rules."""
        from queuectl.core.schedules import add_schedule, schedule_spec

        spec = schedule_spec(name, job, cron=cron, tz=tz, every=every)
        return add_schedule(self.store, spec, self.clock.now())

    def schedules(self) -> list[Schedule]:
        """Every schedule with its next and last run (the TUI's Schedules tab reads this)."""
        from queuectl.core.schedules import list_schedules

        return list_schedules(self.store)

    def schedule(self, name: str) -> Schedule:
        from queuectl.core.schedules import get_schedule

        return get_schedule(self.store, name)

    def remove_schedules(self, names: Sequence[str]) -> list[str]:
        """Delete schedules, all or none (an unknown name changes nothing); their jobs stay."""
        from queuectl.core.schedules import get_schedule, remove_schedule

        names = list(dict.fromkeys(names))
        for name in names:
            get_schedule(self.store, name)
        for name in names:
            remove_schedule(self.store, name)
        return names

    def pause_schedule(self, name: str) -> Schedule:
        from queuectl.core.schedules import pause_schedule

        return pause_schedule(self.store, name, self.clock.now())

    def resume_schedule(self, name: str) -> Schedule:
        from queuectl.core.schedules import resume_schedule

        return resume_schedule(self.store, name, self.clock.now())

    def run_schedule_now(self, name: str) -> str:
        """Enqueue one job of the schedule now (its slots go on as before); the new job's id."""
        from queuectl.core.schedules import run_schedule_now

        job_id = run_schedule_now(self.store, name, self.clock.now(), self._settings.settings(), self._jobs)
        self._wake()
        return job_id

    def pause_queue(self, name: str) -> QueueRow:
        return self._queue_table().pause(name)

    def resume_queue(self, name: str) -> QueueRow:
        row = self._queue_table().resume(name)
        self._wake()
        return row

    # ── settings ─────────────────────────────────────────────────────────────────────────────

    def settings(self) -> Settings:
        return self._settings.settings()

    def settings_view(self) -> SettingsView:
        from queuectl.core.views import SettingsView

        config = self._settings
        return SettingsView(config.settings(), config.is_paused(), frozenset(config.overridden()))

    def set_setting(self, key: str, raw: str | int | float) -> tuple[str, int | float]:
        """Change a setting (key with - or _); (its name, the value stored). InvalidSetting otherwise."""
        return self._settings.set(key, raw)

    def reset_setting(self, key: str) -> str:
        return self._settings.reset(key)

    # ── health and numbers ───────────────────────────────────────────────────────────────────

    def health(self, workers_needed: int = 0, queue: str | None = None) -> Health:
        from queuectl.core.health import check

        return check(self.store, workers_needed, queue, self.clock)

    def stats(self, window: float) -> Stats:
        from queuectl.core.stats import compute_stats

        return compute_stats(self.store, self.clock.now(), window)

    def metrics_reader(self, window: float) -> MetricsReader:
        from queuectl.core.metrics import MetricsReader

        return MetricsReader(self.store, window)

    def describe_error(self, error: BaseException) -> str:
        """A store error (locked, corrupt, unreachable…) as one line naming this store."""
        from queuectl.core.db import describe_db_error

        return describe_db_error(error, self.store)

    def where(self) -> str:
        """The store's file, or its URL with any password hidden."""
        from queuectl.core.db import redact

        return str(self.store.path) if self.store.path is not None else redact(self.store.url)


def store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a broken store raises (for a front end to report as "the store does not answer")."""
    from queuectl.core.db import store_errors

    return store_errors()


def describe_store_error(error: BaseException, api: Api | None = None) -> str:
    """A store error as one line, naming the store when one was opened."""
    from queuectl.core.db import describe_db_error

    return describe_db_error(error, api.store if api is not None else None)
