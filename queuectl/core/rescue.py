"""Recover the jobs of lost workers.

A worker is lost when, on this host, its process (pid + create time) is gone, or, on any host,
its heartbeat is older than `worker_timeout`. Its orphaned job processes on this host are killed
first; then each of its jobs counts a failed run with the error `worker lost`.
"""

from __future__ import annotations

from typing import NamedTuple

from queuectl.core.db import Store
from queuectl.core.host import host_id, is_same_process, kill_group_if_ours, kill_processes_of_worker
from queuectl.core.queue import JobQueue
from queuectl.core.registry import WorkerRegistry
from queuectl.core.settings import Settings
from queuectl.core.states import LIVE_WORKER_STATES, JobState, sql_in


class Rescued(NamedTuple):
    worker_id: str
    jobs: list[tuple[str, JobState]]


def _orphan_runs(store: Store, worker_id: str) -> list[tuple[int | None, float | None]]:
    return store.execute(
        store.sql("SELECT r.pid, r.pid_created_at FROM run r JOIN job j ON j.id = r.job_id "
                  "WHERE r.worker_id = ? AND r.finished_at IS NULL AND j.state = 'processing'"),
        (worker_id,),
    ).fetchall()


def _held_runs(store: Store, worker_id: str) -> set[tuple[str, str]]:
    """(job id, attempt) of the runs `worker_id` still holds, as its job processes' environment says them."""
    rows = store.execute(
        store.sql("SELECT id, attempts FROM job WHERE worker_id = ? AND state = 'processing'"), (worker_id,)
    ).fetchall()
    return {(job_id, str(attempts)) for job_id, attempts in rows}


def _holders_not_live(store: Store) -> list[tuple[str, str | None]]:
    """Workers (id, host) that hold running jobs but are not live: lost, stopped or forgotten."""
    return store.execute(
        "SELECT DISTINCT j.worker_id, w.host FROM job j LEFT JOIN worker w ON w.id = j.worker_id "
        f"WHERE j.state = 'processing' AND (w.id IS NULL OR w.state NOT IN {sql_in(LIVE_WORKER_STATES)})"
    ).fetchall()


def rescue_lost_workers(
    queue: JobQueue, registry: WorkerRegistry, settings: Settings, *, me: str | None = None
) -> list[Rescued]:
    """Find lost workers, kill their orphans on this host, and fail their jobs; returns what was done.

    Marking a worker lost and failing its jobs are separate steps; the second looks at every job
    held by a worker that is not live, so a rescuer that dies in between leaves nothing stuck.
    """
    here = host_id()
    now = queue.clock.now()
    for worker in registry.live():
        if worker.id == me:
            continue
        silent = now - worker.heartbeat_at > settings.worker_timeout
        gone = worker.host == here and not is_same_process(worker.pid, worker.pid_created_at)
        if silent or gone:
            registry.mark_lost(worker.id, worker.heartbeat_at)  # fenced: loses to a fresh heartbeat
    rescued: list[Rescued] = []
    for worker_id, host in _holders_not_live(queue.store):
        if host == here:
            for pid, created in _orphan_runs(queue.store, worker_id):
                kill_group_if_ours(pid, created)
            held = _held_runs(queue.store, worker_id)
            # runs that ended and kept their processes (keep_children) are not the rescue's to end
            kill_processes_of_worker(
                worker_id, spare=lambda job_id, attempt: bool(job_id) and (job_id, attempt) not in held
            )
        jobs = queue.fail_jobs_of_lost_worker(worker_id, settings)
        if jobs:
            rescued.append(Rescued(worker_id, jobs))
    return rescued
