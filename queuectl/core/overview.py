"""The store at a glance, as `status` reads it: jobs per state, the workers, and what the door builds
from them (a status, why jobs of some queues would wait).

Apart from `records.py` (which names these too): `status` reads no job or run record, and records'
other NamedTuples cost every start that imports them (issue 15). No `from __future__ import
annotations`, as there: typing.NamedTuple would compile each string annotation.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from queuectl.core.states import LIVE_WORKER_STATES, WorkerState


def iso(ts: float | None) -> str | None:
    """UTC epoch seconds → ISO-8601 with a Z, millisecond precision."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jsonable(data: dict[str, Any], time_keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: (iso(v) if k in time_keys else v) for k, v in data.items()}


class WorkerInfo(NamedTuple):
    id: str
    host: str
    pid: int
    pid_created_at: float
    queues: tuple[str, ...] | None
    state: str  # running, stopping, stopped, lost — "lost" also when it has gone silent
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    current_job_id: str | None  # the first of `job_ids` (a one-slot worker's job)
    stop_requested: bool
    slots: int = 1  # how many jobs it runs at once
    job_ids: tuple[str, ...] = ()  # the jobs its slots run now, oldest first

    @property
    def busy(self) -> int:
        """How many of its slots run a job."""
        return len(self.job_ids)

    TIME_KEYS = ("started_at", "heartbeat_at", "stopped_at")

    def to_json(self) -> dict[str, Any]:
        data = jsonable(self._asdict(), self.TIME_KEYS)
        data.pop("pid_created_at")
        data["queues"] = list(self.queues) if self.queues else None
        data["job_ids"] = list(self.job_ids)
        return data


class Counts(NamedTuple):
    by_state: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    def __getitem__(self, state: str) -> int:
        return self.by_state.get(state, 0)


class WorkerCounts(NamedTuple):
    """Workers by what they are doing: the one definition of a live worker for every front end."""

    alive: int  # running or stopping (a silent one past worker_timeout is listed as lost instead)
    busy: int  # alive with at least one job
    lost: int
    slots: int  # the alive workers' slots
    slots_busy: int  # of those, the slots running a job

    @classmethod
    def of(cls, workers: Iterable[WorkerInfo]) -> "WorkerCounts":
        """Counted from `WorkerRegistry.list(worker_timeout=…)`'s rows."""
        alive = busy = lost = slots = slots_busy = 0
        for w in workers:
            if w.state in LIVE_WORKER_STATES:
                alive += 1
                busy += bool(w.busy)
                slots += w.slots
                slots_busy += w.busy
            elif w.state == WorkerState.LOST:
                lost += 1
        return cls(alive, busy, lost, slots, slots_busy)


class QueueStatus(NamedTuple):
    """`status`: jobs per state, workers, pause."""

    counts: Counts
    workers: WorkerCounts
    paused: bool

    def to_json(self) -> dict[str, object]:
        return {
            "jobs": self.counts.by_state, "total": self.counts.total,
            "workers": {"running": self.workers.alive, "busy": self.workers.busy, "lost": self.workers.lost,
                        "slots": self.workers.slots, "slots_busy": self.workers.slots_busy},
            "paused": self.paused,
        }


class Unserved(NamedTuple):
    """Why due jobs of some queues will wait: no live worker at all, none serving `queues`, or paused."""

    no_workers: bool
    queues: tuple[str, ...]
    paused: bool
