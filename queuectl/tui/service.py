"""The TUI's one door to the core: every read and every action, no SQL of its own.

Called from thread workers; Peewee gives each thread its own connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store
from queuectl.core.errors import InvalidInput
from queuectl.core.queue import JobQueue
from queuectl.core.records import JobRecord, RunOutput, RunRecord
from queuectl.core.registry import WorkerRegistry
from queuectl.core.specs import spec_from_mapping
from queuectl.core.states import CLAIMABLE, JobState
from queuectl.core.store import open_store
from queuectl.core.why import WaitingReason, load_wait_context, waiting_reason, why_waiting
from queuectl.tui.viewmodel import JobFilter, QueueSnapshot


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: JobRecord
    runs: list[RunRecord]
    output: RunOutput | None  # None: no run yet, or unchanged since `seen`
    output_unchanged: bool = False
    waiting: WaitingReason | None = None  # why it waits (None: it does not)
    after: tuple[tuple[str, str], ...] = ()  # the jobs it runs after, with their states


class QueueService:
    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK, *, process_stats: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.queue = JobQueue(store, clock)
        self.config = ConfigStore(store)
        self.registry = WorkerRegistry(store, clock)
        self.process_stats = process_stats

    @classmethod
    def open(cls, url: str | None, clock: Clock = SYSTEM_CLOCK, **kw: bool) -> QueueService:
        return cls(open_store(url), clock, **kw)

    # ── reading ──────────────────────────────────────────────────────────────────────────────

    def snapshot(self, job_filter: JobFilter, page_size: int, panes: frozenset[str] | None = None) -> QueueSnapshot:
        """Everything the app shows; the Jobs page and the DLQ only when `panes` (default: all)
        has them, as a tab not on screen is not drawn."""
        from queuectl.core.rescue import recover_dead_local_workers
        from queuectl.core.supervisor import reap_started_workers

        reap_started_workers()  # workers started here and since stopped leave no zombie behind
        recover_dead_local_workers(self.store)  # a worker of this host that died is lost now, not in 30 s
        now = self.clock.now()
        settings = self.config.settings()
        workers = self.registry.list(worker_timeout=settings.worker_timeout)
        stats = {}
        if self.process_stats:
            from queuectl.core.process_stats import process_stats

            stats = process_stats(workers, sample=0)
        counts = self.queue.counts()
        running = [w for w in workers if w.state == "running"]
        served = None if any(not w.queues for w in running) else sorted({q for w in running for q in w.queues or ()})
        unserved = self.queue.unserved_due_queue(served) if counts["pending"] or counts["failed"] else None
        jobs = [] if panes is not None and "jobs" not in panes else self.queue.list_jobs(
            state=job_filter.state, search=job_filter.search or None, limit=page_size,
            offset=job_filter.page * page_size,
        )
        waiting = {}
        if any(job.state in CLAIMABLE for job in jobs):
            context = load_wait_context(self.queue, jobs, workers=workers)
            waiting = {job.id: reason for job in jobs if (reason := waiting_reason(job, context)) is not None}
        shows_dlq = panes is None or "dlq" in panes
        dlq = self.queue.list_jobs(state=JobState.DEAD, limit=page_size) if shows_dlq else []
        return QueueSnapshot(
            now=now, counts=counts, paused=self.config.is_paused(),
            finished_last_minute=self.queue.finished_since(now - 60), workers=workers, worker_stats=stats,
            jobs=jobs, job_filter=job_filter, page_size=page_size, waiting=waiting,
            dlq=dlq,
            settings=settings, overridden=frozenset(self.config.overridden()), unserved_queue=unserved,
            panes=panes,
        )

    def detail(self, job_id: str, run_number: int | None = None, *, seen: tuple[int, int] | None = None) -> JobDetail:
        """The job, its runs and the output of run `run_number` (default: the latest). When that run's
        (number, output bytes) is still `seen`, its output (up to a megabyte) is not read again."""
        job = self.queue.get(job_id)
        runs = self.queue.runs(job_id)
        after = tuple(self.queue.dependencies([job_id]).get(job_id, ()))
        extra = {"waiting": why_waiting(self.queue, job), "after": after}
        if run_number is None:
            target = runs[-1] if runs else None
        else:
            target = next((r for r in runs if r.number == run_number), None)
        if target is not None and seen == (target.number, target.output_bytes):
            return JobDetail(job, runs, None, output_unchanged=True, **extra)
        return JobDetail(job, runs, self.queue.output(job_id, run_number), **extra)

    # ── jobs ─────────────────────────────────────────────────────────────────────────────────

    def enqueue(self, fields: Mapping[str, object], default_cwd: str) -> str:
        """Validate form fields exactly as the CLI would and enqueue one job; InvalidInput otherwise."""
        spec = spec_from_mapping(dict(fields), self.clock.now())
        job_id = self.queue.enqueue([spec], self.config.settings(), default_cwd=default_cwd)[0]
        self._wake()
        return job_id

    def retry(self, job_ids: Sequence[str], *, only_dead: bool = False) -> list[str]:
        ids = self.queue.retry(job_ids, only_dead=only_dead)
        self._wake()
        return ids

    def retry_all_dead(self) -> int:
        n = self.queue.retry_all_dead()
        self._wake()
        return n

    def cancel(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        return self.queue.cancel(job_ids)

    def delete(self, job_ids: Sequence[str]) -> list[str]:
        return self.queue.delete(job_ids)

    def toggle_pause(self) -> bool:
        paused = not self.config.is_paused()
        self.config.set_paused(paused)
        if not paused:
            self._wake()
        return paused

    def _wake(self) -> None:
        from queuectl.core.wake import wake_workers

        try:
            wake_workers(self.store)
        except Exception:
            pass

    # ── workers and settings ─────────────────────────────────────────────────────────────────

    def start_workers(self, count: int) -> list[str]:
        from queuectl.core.supervisor import start_workers

        return start_workers(self.store, count)

    def stop_worker(self, worker_id: str, *, force: bool = False) -> list[str]:
        from queuectl.core.supervisor import stop_workers

        return stop_workers(self.store, [worker_id], force=force)[0]

    def live_workers(self) -> int:
        return len(self.registry.live())

    def set_setting(self, key: str, raw: str) -> tuple[str, int | float]:
        return self.config.set(key, raw)

    def reset_setting(self, key: str) -> str:
        return self.config.reset(key)


def parse_count(text: str, *, low: int = 1, high: int = 64) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        raise InvalidInput(f"not a whole number: '{text}'") from None
    if not low <= n <= high:
        raise InvalidInput(f"must be between {low} and {high}")
    return n
