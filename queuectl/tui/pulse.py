"""The queue's pulse: completed and failed runs per minute and the waiting count, for the last
PULSE_MINUTES, kept between refreshes so each refresh reads only the minute under way.

A minute that has ended does not change (a run's finished_at is written as it ends), so its
counts are read once; every refresh reads the run_finished index from the start of the current
minute only. The waiting count has no history in the store: it is sampled at each refresh, so its
line starts when the TUI opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from queuectl.core.records import Counts, WorkerInfo
from queuectl.tui.viewmodel import PULSE_MINUTES, Pulse


class _RunHistory(Protocol):
    def finished_per_minute(self, since: float) -> list[tuple[int, int, int]]: ...


class PulseHistory:
    def __init__(self, minutes: int = PULSE_MINUTES) -> None:
        self.minutes = minutes
        self._done: dict[int, tuple[int, int]] = {}  # absolute minute → (completed, failed)
        self._waiting: dict[int, int] = {}           # absolute minute → waiting at its last sample
        self._final_before: int | None = None        # minutes before this one are read and final
        self._backfill = False                       # the minutes before the first refresh are still to read

    def record_waiting(self, minute: int, waiting: int) -> None:
        """A waiting count for an absolute minute (now // 60)."""
        self._waiting[minute] = waiting

    def read(self, history: _RunHistory, now: float, counts: Counts, workers: Sequence[WorkerInfo]) -> Pulse:
        current = int(now // 60)
        first = current - self.minutes + 1
        if self._final_before is None:
            # The first refresh reads the current minute only, so the first screen does not wait for
            # the half hour (150 ms at 100,000 runs); the second reads the rest.
            start, self._backfill = current, True
        elif self._backfill:
            start, self._backfill = first, False
        else:
            start = max(first, self._final_before)
        for minute in range(start, current + 1):
            self._done.pop(minute, None)
        for index, completed, failed in history.finished_per_minute(start * 60.0):
            self._done[start + index] = (completed, failed)
        self._final_before = current
        self.record_waiting(current, counts["pending"] + counts["failed"])
        for old in [m for m in self._done if m < first]:
            del self._done[old]
        for old in [m for m in self._waiting if m < first]:
            del self._waiting[old]
        span = range(first, current + 1)
        running = [w for w in workers if w.state == "running"]
        return Pulse(
            completed=tuple(self._done.get(m, (0, 0))[0] for m in span),
            failed=tuple(self._done.get(m, (0, 0))[1] for m in span),
            waiting=tuple(self._waiting[m] for m in span if m in self._waiting),  # since the TUI opened
            slots_busy=sum(w.busy for w in running),
            slots_total=sum(w.slots for w in running),
        )


class _QueueHistory(Protocol):
    def finished_per_queue_minute(self, since: float, until: float) -> list[tuple[str, int, int, int]]: ...


THROUGHPUT_MINUTES = 5


class QueueThroughput:
    """Runs finished per minute in each queue over the last THROUGHPUT_MINUTES whole minutes, for
    the Queues tab. Only ended minutes count (their runs are final), so a refresh queries nothing
    until a minute ends, then reads that minute once."""

    def __init__(self, minutes: int = THROUGHPUT_MINUTES) -> None:
        self.minutes = minutes
        self._done: dict[int, dict[str, tuple[int, int]]] = {}  # absolute minute → queue → (completed, failed)
        self._read_before: int | None = None                    # minutes before this one are read

    def read(self, history: _QueueHistory, now: float) -> dict[str, tuple[float, float]]:
        """Queue → (completed, failed) per minute, averaged over the last `minutes` ended minutes."""
        current = int(now // 60)
        first = current - self.minutes
        start = first if self._read_before is None else max(first, self._read_before)
        if start < current:
            for queue, index, completed, failed in history.finished_per_queue_minute(start * 60.0, current * 60.0):
                self._done.setdefault(start + index, {})[queue] = (completed, failed)
            self._read_before = current
        for old in [m for m in self._done if m < first]:
            del self._done[old]
        rates: dict[str, tuple[float, float]] = {}
        for per_queue in self._done.values():
            for queue, (completed, failed) in per_queue.items():
                c, f = rates.get(queue, (0.0, 0.0))
                rates[queue] = (c + completed / self.minutes, f + failed / self.minutes)
        return rates
