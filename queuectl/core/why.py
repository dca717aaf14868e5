"""Why a waiting job is not running: one answer for `show`, `show --json`, the TUI's detail and its
jobs table, from the same rules the claim applies (`readiness.py`) plus the workers that serve.

The first reason that applies wins, in the order a user would have to act on them: a hold, its
dependencies, a pause of everything, its queue's pause, its time (back-off or `run_at`), its
queue's limit, no live worker for its queue. A job none of these hold back is next in line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from queuectl.core.config import ConfigStore
from queuectl.core.queue import JobQueue
from queuectl.core.queues import QueueRow, QueueTable
from queuectl.core.records import JobRecord, WaitingReason, WorkerInfo
from queuectl.core.registry import WorkerRegistry
from queuectl.core.states import CLAIMABLE, JobState, WorkerState


class WaitContext(NamedTuple):
    """What the rules read besides the job itself, loaded once for a page of jobs."""

    now: float
    paused: bool
    queues: dict[str, QueueRow]
    dependencies: dict[str, list[tuple[str, str]]]  # job id -> (dependency id, its state)
    served: frozenset[str] | None  # queues the live workers claim from; None: some worker takes all
    live_workers: int


def _in(seconds: float) -> str:
    s = max(1, math.ceil(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{math.ceil(s / 60)} min"
    if s < 172800:
        return f"{math.ceil(s / 3600)} h"
    return f"{math.ceil(s / 86400)} d"


def waiting_reason(job: JobRecord, ctx: WaitContext) -> WaitingReason | None:
    """Why `job` waits, or None when it does not wait (running or finished)."""
    if job.state not in CLAIMABLE:
        return None
    if job.held:
        return WaitingReason("held", "held (queuectl release to let it run)", "held")
    unfinished = [(dep, state) for dep, state in ctx.dependencies.get(job.id, ()) if state != JobState.COMPLETED]
    if unfinished:
        named = ", ".join(f"{dep} ({state})" for dep, state in unfinished[:3])
        more = f" and {len(unfinished) - 3} more" if len(unfinished) > 3 else ""
        return WaitingReason("dependencies", f"waiting for {named}{more}", f"after {unfinished[0][0]}")
    if ctx.paused:
        return WaitingReason("paused", "everything paused (queuectl resume)", "paused")
    queue = ctx.queues.get(job.queue)
    if queue is not None and queue.paused:
        return WaitingReason("queue_paused", f"queue {job.queue} paused (queuectl queue resume {job.queue})",
                             "queue paused")
    if job.run_at > ctx.now:
        why = "retry back-off" if job.state == JobState.FAILED else "run_at"
        return WaitingReason("due_later", f"due in {_in(job.run_at - ctx.now)} ({why})")
    if queue is not None and queue.limit and queue.running >= queue.limit:
        return WaitingReason("queue_full", f"queue {job.queue} full ({queue.running}/{queue.limit} running)",
                             f"full {queue.running}/{queue.limit}")
    if ctx.live_workers == 0:
        return WaitingReason("no_worker", "no live worker (queuectl worker start)", "no worker")
    if ctx.served is not None and job.queue not in ctx.served:
        return WaitingReason("no_worker", f"no live worker serves queue {job.queue}", "no worker")
    return WaitingReason("ready", "ready: the next free worker slot takes it")


def served_queues(workers: Sequence[WorkerInfo]) -> tuple[frozenset[str] | None, int]:
    """The queues running workers claim from (None: one of them takes every queue), and how many run."""
    running = [w for w in workers if w.state == WorkerState.RUNNING]
    if any(not w.queues for w in running):
        return None, len(running)
    return frozenset(q for w in running for q in w.queues or ()), len(running)


def load_wait_context(queue: JobQueue, jobs: Sequence[JobRecord], *,
                      workers: Sequence[WorkerInfo] | None = None) -> WaitContext:
    """The context for `waiting_reason` of these jobs (`workers`: as listed already, else read)."""
    store = queue.store
    config = ConfigStore(store)
    if workers is None:
        workers = WorkerRegistry(store, queue.clock).list(worker_timeout=config.settings().worker_timeout)
    served, live = served_queues(workers)
    waiting = [job for job in jobs if job.state in CLAIMABLE]
    return WaitContext(
        now=queue.clock.now(),
        paused=config.is_paused(),
        queues=QueueTable(store, queue.clock).rows(sorted({job.queue for job in waiting})),
        dependencies=queue.dependencies([job.id for job in waiting]),
        served=served,
        live_workers=live,
    )


def why_waiting(queue: JobQueue, job: JobRecord) -> WaitingReason | None:
    """Why this one job waits (None if it does not)."""
    if job.state not in CLAIMABLE:
        return None
    return waiting_reason(job, load_wait_context(queue, [job]))
