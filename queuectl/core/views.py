"""What the door (`api.py`) hands out besides the records: a job's detail, the settings as read once
(a status and why jobs would wait: `overview.py`).

A module of its own, imported by the methods that build these: `enqueue` builds none of them
(start-up, issue 15). No `from __future__ import annotations`, as in `records.py`: typing.NamedTuple
would compile each string annotation.
"""

from typing import NamedTuple

from queuectl.core.records import JobRecord, RunOutput, RunRecord, WaitingReason
from queuectl.core.settings import Settings


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
