"""Queues with limits and pauses, dependencies, unique keys, holds, start and edit, and why a job
waits: through JobQueue on both stores, with a frozen clock."""

from __future__ import annotations

import pytest

from queuectl.core.errors import InvalidInput, InvalidJobSpec, InvalidTransition
from queuectl.core.queues import QueueTable
from queuectl.core.records import RunStart
from queuectl.core.results import Cancelled, Completed, Failed
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec, parse_jobs_text
from queuectl.core.states import JobState
from queuectl.core.why import load_wait_context, waiting_reason, why_waiting

S = Settings()


def add(q, command="true", **fields) -> str:
    return q.enqueue([JobSpec(command=command, **fields)], S)[0]


def finish(queue, job, result=None, worker="w-1"):
    number = queue.start_run(job, worker, RunStart("host", None, None, 0.0))
    return queue.finish(job, worker, number, result or Completed(), S)


def claimed_ids(queue, n=20, worker="w-1") -> list[str]:
    ids = []
    for _ in range(n):
        job = queue.claim(worker)
        if job is None:
            break
        ids.append(job.id)
    return ids


# ── queues ───────────────────────────────────────────────────────────────────────────────────

def test_a_queue_limit_caps_running_jobs_and_leaves_other_queues_alone(queue, store, clock):
    QueueTable(store, clock).set_limit("gpu", 1)
    gpu = [add(queue, queue="gpu") for _ in range(3)]
    default = [add(queue) for _ in range(2)]
    first = queue.claim("w-1")
    assert first.id == gpu[0]
    assert claimed_ids(queue, worker="w-2") == default  # gpu is full; default is not held back
    finish(queue, first)
    assert queue.claim("w-1").id == gpu[1]
    QueueTable(store, clock).set_limit("gpu", 0)  # no limit
    assert queue.claim("w-1").id == gpu[2]


def test_a_batch_claim_for_several_slots_never_overshoots_a_limit(queue, store, clock):
    QueueTable(store, clock).set_limit("gpu", 2)
    gpu = [add(queue, queue="gpu", priority=5) for _ in range(4)]
    default = [add(queue) for _ in range(3)]
    claimed = [job.id for worker in ("w-1", "w-2", "w-3") for job in queue.claim_many(worker, None, 4)]
    assert sorted(claimed) == sorted(gpu[:2] + default)  # every slot it could fill, two gpu at most
    assert QueueTable(store, clock).get("gpu").running == 2


def _claims_issued(queue, monkeypatch) -> list[str]:
    """The claim statements (UPDATE … RETURNING) the queue's store runs from now on."""
    issued: list[str] = []
    execute = queue.store.execute

    def counting(sql, params=()):
        if sql.lstrip().upper().startswith(("UPDATE JOB SET STATE = 'PROCESSING'", "SET LOCAL")):
            issued.append(sql)
        return execute(sql, params)

    monkeypatch.setattr(queue.store, "execute", counting)
    return issued


def test_a_short_batch_claim_is_topped_up_one_job_at_a_time_only_where_a_queue_has_a_limit(
        queue, store, clock, monkeypatch):
    issued = _claims_issued(queue, monkeypatch)
    assert queue.claim_many("w-1", None, 4) == []
    assert len(issued) == 1  # an idle worker of four slots: one claim per poll, not two

    QueueTable(store, clock).set_limit("gpu", 1)
    gpu = add(queue, queue="gpu")
    queue._limits_read_at = float("-inf")  # as a second later
    issued.clear()
    assert [job.id for job in queue.claim_many("w-1", None, 4)] == [gpu]  # no room for a batch of 4: one at a time
    assert len(issued) == 3  # the batch, the single claim that took it, the one that found nothing more


def test_a_paused_queue_is_skipped_until_resumed(queue, store, clock):
    table = QueueTable(store, clock)
    table.pause("batch")  # before any job uses it: the row is made, and persists
    held_back = add(queue, queue="batch", priority=5)
    other = add(queue)
    assert claimed_ids(queue) == [other]
    table.resume("batch")
    assert claimed_ids(queue) == [held_back]


def test_queue_list_counts_per_state_and_oldest_wait(queue, store, clock):
    table = QueueTable(store, clock)
    add(queue, queue="gpu")
    clock.advance(30)
    add(queue, queue="gpu")
    add(queue)
    table.set_limit("gpu", 2)
    queue.claim("w-1", ["default"])
    clock.advance(10)
    infos = {info.name: info for info in table.list()}
    assert set(infos) == {"default", "gpu"}
    gpu = infos["gpu"]
    assert (gpu.limit, gpu.paused, gpu.counts["pending"], gpu.running, gpu.oldest_wait) == (2, False, 2, 0, 40.0)
    assert infos["default"].running == 1 and infos["default"].oldest_wait is None
    assert gpu.to_json()["limit"] == 2 and infos["default"].to_json()["limit"] is None


@pytest.mark.parametrize("bad", ["-1", "x", "1.5", 10**9])
def test_a_bad_limit_or_queue_name_is_refused(store, clock, bad):
    with pytest.raises(InvalidInput):
        QueueTable(store, clock).set_limit("gpu", bad)
    with pytest.raises(InvalidInput):
        QueueTable(store, clock).pause("no spaces")


# ── dependencies ─────────────────────────────────────────────────────────────────────────────

def test_a_job_runs_only_after_every_dependency_completed(queue):
    a, b = add(queue), add(queue)
    c = add(queue, after=(a, b), priority=10)
    job_a = queue.claim("w-1")
    assert job_a.id == a  # c is first in line by priority but waits
    job_b = queue.claim("w-2")
    assert queue.claim("w-3") is None
    finish(queue, job_a, worker="w-1")
    assert queue.claim("w-3") is None  # b still runs
    finish(queue, job_b, worker="w-2")
    assert queue.claim("w-3").id == c
    assert queue.dependencies([c]) == {c: [(a, "completed"), (b, "completed")]}


def test_a_dead_dependency_cancels_its_dependants_and_a_retry_revives_them(queue, clock):
    a = add(queue, id="a", max_retries=0)
    b = add(queue, id="b", after=("a",))
    c = add(queue, id="c", after=("b",))
    finish(queue, queue.claim("w-1"), Failed(1, "exit code 1"))
    assert [(j.state, j.last_error) for j in queue.get_many([b, c])] == [
        ("cancelled", "dependency a is dead"), ("cancelled", "dependency b is cancelled")]
    queue.retry([a])
    assert [j.state for j in queue.get_many([a, b, c])] == ["pending"] * 3
    finish(queue, queue.claim("w-1"))
    assert queue.claim("w-1").id == b


def test_a_cancelled_dependency_cancels_dependants_but_not_after_a_completed_one(queue):
    done, a = add(queue), add(queue)
    finish(queue, queue.claim("w-1"))
    b = add(queue, after=(a, done))
    queue.cancel([a])
    assert queue.get(b).last_error == f"dependency {a} is cancelled"
    late = add(queue, after=(a,))  # after a job that can no longer complete: cancelled at once
    assert queue.get(late).state == "cancelled"


def test_a_running_dependency_cancelled_cancels_dependants_at_its_end(queue):
    a = add(queue)
    b = add(queue, after=(a,))
    job = queue.claim("w-1")
    queue.cancel([a])
    finish(queue, job, Cancelled())
    assert queue.get(b).state == "cancelled"


def test_deleting_a_waiting_dependency_cancels_its_dependants(queue):
    a = add(queue)
    b = add(queue, after=(a,))
    queue.delete([a])
    assert (queue.get(b).state, queue.get(b).last_error) == ("cancelled", f"dependency {a} was deleted")


def test_unknown_dependency_or_cycle_is_refused_and_nothing_is_added(queue):
    with pytest.raises(InvalidJobSpec, match="no such job: nope"):
        queue.enqueue([JobSpec("true", id="x"), JobSpec("true", after=("nope",))], S)
    specs = parse_jobs_text('[{"id": "p", "command": "true", "after": ["q"]}, '
                            '{"id": "q", "command": "true", "after": "p"}]', 0.0)
    with pytest.raises(InvalidJobSpec, match="cycle: p -> q -> p"):
        queue.enqueue(specs, S)
    with pytest.raises(InvalidJobSpec, match="cycle"):
        queue.enqueue([JobSpec("true", id="me", after=("me",))], S)
    assert queue.counts().total == 0


def test_jobs_of_one_input_may_run_after_each_other_in_any_order(queue):
    specs = parse_jobs_text('{"id": "late", "command": "true", "after": ["early"]}\n'
                            '{"id": "early", "command": "true"}', 0.0)
    queue.enqueue(specs, S)
    assert claimed_ids(queue) == ["early"]


# ── unique keys ──────────────────────────────────────────────────────────────────────────────

def test_a_unique_key_returns_the_waiting_or_running_job(queue):
    first = queue.enqueue_jobs([JobSpec("true", unique="nightly")], S)[0]
    again = queue.enqueue_jobs([JobSpec("echo other", unique="nightly")], S)[0]
    assert (first.existing, again.existing, again.id) == (False, True, first.id)
    job = queue.claim("w-1")
    assert queue.enqueue_jobs([JobSpec("true", unique="nightly")], S)[0].id == first.id  # running holds it too
    finish(queue, job)
    fresh = queue.enqueue_jobs([JobSpec("true", unique="nightly")], S)[0]
    assert not fresh.existing and fresh.id != first.id
    assert queue.counts().total == 2


def test_a_unique_key_twice_in_one_input_makes_one_job(queue):
    added = queue.enqueue_jobs([JobSpec("true", unique="k"), JobSpec("true"), JobSpec("true", unique="k")], S)
    assert [a.existing for a in added] == [False, False, True] and added[0].id == added[2].id
    assert queue.counts()["pending"] == 2


def test_a_retry_that_would_share_a_live_unique_key_is_refused(queue):
    old = add(queue, unique="k", max_retries=0)
    finish(queue, queue.claim("w-1"), Failed(1, "x"))
    add(queue, unique="k")
    with pytest.raises(InvalidTransition, match="holds its unique key"):
        queue.retry([old])


# ── hold, start, edit, labels ────────────────────────────────────────────────────────────────

def test_a_held_job_never_runs_until_released(queue):
    held = add(queue, hold=True)
    other = add(queue)
    assert claimed_ids(queue) == [other]
    queue.release_held([held])
    assert claimed_ids(queue) == [held]
    with pytest.raises(InvalidTransition):
        queue.hold([held])  # running now


def test_start_makes_a_job_due_now_but_keeps_its_dependencies(queue, clock):
    later = add(queue, run_at=clock.now() + 3600)
    dep = add(queue, hold=True)
    waits = add(queue, after=(dep,), run_at=clock.now() + 3600)
    queue.start([later, waits])
    assert claimed_ids(queue) == [later]


def test_edit_changes_a_waiting_job_only(queue, clock):
    job_id = add(queue, label="old")
    record = queue.edit(job_id, {"command": "echo new", "priority": 7, "queue": "gpu", "env": {"A": "1"},
                                 "run_at": "+60", "label": "new"})
    assert (record.command, record.priority, record.queue, record.env, record.label) == (
        "echo new", 7, "gpu", {"A": "1"}, "new")
    assert record.run_at == clock.now() + 60
    assert "gpu" in QueueTable(queue.store, clock).rows()
    with pytest.raises(InvalidJobSpec, match="state: cannot be edited"):
        queue.edit(job_id, {"state": "completed"})
    clock.advance(60)
    queue.claim("w-1")
    with pytest.raises(InvalidTransition, match="only waiting jobs"):
        queue.edit(job_id, {"priority": 1})


def test_labels_are_listed_and_filtered(queue):
    a = add(queue, label="nightly")
    add(queue)
    assert [j.id for j in queue.list_jobs(label="nightly")] == [a]
    assert queue.count_jobs(label="nightly") == 1


# ── why a job waits ──────────────────────────────────────────────────────────────────────────

def test_why_a_job_waits_names_the_first_thing_to_act_on(queue, store, clock, config, registry):
    table = QueueTable(store, clock)

    def why(job_id):
        return why_waiting(queue, queue.get(job_id)).text

    assert why(add(queue, hold=True)).startswith("held")
    blocker = add(queue, id="blocker", hold=True)
    assert why(add(queue, after=(blocker,))) == "waiting for blocker (pending)"
    assert why(add(queue, run_at=clock.now() + 5)) == "due in 5 s (run_at)"
    assert why(add(queue)) == "no live worker (queuectl worker start)"
    registry.register("w-1", "host", 1, 0.0, ["default"], None)
    assert why(add(queue, queue="gpu")) == "no live worker serves queue gpu"
    ready = add(queue)
    assert why(ready).startswith("ready")
    table.set_limit("default", 1)
    queue.claim("w-1")
    assert why(ready) == "queue default full (1/1 running)"
    table.pause("default")
    assert why(ready).startswith("queue default paused")
    config.set_paused(True)
    assert why(ready).startswith("everything paused")
    assert why_waiting(queue, queue.list_jobs(state=JobState.PROCESSING)[0]) is None


def test_why_for_a_page_of_jobs_reads_the_store_once(queue, clock):
    ids = [add(queue, max_retries=3) for _ in range(3)]
    finish(queue, queue.claim("w-1"), Failed(1, "x"))
    jobs = queue.get_many(ids)
    context = load_wait_context(queue, jobs, workers=[])
    reasons = [waiting_reason(job, context) for job in jobs]
    assert reasons[0].text == "due in 2 s (retry back-off)"
    assert [r.code for r in reasons[1:]] == ["no_worker", "no_worker"]


@pytest.mark.backends("postgresql")
def test_concurrent_claims_on_postgresql_cannot_exceed_a_queue_limit(queue, store, clock, store_under_test):
    """A claim of a limited queue holds the queue's lock until its transaction ends; a concurrent
    claim skips that queue (as SKIP LOCKED skips a row), and one after it counts the new job."""
    from queuectl.core.queue import JobQueue
    from queuectl.core.store import open_store

    QueueTable(store, clock).set_limit("gpu", 1)
    gpu = [add(queue, queue="gpu") for _ in range(2)]
    other = add(queue)
    second = open_store(store_under_test)
    try:
        rival = JobQueue(second, clock)
        with store.write():  # the first claim's transaction stays open
            assert queue.claim("w-1").id == gpu[0]
            assert rival.claim("w-2").id == other  # gpu skipped while its lock is held
        assert rival.claim("w-2") is None  # committed: gpu is full (1/1)
    finally:
        second.close()
