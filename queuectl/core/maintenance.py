"""Store-wide chores that no single job needs, run by workers on their own cadence
(`MAINTENANCE_INTERVAL_S`), not inside every heartbeat.

Every worker process runs `run_maintenance` about once a second (each at its own offset). Every
task must be safe to run by several processes at once, on any host — each does guarded writes
(the rescue's `mark_lost` is fenced on the heartbeat it saw, the finish on state, worker and
attempt) — and cheap when there is nothing to do: one or two small queries.

To add a chore (enqueue due schedules, prune old jobs): write `def my_task(ctx: MaintenanceContext)
-> None` in its own module and append `("what it does", my_task)` to `TASKS` here. A task that
raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.db import Store
from queuectl.core.queue import JobQueue
from queuectl.core.registry import WorkerRegistry
from queuectl.core.rescue import rescue_lost_workers
from queuectl.core.retention import prune_task
from queuectl.core.schedules import enqueue_due_task
from queuectl.core.settings import Settings

log = logging.getLogger("queuectl.maintenance")

MAINTENANCE_INTERVAL_S = 1.0  # a worker of this host killed with kill -9 is recovered within about this


class MaintenanceContext:
    """What a task gets: the store, the settings as the worker has them, the time, and who runs it."""

    def __init__(
        self, store: Store, settings: Settings, now: float, *, worker_id: str | None = None,
        clock: Clock = SYSTEM_CLOCK, queue: JobQueue | None = None, registry: WorkerRegistry | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.now = now
        self.worker_id = worker_id  # the worker running the task (never rescued by itself), if any
        self.clock = clock
        self.queue = queue or JobQueue(store, clock)
        self.registry = registry or WorkerRegistry(store, clock)


MaintenanceTask = Callable[[MaintenanceContext], None]


def rescue_task(ctx: MaintenanceContext) -> None:
    """Declare lost the workers that died (this host) or went silent (any host); recover their jobs."""
    for rescued in rescue_lost_workers(ctx.queue, ctx.registry, ctx.settings, me=ctx.worker_id):
        for job_id, state in rescued.jobs:
            log.warning("worker %s was lost; its job %s is now %s", rescued.worker_id, job_id, state)


TASKS: list[tuple[str, MaintenanceTask]] = [
    ("rescuing lost workers", rescue_task),
    ("enqueuing due schedule slots", enqueue_due_task),
    ("pruning finished jobs (retention)", prune_task),
]


def run_maintenance(
    store: Store, settings: Settings, now: float, *, worker_id: str | None = None, clock: Clock = SYSTEM_CLOCK,
    queue: JobQueue | None = None, registry: WorkerRegistry | None = None,
) -> list[BaseException]:
    """Run every task in `TASKS` once; returns the errors they raised (each logged), so the caller
    can reset a connection that a store error may have left broken."""
    ctx = MaintenanceContext(store, settings, now, worker_id=worker_id, clock=clock, queue=queue, registry=registry)
    errors: list[BaseException] = []
    for what, task in TASKS:
        try:
            task(ctx)
        except Exception as exc:  # one broken chore must not stop the others, nor the worker
            log.warning("maintenance failed while %s: %s", what, exc)
            errors.append(exc)
    return errors
