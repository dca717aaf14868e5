"""What the door (`api.py`) hands out besides the records: a status, why jobs would wait, a job's
detail, the settings as read once.

A module of its own, imported by the methods that build these: `enqueue` builds none of them
(start-up, issue 15). No `from __future__ import annotations`, as in `records.py`: typing.NamedTuple
would compile each string annotation.
"""

from typing import NamedTuple

from queuectl.core.records import Counts, JobRecord, RunOutput, RunRecord, WaitingReason, WorkerCounts
from queuectl.core.settings import Settings


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


class JobDetail(NamedTuple):
    job: JobRecord
    runs: list[RunRecord]
    output: RunOutput | None  # None: no run yet, unchanged since `seen`, or not asked for
    output_unchanged: bool = False
    waiting: WaitingReason | None = None  # why it waits (None: it does not)
    after: tuple[tuple[str, str], ...] = ()  # the jobs it runs after, with their states


class SettingsView(NamedTuple):
    """The setting rows read once: values, pause, which keys differ from their default."""

    settings: Settings
    paused: bool
    overridden: frozenset[str]
