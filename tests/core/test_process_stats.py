"""Worker CPU and memory as `worker list` and the TUI show them."""

from __future__ import annotations

import os
import time

from queuectl.core import process_stats as process_stats_module
from queuectl.core.host import create_time, host_id
from queuectl.core.process_stats import process_stats
from queuectl.core.registry import WorkerRegistry


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_is_measured_between_polls_not_reported_as_zero(store, monkeypatch):
    monkeypatch.setattr(process_stats_module, "_WATCHED", {})  # measurements carry over between calls by design
    registry = WorkerRegistry(store)
    # this test process stands in for a worker: real pid, real start time, this host
    registry.register("w-self", host_id(), os.getpid(), create_time(os.getpid()), None, None)
    [first] = process_stats(registry.list(), sample=0).values()
    assert first.cpu_percent is None and first.rss_bytes > 0  # nothing measured yet: no figure, not 0 %
    _busy(0.3)
    [second] = process_stats(registry.list(), sample=0).values()
    assert second.cpu_percent > 10


def test_a_sampled_call_gives_a_figure_at_once(store, monkeypatch):
    monkeypatch.setattr(process_stats_module, "_WATCHED", {})
    registry = WorkerRegistry(store)
    registry.register("w-self", host_id(), os.getpid(), create_time(os.getpid()), None, None)
    [stats] = process_stats(registry.list(), sample=0.05).values()
    assert stats.cpu_percent is not None
