"""Is this queue healthy? The store answers, and (when asked) enough live worker slots serve a queue.

For container HEALTHCHECKs, systemd and Kubernetes probes: a cheap read, one verdict. Today one
worker process is one slot. A live slot is a worker that is running (not stopping: it claims
nothing new) and heartbeat within `worker_timeout`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store, redact
from queuectl.core.registry import WorkerRegistry
from queuectl.core.states import WorkerState


class Health(NamedTuple):
    ok: bool
    store: str  # the store URL, any password redacted
    live_slots: int  # live worker slots serving `queue` (every queue when None)
    workers_needed: int
    queue: str | None
    problem: str | None  # one line when not ok

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def serves(queues: tuple[str, ...] | None, queue: str | None) -> bool:
    """A worker restricted to `queues` (None: all) serves `queue` (None: any queue)."""
    return queue is None or queues is None or queue in queues


def live_slots(store: Store, queue: str | None, clock: Clock = SYSTEM_CLOCK) -> int:
    settings = ConfigStore(store).settings()
    workers = WorkerRegistry(store, clock).list(worker_timeout=settings.worker_timeout)
    return sum(1 for w in workers if w.state == WorkerState.RUNNING.value and serves(w.queues, queue))


def check(store: Store, workers_needed: int = 0, queue: str | None = None, clock: Clock = SYSTEM_CLOCK) -> Health:
    """The verdict; store errors propagate (the caller reports them as "the store does not answer")."""
    store.execute("SELECT 1").fetchone()
    slots = live_slots(store, queue, clock)
    problem = None
    if slots < workers_needed:
        where = f"serving queue '{queue}'" if queue is not None else "running"
        problem = f"live worker slots {where}: {slots}, need {workers_needed}"
    return Health(ok=problem is None, store=redact(store.url), live_slots=slots, workers_needed=workers_needed,
                  queue=queue, problem=problem)
