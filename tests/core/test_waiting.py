"""`wait` and `logs -f`'s rules: what "everything" is, the exit status, and the phrases."""

from __future__ import annotations

import pytest

from queuectl.core.records import JobRecord, RunRecord, RunStart
from queuectl.core.results import exited
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.waiting import WAIT_TIMED_OUT, exit_status, run_end, state_phrase, targets, trailer

NOW = 1_767_225_600.0


def _job(state: str, exit_code: int | None = None, attempts: int = 1, max_retries: int = 3,
         run_at: float = NOW) -> JobRecord:
    return JobRecord("j", "x", state, attempts, max_retries, 0, "default", 0, None, None, run_at, NOW, NOW, None,
                     None, None, exit_code, None)


def _run(exit_code: int | None, error: str | None, number: int = 1) -> RunRecord:
    return RunRecord("j", number, number, "w", "h", 1, NOW, NOW, exit_code, error, 0)


@pytest.mark.no_store
@pytest.mark.parametrize("jobs, timed_out, status", [
    ([_job("completed", 0), _job("completed", 0)], False, 0),
    ([_job("dead", 4)], False, 4),
    ([_job("dead", None)], False, 1),  # timed out or lost: no exit code of its own
    ([_job("cancelled", None)], False, 1),
    ([_job("dead", 4), _job("completed", 0)], False, 1),
    ([_job("processing")], True, WAIT_TIMED_OUT),
    ([], False, 0),
])
def test_the_exit_status_of_a_wait(jobs, timed_out, status):
    assert exit_status(jobs, timed_out) == status


@pytest.mark.no_store
def test_phrases_name_the_state_and_the_next_try():
    assert state_phrase(_job("failed", 4, attempts=1, run_at=NOW + 7.2), NOW) == "failed, retry 2/4 in 8 s"
    assert state_phrase(_job("processing", attempts=2), NOW) == "running (run 2/4)"
    assert state_phrase(_job("pending", run_at=NOW + 90), NOW) == "pending, due in 2 min"
    assert state_phrase(_job("dead", 4), NOW) == "dead (exit 4)"
    assert state_phrase(_job("completed", 0), NOW) == "completed"
    assert trailer(_job("failed", 4, run_at=NOW + 2), _run(4, "exit code 4"), NOW) == "run 1: exit 4; retry 2/4 in 2 s"
    assert trailer(_job("dead", None), _run(None, "timeout after 5s", 4), NOW) == "run 4: timeout after 5s; dead"
    assert trailer(_job("completed", 0), _run(0, None), NOW) == "run 1: exit 0; completed"
    assert run_end(_run(None, "worker lost")) == "worker lost"


def test_everything_waiting_or_running_is_the_default_target(queue):
    ids = queue.enqueue([JobSpec(command="x", queue=q, max_retries=0) for q in ("a", "a", "b", "a")], Settings())
    job = queue.claim("w")  # ids[0] runs
    finished = queue.claim("w")  # ids[1] ends dead
    queue.finish(finished, "w", RunStart("h", 1, None, NOW), exited(1, None), Settings())
    assert job is not None and finished is not None
    assert sorted(targets(queue)) == sorted([ids[0], ids[2], ids[3]])
    assert sorted(targets(queue, "a")) == sorted([ids[0], ids[3]])
