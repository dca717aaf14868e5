"""Recover the jobs of lost workers.

A worker is lost when, on this host, its process (pid + create time) is gone, or, on any host,
its heartbeat is older than `worker_timeout`. Its orphaned job processes on this host are killed
first; then each of its jobs counts a failed run with the error `worker lost`.

Workers rescue at every heartbeat. Every other command that reads workers or jobs (the CLI, the
TUI) runs `recover_dead_local_workers` first: a pid check of this host's workers, so a killed
worker is seen as lost at once even when no other worker is alive. The store stays the only
daemon; the fences (`mark_lost` on the heartbeat seen, the finish guard) make two rescuers at
once record one lost run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from queuectl.core.db import Store
from queuectl.core.host import host_id, is_same_process, kill_group_if_ours, kill_processes_of_worker
from queuectl.core.registry import WorkerRegistry, WorkerRow
from queuectl.core.states import LIVE_WORKER_STATES, JobState, sql_in

if TYPE_CHECKING:
    # the job state machine only when a worker did die: a command's check that none did (`status`
    # runs it at every start) does not import it (issue 15)
    from queuectl.core.queue import JobQueue
    from queuectl.core.settings import Settings


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


def dead_local_workers(workers: Iterable[WorkerRow]) -> list[WorkerRow]:
    """The workers of this host among `workers` whose process (pid + create time) is gone.

    Cheap: one read of /proc/PID/stat per worker of this host, no store access."""
    here = host_id()
    return [w for w in workers if w.host == here and not is_same_process(w.pid, w.pid_created_at)]


def rescue_lost_workers(
    queue: JobQueue, registry: WorkerRegistry, settings: Settings, *, me: str | None = None,
    dead: Sequence[WorkerRow] | None = None,
) -> list[Rescued]:
    """Find lost workers, kill their orphans on this host, and fail their jobs; returns what was done.

    `dead`: declare only these lost (workers of this host whose process is gone, already checked)
    instead of judging every live worker by pid and heartbeat age.

    Marking a worker lost and failing its jobs are separate steps; the second looks at every job
    held by a worker that is not live, so a rescuer that dies in between leaves nothing stuck.
    """
    here = host_id()
    now = queue.clock.now()
    for worker in registry.live() if dead is None else dead:
        if worker.id == me:
            continue
        silent = dead is None and now - worker.heartbeat_at > settings.worker_timeout
        gone = worker.host == here and not is_same_process(worker.pid, worker.pid_created_at)
        if silent or gone:
            registry.mark_lost(worker.id, worker.heartbeat_at)  # fenced: loses to a fresh heartbeat
    rescued: list[Rescued] = []
    for worker_id, host in _holders_not_live(queue.store):
        if host == here:
            for pid, created in _orphan_runs(queue.store, worker_id):
                kill_group_if_ours(pid, created)
            held = _held_runs(queue.store, worker_id)
            # runs that ended and kept their processes (keep_children) are not the rescue's to end;
            # `spare` is called before the loop moves on, so it sees this iteration's `held`
            kill_processes_of_worker(
                worker_id, spare=lambda job_id, attempt: bool(job_id) and (job_id, attempt) not in held  # noqa: B023
            )
        jobs = queue.fail_jobs_of_lost_worker(worker_id, settings)
        if jobs:
            rescued.append(Rescued(worker_id, jobs))
    return rescued


def recover_dead_local_workers(store: Store) -> list[Rescued]:
    """What a command (CLI, TUI) does before it reads workers or jobs: if a worker of this host
    died (its pid gone or reused), declare it lost and recover its jobs, killing its strays first.

    Costs one small query (the live workers) and a /proc read per local worker when nothing died.
    A store this process cannot write (read-only, busy past the timeout) leaves the recovery to
    the next command or worker; `WorkerRegistry.list` still shows the worker as lost.
    """
    from queuectl.core.config import ConfigStore
    from queuectl.core.db import store_errors

    registry = WorkerRegistry(store)
    try:
        dead = dead_local_workers(registry.live())
        if not dead:
            return []
        from queuectl.core.queue import JobQueue

        rescued = rescue_lost_workers(JobQueue(store), registry, ConfigStore(store).settings(), dead=dead)
    except store_errors():
        return []
    told = {r.worker_id for r in rescued}
    return rescued + [Rescued(w.id, []) for w in dead if w.id not in told]  # found dead, held no job
