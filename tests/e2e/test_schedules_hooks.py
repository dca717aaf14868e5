"""Schedules, durable hooks and retention under real worker processes, on both stores."""

from __future__ import annotations

import re
import time

from e2e_support import wait_until
from queuectl.core.clock import FrozenClock
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import exited
from queuectl.core.schedules import get_schedule
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec


def _slot_jobs(q) -> list[tuple[float, str]]:
    return q.store().execute("SELECT run_at, state FROM job WHERE env LIKE ? ORDER BY run_at",
                             ("%QUEUECTL_SCHEDULE%",)).fetchall()


def test_three_workers_enqueue_each_slot_of_a_schedule_once(q):
    """No scheduler daemon: every worker looks for due slots; each slot still gets one job."""
    q.fast()
    q.run("schedule", "add", "tick", "--every", "1s", "--", "true")
    store = q.store()
    sched = get_schedule(store, "tick")
    q.start_workers(3)
    wait_until(lambda: sum(state == "completed" for _, state in _slot_jobs(q)) >= 3, timeout=30,
               message="three slots of the schedule to run")
    slots = [run_at for run_at, _ in _slot_jobs(q)]
    assert len(slots) == len(set(slots)), f"a slot was enqueued twice: {slots}"
    assert all((s - sched.anchor_at) % 1.0 == 0 for s in slots)  # slots, not the moments workers looked
    last = get_schedule(store, "tick")
    assert last.last_run_at == slots[-1] and last.next_run_at > last.last_run_at


def test_hooks_run_as_jobs_with_the_parent_facts_in_their_environment(q):
    q.fast()
    record = 'echo "$QUEUECTL_PARENT_ID $QUEUECTL_PARENT_STATE $QUEUECTL_PARENT_EXIT_CODE $QUEUECTL_PARENT_ATTEMPT"'
    bad = q.enqueue("--max-retries", "1", "--on-failure", f"{record} >> failures", "--on-dead", f"{record} >> dead",
                    "echo '$(touch pwned)'; exit 4")
    good = q.enqueue("--on-success", f"{record} >> ok", "true")
    q.start_workers(1)
    q.wait_state(bad, "dead", timeout=30)
    wait_until(lambda: q.counts()["completed"] == 5, timeout=30, message="the parent and its four hook jobs")
    assert (q.work / "failures").read_text().splitlines() == [f"{bad} failed 4 1", f"{bad} dead 4 2"]
    assert (q.work / "dead").read_text() == f"{bad} dead 4 2\n"
    assert (q.work / "ok").read_text() == f"{good} completed 0 1\n"
    assert not (q.work / "pwned").exists()


def test_a_worker_prunes_finished_jobs_past_their_age(q):
    q.config("keep_completed", "1d")
    q.config("keep_runs", "1")
    long_ago = FrozenClock(time.time() - 3 * 86400)
    queue = JobQueue(q.store(), long_ago)
    old = queue.enqueue([JobSpec(command="true") for _ in range(30)], Settings())
    for _ in old:
        job = queue.claim("w-old")
        queue.finish(job, "w-old", RunStart("h", 1, None, long_ago.now()), exited(0, None), Settings())
    [fresh] = q.enqueue("exit 1", "--max-retries", "2").split()
    q.fast()
    q.run("worker", "run", "--burst", "--quiet")  # one maintenance pass, and the fresh job's first run
    wait_until(lambda: q.counts()["completed"] == 0, timeout=15, message="the old jobs to be pruned")
    assert JobQueue(q.store()).get_many(old) == []
    assert q.state(fresh) in ("failed", "pending", "processing", "dead")


def test_logs_follow_goes_through_the_retries_and_exits_with_the_last_status(q):
    q.fast()
    job = q.enqueue("--max-retries", "1", "--command", "echo run-$QUEUECTL_ATTEMPT; sleep 0.3; exit 4")
    follower = q.popen("logs", "-f", job)
    q.start_workers(1)
    out, err = follower.communicate(timeout=30)
    assert follower.returncode == 4, err
    assert out == "run-1\nrun-2\n"
    first, second = err.splitlines()
    assert re.fullmatch(r"run 1: exit 4; retry 2/2 in [01] s", first) and second == "run 2: exit 4; dead"
    stopped = q.run("logs", "-f", "--no-retries", "--attempt", "1", job, check=False)
    assert (stopped.returncode, stopped.stdout) == (4, "run-1\n")
