"""Durable hooks: a job of their own, inserted by the finish that fires them, with the parent's
facts in the environment and never in the command text."""

from __future__ import annotations

import pytest

from queuectl.core.errors import InvalidInput, InvalidJobSpec
from queuectl.core.hooks import queue_hooks, set_queue_hooks
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import WorkerLost, exited
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec, spec_from_mapping

HOOKS = {"on_success": "echo ok", "on_failure": "echo failed", "on_dead": "echo dead"}


def _run_once(queue: JobQueue, exit_code: int, worker: str = "w"):
    job = queue.claim(worker)
    assert job is not None
    run = RunStart("h", 1, None, queue.clock.now())
    return job, queue.finish(job, worker, run, exited(exit_code, None), Settings())


def _hooks_of(queue: JobQueue, parent: str) -> list[tuple[str, dict]]:
    rows = queue.store.execute(
        queue.store.sql("SELECT id FROM job WHERE parent_id = ? ORDER BY seq"), (parent,)
    ).fetchall()
    return [(j.command, j.env) for j in queue.get_many([r[0] for r in rows])]


def test_a_completed_job_enqueues_its_success_hook_with_the_facts_in_its_environment(queue):
    [parent] = queue.enqueue([JobSpec(command="true", queue="io", **HOOKS)], Settings())
    _run_once(queue, 0)
    assert _hooks_of(queue, parent) == [("echo ok", {
        "QUEUECTL_PARENT_ID": parent, "QUEUECTL_PARENT_STATE": "completed", "QUEUECTL_PARENT_EXIT_CODE": "0",
        "QUEUECTL_PARENT_ATTEMPT": "1", "QUEUECTL_PARENT_QUEUE": "io"})]
    hook = queue.get_many([queue.store.execute("SELECT id FROM job WHERE parent_id IS NOT NULL").fetchone()[0]])[0]
    assert (hook.state, hook.queue, hook.parent_id) == ("pending", "io", parent)
    assert queue.counts()["pending"] == 1  # counted like any enqueued job


def test_each_failed_run_fires_on_failure_and_the_last_one_on_dead_too(queue, clock):
    [parent] = queue.enqueue([JobSpec(command="false", max_retries=1, **HOOKS)], Settings())
    _run_once(queue, 3)
    assert [(c, e["QUEUECTL_PARENT_STATE"], e["QUEUECTL_PARENT_ATTEMPT"]) for c, e in _hooks_of(queue, parent)] == [
        ("echo failed", "failed", "1")]
    clock.advance(60)
    # the hook job is due now as well: claim the parent by hand through the queue order
    queue.store.execute("UPDATE job SET priority = -1 WHERE parent_id IS NOT NULL")
    _run_once(queue, 4)
    assert [(c, e["QUEUECTL_PARENT_STATE"], e["QUEUECTL_PARENT_EXIT_CODE"]) for c, e in _hooks_of(queue, parent)] == [
        ("echo failed", "failed", "3"), ("echo failed", "dead", "4"), ("echo dead", "dead", "4")]


def test_a_hook_job_fires_no_hooks_of_its_own(queue):
    set_queue_hooks(queue.store, "default", on_failure="exit 1")
    queue.enqueue([JobSpec(command="false", max_retries=0)], Settings())
    _run_once(queue, 1)
    hook, _ = _run_once(queue, 1)  # the queue's failure hook, failing in the same queue
    assert hook.command == "exit 1"
    assert queue.store.execute("SELECT count(*) FROM job").fetchone()[0] == 2  # no chain


def test_queue_hooks_fire_after_the_jobs_own(queue):
    set_queue_hooks(queue.store, "default", on_success="notify")
    [parent] = queue.enqueue([JobSpec(command="true", on_success="own")], Settings())
    _run_once(queue, 0)
    assert [c for c, _ in _hooks_of(queue, parent)] == ["own", "notify"]
    assert set_queue_hooks(queue.store, "default", on_success=None) == queue_hooks(queue.store, "default")
    assert queue_hooks(queue.store, "default").on_success is None


def test_a_lost_worker_s_run_fires_on_failure(queue, clock):
    [parent] = queue.enqueue([JobSpec(command="sleep 9", **HOOKS)], Settings())
    queue.claim("gone")
    queue.fail_jobs_of_lost_worker("gone", Settings())
    [(command, env)] = _hooks_of(queue, parent)
    assert command == "echo failed" and env["QUEUECTL_PARENT_ERROR"] == WorkerLost().error
    assert "QUEUECTL_PARENT_EXIT_CODE" not in env


def test_a_fenced_off_finish_fires_nothing(queue):
    [parent] = queue.enqueue([JobSpec(command="true", **HOOKS)], Settings())
    job = queue.claim("w")
    queue.fail_jobs_of_lost_worker("w", Settings())  # recovered meanwhile: one on_failure
    queue.finish(job, "w", None, exited(0, None), Settings())  # the late finisher changes nothing
    assert [c for c, _ in _hooks_of(queue, parent)] == ["echo failed"]


def test_cancelled_jobs_fire_no_hooks(queue):
    [parent] = queue.enqueue([JobSpec(command="true", **HOOKS)], Settings())
    job = queue.claim("w")
    queue.cancel([parent])
    queue.finish(job, "w", None, exited(1, None), Settings())
    assert queue.get(parent).state == "cancelled" and _hooks_of(queue, parent) == []


@pytest.mark.no_store
def test_hook_fields_are_checked_like_commands():
    assert spec_from_mapping({"command": "x", "on_dead": "page me"}, 0).on_dead == "page me"
    with pytest.raises(InvalidJobSpec, match="on_failure: must not be empty"):
        spec_from_mapping({"command": "x", "on_failure": " "}, 0)
    with pytest.raises(InvalidJobSpec, match="parent_id"):
        spec_from_mapping({"command": "x", "parent_id": "y"}, 0)


def test_queue_hooks_refuse_bad_names(store):
    with pytest.raises(InvalidInput, match="queue: must match"):
        set_queue_hooks(store, "no spaces", on_success="x")
