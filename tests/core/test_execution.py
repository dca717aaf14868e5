"""One run's supervision (core/execution.py) driven alone, with a fake heartbeat: no worker, no
store. Each test runs a real `sh -c` job in its own process group and checks the RunResult it ends
with, and that nothing of it survives."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from queuectl.core.execution import JobRun, Tick
from queuectl.core.records import ClaimedJob, RunStart
from queuectl.core.results import (
    Cancelled,
    ClaimLost,
    Completed,
    Failed,
    Fenced,
    Interrupted,
    StartFailed,
    TimedOut,
)
from queuectl.core.settings import Settings

pytestmark = pytest.mark.no_store

SETTINGS = Settings(kill_grace=0.2)
# Unique to this process: a job's environment marks it as this worker's, and a rescue of a worker
# of the same id anywhere on the machine (another test, another suite) would kill it by that mark.
WORKER_ID = f"w-exec-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def job(command: str, *, timeout: float = 0.0, cwd: str | None = None, keep_children: bool = False) -> ClaimedJob:
    # a job id of its own: two runs with one marker would sweep each other's processes as leftovers
    return ClaimedJob(f"j-{uuid.uuid4().hex[:8]}", command, cwd, None, timeout, 1, 3, "default", keep_children)


def start(command: str, **kwargs) -> JobRun:
    return JobRun(job(command, **kwargs), worker_id=WORKER_ID, host="h", settings=SETTINGS)


def quiet(run: JobRun) -> Tick | None:
    return Tick()


def gone(pgid: int) -> bool:
    """No live process is left in the group (a zombie waiting for a reaper that is not us is dead)."""
    import psutil

    def alive_in_group(proc: psutil.Process) -> bool:
        try:
            return os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE
        except (OSError, psutil.Error):
            return False

    return not any(alive_in_group(p) for p in psutil.process_iter())


def test_a_job_that_exits_0_completes_with_its_output():
    run = start("echo hello")
    result = run.until_done(quiet, every=0.05)
    assert result == Completed() and run.output == b"hello\n" and run.ended_at is not None


def test_a_job_that_exits_non_zero_fails_with_its_exit_code():
    assert start("exit 3").until_done(quiet, every=0.05) == Failed(3, "exit code 3")


def test_a_job_that_cannot_start_ends_at_once_without_a_process():
    run = start("true", cwd="/nonexistent/dir")
    assert run.done and run.proc is None and run.fds() == []
    assert isinstance(run.result(), StartFailed) and "/nonexistent/dir" in (run.result().error or "")


def test_a_job_past_its_timeout_is_killed_as_timed_out():
    run = start("sleep 30", timeout=0.2)
    began = time.monotonic()
    result = run.until_done(quiet, every=0.05)
    assert isinstance(result, TimedOut) and result.after == 0.2 and result.exit_code == 128 + 15
    assert time.monotonic() - began < 2 and gone(run.proc.pid)


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace():
    run = start("trap '' TERM; sleep 30", timeout=0.1)
    result = run.until_done(quiet, every=0.05)
    assert isinstance(result, TimedOut) and result.exit_code == 128 + 9 and gone(run.proc.pid)


@pytest.mark.parametrize(("tick", "expected"), [
    (Tick(cancel=True), Cancelled),
    (Tick(force=True), Interrupted),
    (Tick(held=False, why_not="recovered"), ClaimLost),
    (Tick(fenced_for=16.0), Fenced),
])
def test_what_a_heartbeat_says_ends_the_run_with_its_reason(tick, expected):
    run = start("sleep 30")
    ticks = iter([Tick(), tick])
    result = run.until_done(lambda _: next(ticks, tick), every=0.05)
    assert isinstance(result, expected) and gone(run.proc.pid)


def test_a_failed_heartbeat_changes_nothing():
    run = start("sleep 0.2")
    assert run.until_done(lambda _: None, every=0.02) == Completed()


def test_a_long_run_is_recorded_once_and_its_new_output_flushed_after_each_tick():
    recorded: list[RunStart] = []
    flushed: list[tuple[bytes, int]] = []

    def record(start: RunStart) -> int:
        recorded.append(start)
        return 7

    def flush(run: JobRun, data: bytes, total: int) -> None:
        flushed.append((data, total))
        run.output_saved(total)

    run = start("echo one; sleep 0.3; echo two; sleep 0.3")
    assert run.until_done(quiet, every=0.1, record=record, flush=flush) == Completed()
    assert len(recorded) == 1 and recorded[0].pid == run.proc.pid and run.run == 7
    assert b"".join(data for data, _ in flushed) == b"one\ntwo\n" and flushed[-1][1] == 8


def test_a_quick_run_is_never_recorded_apart_from_its_result():
    recorded: list[RunStart] = []
    run = start("true")
    run.until_done(quiet, every=0.05, record=lambda s: recorded.append(s) or 1)
    assert recorded == [] and isinstance(run.run, RunStart)


def test_leftovers_of_a_job_that_exited_are_ended_before_its_result():
    run = start("sleep 30 & echo $!")
    assert run.until_done(quiet, every=0.05) == Completed()
    leftover = int(run.output.split()[0])
    assert not os.path.exists(f"/proc/{leftover}") or open(f"/proc/{leftover}/stat").read().split()[2] == "Z"


def test_a_run_that_ended_while_its_worker_was_fenced_is_recorded_as_fenced():
    run = start("true")
    run.until_done(quiet, every=0.05)
    run.fence_ended(20.0)
    assert isinstance(run.result(), Fenced) and run.result().silent_for == 20.0


def test_two_runs_are_driven_together_by_one_select_and_end_independently():
    import select

    slow, fast = start("sleep 30"), start("echo fast")
    while not fast.done:
        ready, _, _ = select.select(slow.fds() + fast.fds(), [], [], 0.1)
        slow.service(ready)
        fast.service(ready)
    assert fast.result() == Completed() and not slow.done
    slow.hear(Tick(cancel=True))
    slow.until_done(quiet, every=0.05)
    assert isinstance(slow.result(), Cancelled)
