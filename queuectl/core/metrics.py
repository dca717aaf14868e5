"""What a Prometheus scrape reports, read from the store (read-only), so one exporter covers every host.

A scrape must stay cheap on a store of a million jobs, so nothing here counts the job history:
- job totals per state come from the trigger-kept `job_count` table;
- per queue, only waiting and running jobs are counted. The queues that have waiting jobs are found
  by a skip scan of the claim index (one seek per queue); with one such queue its counts are the
  totals. With several, each is counted up to `COUNT_CAP` on the claim index; a single queue past
  the cap is the total minus the others, so one big backlog costs nothing; two past it are counted
  in full (a cost that grows with their backlogs, never with the history). Each queue's earliest
  due time takes one seek per distinct priority. The few failed and processing rows are counted
  by state;
- runs are read incrementally: a reader remembers up to when it has counted finished runs and next
  time reads only those that finished since (the `run_finished` index). Its counters and
  histograms start from the runs of the `window` before it was made; a long-lived reader (the
  `--serve` exporter) is a Prometheus counter like any process's, reset when the exporter restarts.
  Each read looks `FINISH_LAG` seconds further back than the last and skips the runs it already
  counted: a finish committed up to that long after its end time (or written by a host whose clock
  is up to that far behind) is still counted, once.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store
from queuectl.core.registry import WorkerRegistry
from queuectl.core.states import (
    CLAIMABLE,
    LIVE_WORKER_STATES,
    RUN_OUTCOMES,
    JobState,
    WorkerState,
    sql_in,
)

FINISH_LAG = 5.0
COUNT_CAP = 10_000
# seconds; from a `true` job (a few ms) to a nightly batch
BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
OUTCOMES = RUN_OUTCOMES


class Histogram:
    """Cumulative counts per upper bound (the last one +Inf), a sum and a count."""

    def __init__(self, bounds: tuple[float, ...] = BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not yet cumulative
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        total, out = 0, []
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


class QueueLoad(NamedTuple):
    pending: int
    failed: int
    processing: int
    oldest_waiting: float  # seconds the earliest-due waiting job has been due (0: none due)


class Snapshot(NamedTuple):
    now: float
    counted_from: float  # runs finished from this time on are in the counters below
    jobs: dict[str, int]  # every state, all queues
    queues: dict[str, QueueLoad]
    runs_finished: dict[str, int]  # by outcome
    run_duration: Histogram
    queue_wait: Histogram  # first runs of jobs not scheduled for later: start − enqueue
    slots: int  # slots of live workers (each runs up to that many jobs at once)
    slots_busy: int
    workers_lost: int  # worker rows marked lost, plus live ones silent past worker_timeout
    paused: bool


class MetricsReader:
    def __init__(self, store: Store, window: float = 3600.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock
        self.counted_from = clock.now() - window
        self._upto = self.counted_from  # runs finished up to here are counted
        self._recent: dict[int, float] = {}  # run seq → end time, of runs counted within FINISH_LAG of _upto
        self._finished = dict.fromkeys(OUTCOMES, 0)
        self._duration = Histogram()
        self._wait = Histogram()
        sql = store.sql
        claimable = sql_in(CLAIMABLE)
        waiting = f"FROM job WHERE state IN {claimable}"
        self._waiting_queues = (
            f"WITH RECURSIVE q(name) AS (SELECT min(queue) {waiting} UNION ALL "
            f"SELECT (SELECT min(queue) {waiting} AND queue > q.name) FROM q WHERE q.name IS NOT NULL) "
            "SELECT name FROM q WHERE name IS NOT NULL"
        )
        self._count_capped = sql(f"SELECT count(*) FROM (SELECT 1 {waiting} AND queue = ? LIMIT ?) capped")
        self._count_queue = sql(f"SELECT count(*) {waiting} AND queue = ?")
        self._top_priority = sql(f"SELECT max(priority) {waiting} AND queue = ?")
        self._next_priority = sql(f"SELECT max(priority) {waiting} AND queue = ? AND priority < ?")
        self._earliest_at_priority = sql(f"SELECT min(run_at) {waiting} AND queue = ? AND priority = ?")
        self._earliest = sql(f"SELECT min(run_at) {waiting} AND queue = ?")
        # (SQLite would rather scan the whole (queue, seq) index for the GROUP BY than look up the few rows)
        by_state_index = "INDEXED BY job_state_seq " if store.is_sqlite else ""
        self._by_state = sql(
            f"SELECT queue, state, count(*) FROM job {by_state_index}"
            f"WHERE state IN {sql_in((JobState.FAILED, JobState.PROCESSING))} GROUP BY queue, state"
        )
        self._new_runs = sql(
            "SELECT r.seq, r.finished_at, r.finished_at - r.started_at, r.outcome, "
            "CASE WHEN r.number = 1 AND j.run_at <= j.created_at + 0.001 THEN r.started_at - j.created_at END "
            "FROM run r LEFT JOIN job j ON j.id = r.job_id WHERE r.finished_at > ? AND r.finished_at <= ?"
        )

    def read(self) -> Snapshot:
        now = self.clock.now()
        self._count_runs(now)
        jobs = {state.value: 0 for state in JobState}
        jobs.update({s: int(n) for s, n in self.store.execute("SELECT state, sum(n) FROM job_count GROUP BY state")})
        config = ConfigStore(self.store)
        settings = config.settings()
        workers = WorkerRegistry(self.store, self.clock).list(worker_timeout=settings.worker_timeout)
        live = [w for w in workers if w.state in LIVE_WORKER_STATES]
        return Snapshot(
            now=now, counted_from=self.counted_from, jobs=jobs, queues=self._queues(now, jobs),
            runs_finished=dict(self._finished), run_duration=self._duration, queue_wait=self._wait,
            slots=sum(w.slots for w in live), slots_busy=sum(w.busy for w in live),
            workers_lost=sum(1 for w in workers if w.state == WorkerState.LOST.value),
            paused=config.is_paused(),
        )

    def _queues(self, now: float, jobs: dict[str, int]) -> dict[str, QueueLoad]:
        split: dict[tuple[str, str], int] = {
            (q, s): int(n) for q, s, n in self.store.execute(self._by_state).fetchall()
        }
        names = [row[0] for row in self.store.execute(self._waiting_queues).fetchall()]
        waiting = self._waiting_counts(names, jobs[JobState.PENDING.value] + jobs[JobState.FAILED.value])
        loads = {}
        for queue in names:
            failed = split.get((queue, JobState.FAILED.value), 0)
            earliest = self._earliest_due(queue)
            pending = max(0, waiting.get(queue, 0) - failed)  # (two reads: a write may fall between them)
            loads[queue] = QueueLoad(pending, failed, 0, 0.0 if earliest is None else max(0.0, now - earliest))
        for (queue, state), n in split.items():
            if state == JobState.PROCESSING.value:
                load = loads.get(queue, QueueLoad(0, 0, 0, 0.0))
                loads[queue] = load._replace(processing=n)
        return dict(sorted(loads.items()))

    def _waiting_counts(self, names: list[str], total: int) -> dict[str, int]:
        """Waiting jobs per queue; `total` (from job_count) stands in for counting the one big queue."""
        if len(names) == 1:
            return {names[0]: total}
        counts, over = {}, []
        for queue in names:
            n = int(self.store.execute(self._count_capped, (queue, COUNT_CAP + 1)).fetchone()[0])
            if n > COUNT_CAP:
                over.append(queue)
            else:
                counts[queue] = n
        if len(over) == 1:  # (two reads: a write between them could make this a little off; never < 0)
            counts[over[0]] = max(0, total - sum(counts.values()))
        else:
            for queue in over:
                counts[queue] = int(self.store.execute(self._count_queue, (queue,)).fetchone()[0])
        return counts

    def _earliest_due(self, queue: str, max_priorities: int = 32) -> float | None:
        """min(run_at) of a queue's waiting jobs: the claim index is ordered by priority, then run_at,
        so each priority's earliest is one seek; past `max_priorities` distinct ones, one scan."""
        earliest = None
        priority = self.store.execute(self._top_priority, (queue,)).fetchone()[0]
        for _ in range(max_priorities):
            if priority is None:
                return earliest
            at = self.store.execute(self._earliest_at_priority, (queue, priority)).fetchone()[0]
            earliest = at if earliest is None or (at is not None and at < earliest) else earliest
            priority = self.store.execute(self._next_priority, (queue, priority)).fetchone()[0]
        return self.store.execute(self._earliest, (queue,)).fetchone()[0] if priority is not None else earliest

    def _count_runs(self, upto: float) -> None:
        since = self._upto - FINISH_LAG if self._upto > self.counted_from else self._upto
        rows = self.store.execute(self._new_runs, (since, upto)).fetchall()
        for seq, finished_at, duration, outcome, wait in rows:
            if seq in self._recent:
                continue
            self._recent[seq] = finished_at
            self._finished[outcome or "failed"] += 1  # (None: a finish no version writes)
            self._duration.observe(max(0.0, duration))
            if wait is not None:
                self._wait.observe(max(0.0, wait))
        self._upto = max(self._upto, upto)
        horizon = self._upto - FINISH_LAG
        self._recent = {seq: at for seq, at in self._recent.items() if at > horizon}
