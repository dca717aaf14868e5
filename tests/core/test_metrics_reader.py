"""MetricsReader's per-queue counts past the counting cap (one big queue: total minus the others;
two: both counted) and its earliest due time across priorities, on both stores, with a frozen clock."""

from __future__ import annotations

import pytest

from queuectl.core import metrics
from queuectl.core.metrics import MetricsReader
from queuectl.core.specs import JobSpec


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(metrics, "COUNT_CAP", 3)


def enqueue(queue, config, name: str, n: int, **fields) -> None:
    queue.enqueue([JobSpec(command="true", queue=name, **fields) for _ in range(n)], config.settings())


@pytest.mark.parametrize("sizes", [{"big": 7, "small": 2, "tiny": 1}, {"a": 5, "b": 4, "c": 1}],
                         ids=["one-past-the-cap", "two-past-the-cap"])
def test_waiting_jobs_per_queue_past_the_counting_cap(store, queue, config, clock, small_cap, sizes):
    """One queue past the cap is the total minus the others; two past it are both counted."""
    for name, n in sizes.items():
        enqueue(queue, config, name, n)
    loads = MetricsReader(store, clock=clock).read().queues
    assert {q: load.pending for q, load in loads.items()} == sizes


def test_oldest_waiting_looks_at_every_priority(store, queue, config, clock):
    enqueue(queue, config, "q", 1, priority=-3)
    clock.advance(30)
    for p in (9, 4, 0):
        enqueue(queue, config, "q", 1, priority=p)
    enqueue(queue, config, "q", 1, priority=5, run_at=clock.now() + 600)  # not due yet
    clock.advance(10)
    assert MetricsReader(store, clock=clock).read().queues["q"].oldest_waiting == pytest.approx(40)


def test_runs_are_counted_by_the_outcome_their_finish_recorded(store, queue, config, clock):
    """run.outcome comes from the RunResult (m0010): the counters do not read the error's wording."""
    from queuectl.core.records import RunStart
    from queuectl.core.results import Cancelled, Completed, Failed, Interrupted, StartFailed, TimedOut

    results = [Completed(), Failed(3, "exit code 3"), TimedOut(5.0), StartFailed("could not start: no such dir"),
               Cancelled(), Interrupted()]
    enqueue(queue, config, "q", len(results))
    for result in results:
        job = queue.claim("w-1")
        number = queue.start_run(job, "w-1", RunStart("host", None, None, clock.now()))
        queue.finish(job, "w-1", number, result, config.settings())
    recorded = [row[0] for row in store.execute("SELECT outcome FROM run ORDER BY seq").fetchall()]
    assert recorded == ["succeeded", "failed", "timeout", "could_not_start", "cancelled", "interrupted"]
    clock.advance(1)
    finished = MetricsReader(store, clock=clock).read().runs_finished
    assert {k: n for k, n in finished.items() if n} == dict.fromkeys(recorded, 1)
