"""The state machine through JobQueue, on both stores (a SQLite file, PostgreSQL) with a frozen clock."""

from __future__ import annotations

import os

import pytest

from queuectl.core.errors import DuplicateJob, InvalidTransition, JobNotFound
from queuectl.core.records import RunStart
from queuectl.core.rescue import rescue_lost_workers
from queuectl.core.results import Cancelled, Completed, Failed, Interrupted
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.states import INTERRUPTED, WORKER_LOST, JobState

S = Settings()


def add(q, command="true", **fields) -> str:
    return q.enqueue([JobSpec(command=command, **fields)], S)[0]


COMPLETED = Completed()


def run_once(queue, result=COMPLETED, worker="w-1"):
    job = queue.claim(worker)
    assert job is not None
    number = queue.start_run(job, worker, RunStart("host", None, None, 0.0))
    return job, queue.finish(job, worker, number, result, S)


def test_successful_run_completes_the_job(queue):
    job_id = add(queue)
    job, result = run_once(queue)
    assert job.id == job_id and job.attempts == 1
    assert result.state is JobState.COMPLETED
    record = queue.get(job_id)
    assert (record.state, record.attempts, record.exit_code) == ("completed", 1, 0)
    assert [r.exit_code for r in queue.runs(job_id)] == [0]


@pytest.mark.parametrize("max_retries, runs_before_dead", [(0, 1), (1, 2), (3, 4)])
def test_failed_job_moves_to_dlq_after_max_retries(queue, clock, max_retries, runs_before_dead):
    job_id = add(queue, max_retries=max_retries)
    for run in range(1, runs_before_dead + 1):
        clock.advance(10_000)
        _, result = run_once(queue, Failed(3, "exit code 3"))
        expected = JobState.DEAD if run == runs_before_dead else JobState.FAILED
        assert result.state is expected, f"run {run}"
    assert queue.get(job_id).attempts == runs_before_dead
    clock.advance(10_000)
    assert queue.claim("w-1") is None


def test_failed_job_is_due_after_exponential_backoff(queue, clock):
    job_id = add(queue, max_retries=5)
    _, result = run_once(queue, Failed(1, "exit code 1"))
    assert result.run_at == clock.now() + 2 ** 1
    assert queue.claim("w-1") is None  # not due yet
    clock.advance(1.999)
    assert queue.claim("w-1") is None
    clock.advance(0.001)
    _, result = run_once(queue, Failed(1, "exit code 1"))
    assert result.run_at == clock.now() + 2 ** 2
    assert queue.get(job_id).attempts == 2


def test_backoff_is_capped_by_backoff_max(queue, clock):
    add(queue, max_retries=50)
    capped = Settings(backoff_max=10.0)
    for _ in range(6):
        clock.advance(1000)
        job = queue.claim("w-1")
        result = queue.finish(job, "w-1", None, Failed(1, "x"), capped)
    assert result.run_at == clock.now() + 10.0


def test_claim_orders_by_priority_then_oldest(queue, clock):
    low = add(queue, priority=0)
    clock.advance(1)
    high = add(queue, priority=5)
    clock.advance(1)
    low2 = add(queue, priority=0)
    order = [queue.claim("w").id for _ in range(3)]
    assert order == [high, low, low2]


def test_claim_respects_run_at_and_queue(queue, clock):
    later = add(queue, run_at=clock.now() + 60)
    other = add(queue, queue="mail")
    assert queue.claim("w", ["default"]) is None
    assert queue.claim("w", ["mail"]).id == other
    clock.advance(60)
    assert queue.claim("w").id == later


def test_a_job_is_claimed_once(queue):
    add(queue)
    assert queue.claim("w-1") is not None
    assert queue.claim("w-2") is None


def test_a_claim_takes_no_more_jobs_than_asked_when_the_job_table_has_statistics(queue, store):
    # A store upgraded with jobs in it has statistics of a tiny job table (its migrations built
    # indexes on it); PostgreSQL then planned the claim as a loop that took every due job at once.
    # Statistics of one job, two due: as after such an upgrade and one enqueue.
    first = add(queue)
    store.execute("ANALYZE job")
    second = add(queue)
    job = queue.claim("w-1")
    assert job is not None and job.id == first
    assert (queue.get(first).state, queue.get(second).state) == ("processing", "pending")


def test_paused_queue_claims_nothing(queue, config):
    add(queue)
    config.set_paused(True)
    assert queue.claim("w") is None
    config.set_paused(False)
    assert queue.claim("w") is not None


def test_duplicate_id_is_refused_and_bulk_is_all_or_nothing(queue):
    add(queue, id="a")
    with pytest.raises(DuplicateJob):
        queue.enqueue([JobSpec(command="x", id="b"), JobSpec(command="x", id="a")], S)
    with pytest.raises(DuplicateJob):
        queue.enqueue([JobSpec(command="x", id="c"), JobSpec(command="x", id="c")], S)
    assert queue.counts().total == 1


def test_enqueue_uses_settings_defaults(queue):
    job_id = queue.enqueue([JobSpec(command="x")], Settings(max_retries=7, job_timeout=9.0))[0]
    record = queue.get(job_id)
    assert (record.max_retries, record.timeout) == (7, 9.0)


def test_finish_of_a_recovered_job_changes_nothing(queue, store):
    """Fencing: once a job was rescued from its worker, that worker's late result is ignored."""
    job_id = add(queue, max_retries=3)
    job = queue.claim("w-old")
    number = queue.start_run(job, "w-old", RunStart("host", None, None, 0.0))
    queue.fail_jobs_of_lost_worker("w-old", S)
    before = queue.get(job_id)
    assert before.state == "failed" and before.last_error == WORKER_LOST
    result = queue.finish(job, "w-old", number, Completed(), S, output=b"late", output_bytes=4)
    assert result.state is None
    after = queue.get(job_id)
    assert after == before
    assert [r.error for r in queue.runs(job_id)] == [WORKER_LOST]


def test_finish_by_another_worker_or_attempt_is_fenced(queue, clock):
    add(queue, max_retries=3)
    job = queue.claim("w-1")
    queue.fail_jobs_of_lost_worker("w-1", S)
    clock.advance(100)
    job2 = queue.claim("w-2")
    assert job2.attempts == 2
    assert queue.finish(job, "w-1", None, Completed(), S).state is None
    assert queue.finish(job2, "w-2", None, Completed(), S).state is JobState.COMPLETED


def test_lost_worker_without_run_record_still_gets_a_lost_run(queue):
    job_id = add(queue, max_retries=0)
    queue.claim("w-gone")
    assert queue.fail_jobs_of_lost_worker("w-gone", S) == [(job_id, JobState.DEAD)]
    runs = queue.runs(job_id)
    assert [(r.number, r.error) for r in runs] == [(1, WORKER_LOST)]


def test_interrupted_run_goes_back_to_pending_uncounted(queue):
    job_id = add(queue, max_retries=0)
    _, result = run_once(queue, Interrupted(143))
    assert result.state is JobState.PENDING
    record = queue.get(job_id)
    assert (record.state, record.attempts) == ("pending", 0)
    assert queue.runs(job_id)[0].error == INTERRUPTED


def test_cancel_waiting_and_running_jobs(queue, registry, clock):
    registry.register("w-1", "host", 1, 1.0, None, None)
    first, second = add(queue), add(queue)
    claimed = queue.claim("w-1")
    running = claimed.id
    waiting = second if running == first else first
    result = queue.cancel([waiting, running])
    assert result == {waiting: JobState.CANCELLED, running: JobState.PROCESSING}
    assert registry.heartbeat("w-1").cancel_job_id == running
    finished = queue.finish(claimed, "w-1", None, Cancelled(143), S)
    assert finished.state is JobState.CANCELLED
    with pytest.raises(InvalidTransition):
        queue.cancel([running])


def test_retry_delete_are_all_or_nothing(queue):
    done = add(queue, id="done")
    run_once(queue)
    pending = add(queue, id="pend")
    with pytest.raises(InvalidTransition):
        queue.retry([pending])
    with pytest.raises(InvalidTransition):
        queue.retry([done])
    assert queue.retry([done], force=True) == [done]
    assert queue.get(done).state == "pending" and queue.get(done).attempts == 0
    with pytest.raises(JobNotFound):
        queue.delete([pending, "nope"])
    assert queue.counts().total == 2
    queue.claim("w")
    with pytest.raises(InvalidTransition):
        queue.delete([done, pending])
    assert queue.counts().total == 2


def test_retry_keeps_run_history_numbered_on(queue, clock):
    job_id = add(queue, max_retries=0)
    run_once(queue, Failed(1, "exit code 1"))
    queue.retry([job_id])
    run_once(queue, Completed())
    assert [(r.number, r.attempt) for r in queue.runs(job_id)] == [(1, 1), (2, 1)]
    assert queue.output(job_id, 1).number == 1


def test_delete_removes_runs(queue, store):
    job_id = add(queue)
    run_once(queue)
    queue.delete([job_id])
    assert store.execute("SELECT count(*) FROM run").fetchone()[0] == 0


def test_purge_by_state_and_age(queue, clock):
    old = add(queue, id="old")
    run_once(queue)
    clock.advance(8 * 86400)
    new = add(queue, id="new")
    run_once(queue)
    add(queue, id="waiting")
    assert queue.purge(older_than=7 * 86400) == 1
    assert {j.id for j in queue.list_jobs()} == {new, "waiting"}
    assert old not in {j.id for j in queue.list_jobs()}


def test_counts_and_listing(queue, clock):
    for i in range(5):
        add(queue, id=f"j{i}")
        clock.advance(1)
    run_once(queue)
    counts = queue.counts()
    assert counts["pending"] == 4 and counts["completed"] == 1 and counts.total == 5
    assert [j.id for j in queue.list_jobs(limit=3)] == ["j4", "j3", "j2"]
    assert [j.id for j in queue.list_jobs(state=JobState.COMPLETED)] == ["j0"]


def test_rescue_marks_dead_pid_lost_and_fails_its_job(queue, registry, clock):
    registry.register("w-dead", "this-host", 999_999, 1.0, None, None)
    job_id = add(queue)
    queue.claim("w-dead")
    os.environ["QUEUECTL_HOST_ID"] = "this-host"
    try:
        rescued = rescue_lost_workers(queue, registry, S)
    finally:
        del os.environ["QUEUECTL_HOST_ID"]
    assert [(r.worker_id, r.jobs) for r in rescued] == [("w-dead", [(job_id, JobState.FAILED)])]
    assert registry.states(["w-dead"]) == {"w-dead": "lost"}


def test_rescue_across_hosts_waits_for_worker_timeout(queue, registry, clock):
    registry.register("w-far", "other-host", 1, 1.0, None, None)
    add(queue)
    queue.claim("w-far")
    clock.advance(S.worker_timeout - 1)
    assert rescue_lost_workers(queue, registry, S) == []
    clock.advance(2)
    assert len(rescue_lost_workers(queue, registry, S)) == 1


def test_a_live_worker_is_not_rescued_and_heartbeat_reports_lost(queue, registry, clock):
    registry.register("w-me", "other-host", 1, 1.0, None, None)
    assert rescue_lost_workers(queue, registry, S, me=None) == []
    clock.advance(S.worker_timeout + 1)
    rescue_lost_workers(queue, registry, S)
    assert registry.heartbeat("w-me").lost


def test_a_quick_run_is_recorded_with_its_result(queue, clock):
    job_id = add(queue)
    job = queue.claim("w-1")
    start = RunStart("host", 123, 1.5, clock.now())
    clock.advance(0.25)
    result = queue.finish(job, "w-1", start, Completed(), S, output=b"hi", output_bytes=2)
    assert result.state is JobState.COMPLETED
    [run] = queue.runs(job_id)
    assert (run.number, run.pid, run.exit_code, run.duration) == (1, 123, 0, 0.25)
    assert queue.output(job_id).output == b"hi"


def test_finish_and_claim_ends_one_job_and_takes_the_next_in_one_transaction(queue):
    first, second = add(queue, id="first"), add(queue, id="second")
    job = queue.claim("w-1")
    done, nxt = queue.finish_and_claim(job, "w-1", RunStart("h", None, None, 0.0), Completed(), S)
    assert done.state is JobState.COMPLETED and nxt.id == second
    assert queue.get(first).state == "completed" and queue.get(second).state == "processing"


def test_a_released_job_goes_back_to_pending_uncounted(queue):
    job_id = add(queue)
    job = queue.claim("w-1")
    assert queue.release(job, "w-1")
    record = queue.get(job_id)
    assert (record.state, record.attempts) == ("pending", 0)
    assert not queue.release(job, "w-1")  # fenced: it is no longer this worker's


def test_stray_claims_of_a_worker_are_released_but_not_the_job_in_hand(queue):
    add(queue, id="in-hand")
    add(queue, id="stray")
    in_hand = queue.claim("w-1")
    queue.claim("w-1")  # its reply "lost": the worker does not know it holds this one
    assert queue.release_stray_claims("w-1", running={in_hand.id}) == ["stray"]
    assert queue.get("stray").state == "pending" and queue.get("stray").attempts == 0
    assert queue.get("in-hand").state == "processing"


# ── slots: several claims and finishes at once ──────────────────────────────────────────────


def test_claim_many_takes_up_to_the_free_slots_in_claim_order_and_no_job_twice(queue):
    ids = [add(queue, id=f"j{i}") for i in range(5)]
    first = queue.claim_many("w-1", None, 3)
    second = queue.claim_many("w-2", None, 3)
    assert sorted(j.id for j in first) == ids[:3] and sorted(j.id for j in second) == ids[3:]
    assert queue.claim_many("w-3", None, 3) == [] and queue.claim_many("w-3", None, 0) == []
    assert {queue.get(i).worker_id for i in ids[:3]} == {"w-1"} and queue.counts()["processing"] == 5


def test_finishes_that_land_together_commit_together_with_the_next_claims(queue):
    from queuectl.core.queue import Finish

    for i in range(4):
        add(queue, id=f"j{i}")
    a, b = queue.claim_many("w-1", None, 2)
    start = RunStart("h", 1, None, 0.0)
    done, claimed = queue.finish_many_and_claim(
        "w-1", [Finish(a, start, Completed()), Finish(b, start, Failed(3, "exit code 3"))], S, claim=2)
    assert [d.state for d in done] == [JobState.COMPLETED, JobState.FAILED]
    assert sorted(j.id for j in claimed) == ["j2", "j3"]
    assert [r.exit_code for r in queue.runs(b.id)] == [3]


def test_holdings_say_for_every_run_whether_the_worker_still_holds_it(queue):
    for i in range(3):
        add(queue, id=f"j{i}")
    jobs = {j.id: j.attempts for j in queue.claim_many("w-1", None, 3)}
    queue.cancel(["j1"])
    held = queue.holdings("w-1", {**jobs, "j0": 1, "gone": 1})
    assert held["j0"].held and not held["j0"].cancel_requested
    assert held["j1"].held and held["j1"].cancel_requested
    assert not held["gone"].held and held["gone"].why_not == "the job no longer exists"
    assert not queue.holdings("w-2", jobs)["j2"].held
