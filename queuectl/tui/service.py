"""The TUI's side of the core's door (`queuectl.core.api.Api`): a snapshot per poll, and the actions.

Every read and every action goes through the `Api` (the same policies as the CLI: wake on enqueue,
retry and resume; one definition of a live worker); this module only assembles what one poll
shows. Called from thread workers; Peewee gives each thread its own connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from queuectl.core.api import Api
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.errors import InvalidInput
from queuectl.core.states import JobState
from queuectl.core.views import JobDetail
from queuectl.tui.pulse import PulseHistory, QueueThroughput
from queuectl.tui.viewmodel import JobFilter, QueueSnapshot, SearchedSoFar

__all__ = ["JobDetail", "QueueService", "load_snapshot", "parse_count"]


def load_snapshot(api: Api, job_filter: JobFilter, page_size: int, panes: frozenset[str] | None = None,
                  *, process_stats: bool = True, pulse: PulseHistory | None = None,
                  throughput: QueueThroughput | None = None) -> QueueSnapshot:
    """Everything the app shows; the Jobs page, the DLQ and the queues only when `panes` (default:
    all) has them, as a tab not on screen is not drawn. `pulse` and `throughput` keep the run
    history between calls."""
    api.reap_started_workers()  # workers started here and since stopped leave no zombie behind
    api.recover_dead_workers()  # a worker of this host that died is lost now, not in 30 s
    now = api.clock.now()
    view = api.settings_view()
    workers = api.workers()
    stats = api.process_stats(workers, sample=0) if process_stats else {}
    counts = api.counts()
    unserved = api.unserved_due_queue(workers) if counts["pending"] or counts["failed"] else None
    shows_jobs = panes is None or "jobs" in panes
    # A search reads one row past the page, not a count of every match: "100+" is known from
    # the first 101 matches, where counting them all scans the table at each refresh.
    searching = bool(job_filter.search)
    jobs = api.list_jobs(
        state=job_filter.state, search=job_filter.search or None, limit=page_size + 1 if searching else page_size,
        offset=job_filter.page * page_size, sort=job_filter.sort, descending=job_filter.descending,
    ) if shows_jobs else []
    searched = None
    if shows_jobs and searching:
        searched = SearchedSoFar(job_filter.page * page_size + min(len(jobs), page_size), len(jobs) > page_size)
        del jobs[page_size:]
    waiting = api.waiting_reasons(jobs, workers)
    shows_dlq = panes is None or "dlq" in panes
    dlq = api.list_jobs(state=JobState.DEAD, limit=page_size) if shows_dlq else []
    dlq_lines = api.last_output_lines([j.id for j in dlq]) if dlq else {}
    shows_queues = panes is None or "queues" in panes
    queues = api.queues() if shows_queues else []
    rates = (throughput or QueueThroughput()).read(api, now) if shows_queues else {}
    schedules = api.schedules() if panes is None or "schedules" in panes else []
    return QueueSnapshot(
        now=now, counts=counts, paused=view.paused,
        finished_last_minute=api.finished_since(now - 60), workers=workers, worker_stats=stats,
        jobs=jobs, job_filter=job_filter, page_size=page_size, waiting=waiting,
        dlq=dlq,
        settings=view.settings, overridden=view.overridden, unserved_queue=unserved,
        panes=panes, pulse=(pulse or PulseHistory()).read(api, now, counts, workers), searched=searched,
        dlq_lines=dlq_lines, queues=queues, queue_rates=rates, schedules=schedules,
    )


class QueueService:
    """What the app's actions call: each one a call of the `Api` (kept as the app's seam for tests)."""

    def __init__(self, api: Api, *, process_stats: bool = True) -> None:
        self.api = api
        self.process_stats = process_stats
        self._pulse = PulseHistory()
        self._throughput = QueueThroughput()

    @classmethod
    def open(cls, url: str | None, clock: Clock = SYSTEM_CLOCK, **kw: bool) -> QueueService:
        return cls(Api.open(url, clock), **kw)

    def snapshot(self, job_filter: JobFilter, page_size: int, panes: frozenset[str] | None = None) -> QueueSnapshot:
        return load_snapshot(self.api, job_filter, page_size, panes, process_stats=self.process_stats,
                             pulse=self._pulse, throughput=self._throughput)

    def detail(self, job_id: str, run_number: int | None = None, *, seen: tuple[int, int] | None = None) -> JobDetail:
        return self.api.detail(job_id, run_number, seen=seen)

    def enqueue(self, fields: Mapping[str, object], default_cwd: str) -> str:
        """Validate form fields exactly as the CLI would and enqueue one job; InvalidInput otherwise."""
        return self.api.enqueue_fields(fields, default_cwd)

    def retry(self, job_ids: Sequence[str], *, only_dead: bool = False) -> list[str]:
        return self.api.retry(job_ids, only_dead=only_dead)

    def retry_all_dead(self) -> int:
        return self.api.retry_all_dead()

    def cancel(self, job_ids: Sequence[str]) -> dict[str, str]:
        return self.api.cancel(job_ids)

    def delete(self, job_ids: Sequence[str]) -> list[str]:
        return self.api.delete(job_ids)

    def hold(self, job_ids: Sequence[str]) -> list[str]:
        return self.api.hold(job_ids)

    def release(self, job_ids: Sequence[str]) -> list[str]:
        return self.api.release(job_ids)

    def start_now(self, job_ids: Sequence[str]) -> list[str]:
        return self.api.start_now(job_ids)

    def toggle_pause(self) -> bool:
        return self.api.toggle_pause()

    def set_queue_limit(self, name: str, raw: str) -> tuple[str, int]:
        """At most `raw` (a whole number; 0 or none: no limit) of the queue's jobs run at once."""
        row = self.api.set_queue_limit(name, raw)
        return row.name, row.limit

    def toggle_queue_pause(self, name: str) -> bool:
        """Pause the queue, or resume it if paused; True when it is paused now."""
        if any(q.name == name and q.paused for q in self.api.queues()):
            self.api.resume_queue(name)
            return False
        self.api.pause_queue(name)
        return True

    def toggle_schedule_pause(self, name: str) -> bool:
        """Pause the schedule, or resume it if paused; True when it is paused now."""
        if self.api.schedule(name).paused:
            return self.api.resume_schedule(name).paused
        return self.api.pause_schedule(name).paused

    def run_schedule_now(self, name: str) -> str:
        return self.api.run_schedule_now(name)

    def remove_schedule(self, name: str) -> list[str]:
        return self.api.remove_schedules([name])

    def start_workers(self, count: int) -> list[str]:
        return self.api.start_workers(count)

    def stop_worker(self, worker_id: str, *, force: bool = False) -> list[str]:
        return self.api.stop_workers([worker_id], force=force)[0]

    def live_workers(self) -> int:
        return self.api.workers_recorded_running()

    def set_setting(self, key: str, raw: str) -> tuple[str, int | float]:
        return self.api.set_setting(key, raw)

    def reset_setting(self, key: str) -> str:
        return self.api.reset_setting(key)


def parse_count(text: str, *, low: int = 1, high: int = 64) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        raise InvalidInput(f"not a whole number: '{text}'") from None
    if not low <= n <= high:
        raise InvalidInput(f"must be between {low} and {high}")
    return n
