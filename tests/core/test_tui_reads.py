"""The reads the TUI's Jobs, DLQ and pulse make of the store: a sorted page, a capped count of a
search, the last line a dead job printed, runs per minute."""

from __future__ import annotations

import pytest

from queuectl.core.errors import InvalidInput
from queuectl.core.records import RunStart
from queuectl.core.results import exited
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec


def add(q, job_id: str, command: str = "true", **fields) -> str:
    return q.enqueue([JobSpec(command, id=job_id, cwd="/srv", **fields)], Settings())[0]


def run(q, clock, job_id: str, exit_code: int, output: bytes = b"", took: float = 1.0) -> None:
    claimed = q.claim("w-1")
    assert claimed is not None and claimed.id == job_id
    start = RunStart("host-a", 100, None, clock.now())
    clock.advance(took)
    q.finish(claimed, "w-1", start, exited(exit_code, None if exit_code == 0 else f"exit code {exit_code}"),
             Settings(max_retries=0), output=output, output_bytes=len(output))


def test_list_jobs_sorts_a_page_by_a_column_newest_first_among_equals(queue):
    for job_id, priority in (("a", 1), ("b", 5), ("c", 1), ("d", 0)):
        add(queue, job_id, priority=priority)
    assert [j.id for j in queue.list_jobs(sort="priority")] == ["b", "c", "a", "d"]
    # ascending is the exact reverse (oldest first among equals): one index serves both (m0011)
    assert [j.id for j in queue.list_jobs(sort="priority", descending=False)] == ["d", "a", "c", "b"]
    assert [j.id for j in queue.list_jobs(sort="id", descending=False, limit=2)] == ["a", "b"]
    assert [j.id for j in queue.list_jobs(sort="created", descending=False)] == ["a", "b", "c", "d"]
    with pytest.raises(InvalidInput):
        queue.list_jobs(sort="nope")


def test_search_matches_the_queue_too(queue):
    add(queue, "one", "make", queue="media")
    add(queue, "two", "make media")
    add(queue, "three", "ls")
    assert {j.id for j in queue.list_jobs(search="media")} == {"one", "two"}
    assert queue.list_jobs(search="zzz") == []


def test_last_output_lines_are_from_the_latest_run(queue, clock):
    add(queue, "died", "x", max_retries=0)
    run(queue, clock, "died", 10, b"starting\nrsync error: socket IO (code 10)\n\n  \n")
    add(queue, "quiet", "y", max_retries=0)
    run(queue, clock, "quiet", 1, b"")
    assert queue.last_output_lines(["died", "quiet", "unknown"]) == {"died": "rsync error: socket IO (code 10)"}
    assert queue.last_output_lines([]) == {}


def test_finished_per_minute_splits_completed_and_failed(queue, clock):
    since = clock.now()
    add(queue, "ok1")
    run(queue, clock, "ok1", 0, took=10)
    add(queue, "bad")
    run(queue, clock, "bad", 2, took=60)
    add(queue, "ok2")
    run(queue, clock, "ok2", 0, took=1)
    assert sorted(queue.finished_per_minute(since)) == [(0, 1, 0), (1, 1, 1)]
    assert queue.finished_per_minute(clock.now() + 1) == []


def test_finished_per_queue_minute_counts_each_queue_in_a_range(queue, clock):
    since = clock.now()
    add(queue, "ok1", queue="media")
    run(queue, clock, "ok1", 0, took=10)
    add(queue, "bad", queue="media")
    run(queue, clock, "bad", 2, took=60)
    add(queue, "ok2")
    run(queue, clock, "ok2", 0, took=1)
    assert sorted(queue.finished_per_queue_minute(since, clock.now() + 1)) == [
        ("default", 1, 1, 0), ("media", 0, 1, 0), ("media", 1, 0, 1)]
    assert queue.finished_per_queue_minute(since, since + 60) == [("media", 0, 1, 0)]  # until is excluded
