"""Retention: finished jobs older than `keep_completed` / `keep_dead` / `keep_cancelled` are
deleted (their runs and output with them), and each job keeps its last `keep_runs` runs.

`prune` is one maintenance pass, run by workers every `PRUNE_INTERVAL` seconds: small batches,
each its own short write transaction, sized to hold the lock about `TARGET_HOLD` (never a long
write lock on a big store), at most `MAX_BATCHES` of them per state per pass, so a store with a
backlog catches up over a few passes instead of in one long stall. On SQLite the freed pages
then go back to the filesystem, in bounded steps (`Store.reclaim_space`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, NamedTuple

from queuectl.core.queue import JobQueue
from queuectl.core.settings import Settings
from queuectl.core.states import JobState

if TYPE_CHECKING:
    from queuectl.core.maintenance import MaintenanceContext

log = logging.getLogger("queuectl.retention")

PRUNE_INTERVAL = 10.0  # seconds between a worker's passes
BATCH = 100  # jobs in the first transaction of a pass; then sized to hold the write lock about TARGET_HOLD
MAX_BATCH = 1000
TARGET_HOLD = 0.05  # seconds: a delete's cost follows the output it frees (SQLite zeroes it: secure_delete)
WINDOW = 5000  # oldest jobs of a state (or runs) looked at per transaction
MAX_BATCHES = 50  # per state per pass


class Pruned(NamedTuple):
    jobs: dict[str, int]  # deleted per state
    runs: int
    run_cursor: int  # where the next pass goes on looking for jobs with too many runs
    pages_freed: int

    @property
    def anything(self) -> bool:
        return bool(self.runs or any(self.jobs.values()))


def _keep(settings: Settings) -> dict[JobState, float]:
    return {
        JobState.COMPLETED: settings.keep_completed,
        JobState.DEAD: settings.keep_dead,
        JobState.CANCELLED: settings.keep_cancelled,
    }


def _resized(size: int, took: float, ceiling: int) -> int:
    """The next batch's size: halved when one held the lock past TARGET_HOLD, doubled when it took
    less than half of it."""
    if took > TARGET_HOLD:
        return max(1, size // 2)
    if took < TARGET_HOLD / 2:
        return min(ceiling, size * 2)
    return size


def prune(queue: JobQueue, settings: Settings, now: float, *, run_cursor: int = 0,
          batch: int = BATCH, max_batch: int = MAX_BATCH, window: int = WINDOW,
          max_batches: int = MAX_BATCHES) -> Pruned:
    """One retention pass (see the module's docstring); a 0 setting keeps for ever."""
    jobs: dict[str, int] = {}
    for state, age in _keep(settings).items():
        if age <= 0:
            continue
        total, size = 0, batch
        for _ in range(max_batches):
            started = time.perf_counter()
            n = queue.prune_finished(state, now - age, window=window, batch=size)
            total += n
            if n < size:
                break
            size = _resized(size, time.perf_counter() - started, max(max_batch, batch))
        jobs[state.value] = total
    runs = 0
    if settings.keep_runs > 0:
        for _ in range(max_batches):
            deleted, upto = queue.prune_runs(settings.keep_runs, run_cursor, window)
            runs += deleted
            if upto == run_cursor:
                break
            run_cursor = upto
    pruned = Pruned(jobs, runs, run_cursor, 0)
    if pruned.anything:
        pruned = pruned._replace(pages_freed=queue.store.reclaim_space())
    return pruned


class _Cadence:
    """When this process last pruned a store, and its place in the run table (`keep_runs`)."""

    def __init__(self) -> None:
        self.next_at: dict[str, float] = {}
        self.run_cursor: dict[str, int] = {}


_CADENCE = _Cadence()


def prune_task(ctx: MaintenanceContext) -> None:
    """The maintenance task (core/maintenance.py): a retention pass every PRUNE_INTERVAL seconds per
    worker process (maintenance itself runs about once a second)."""
    key = ctx.store.url
    now = time.monotonic()
    if now < _CADENCE.next_at.get(key, 0.0):
        return
    _CADENCE.next_at[key] = now + PRUNE_INTERVAL
    pruned = prune(ctx.queue, ctx.settings, ctx.now, run_cursor=_CADENCE.run_cursor.get(key, 0))
    _CADENCE.run_cursor[key] = pruned.run_cursor
    if pruned.anything:
        log.info("retention: deleted %s finished jobs and %d runs",
                 ", ".join(f"{n} {state}" for state, n in pruned.jobs.items()) or "no", pruned.runs)
