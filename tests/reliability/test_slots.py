"""One worker process with several slots: each slot's job is its own process group, killed,
timed out, cancelled and recovered on its own; a forced stop, a graceful stop and a kill -9 act
on every slot at once; the job a slot leaves behind is its own, never another slot's.
"""

from __future__ import annotations

import psutil
import pytest

from reliability_support import RQueuectl, alive, group_members, wait_until

LONG = "sleep 300"


def _busy(q: RQueuectl, slots: int, commands: list[str], **spec) -> tuple[object, list[str], dict[str, int]]:
    """One `worker run --count SLOTS` running `commands` at once; (worker, job ids, job id -> shell pid)."""
    q.configure(poll_interval=0.05, kill_grace=0.5)
    w = q.spawn_worker("--count", str(slots))
    q.wait_registered([w])
    ids = q.enqueue_many([{"command": c, "max_retries": 2, **spec} for c in commands])
    pids = {job_id: q.wait_running(job_id).pid for job_id in ids}
    return w, ids, pids


def _holder(q: RQueuectl, job_id: str) -> str | None:
    return q.sql("SELECT worker_id FROM job WHERE id = ?", (job_id,))[0][0]


def test_one_worker_process_runs_its_slots_jobs_at_once_and_lists_them(q: RQueuectl):
    w, ids, pids = _busy(q, 3, [LONG, LONG, LONG])
    assert {_holder(q, j) for j in ids} == {w.id}
    assert len(set(pids.values())) == 3 and all(psutil.Process(p).ppid() == w.pid for p in pids.values())
    [row] = q.workers()
    assert row["slots"] == 3 and sorted(row["job_ids"]) == sorted(ids)
    q.run("worker", "stop", "--force", "--wait", timeout=30)


def test_cancel_and_timeout_of_one_slot_leave_the_other_slots_jobs_untouched(q: RQueuectl):
    w, ids, pids = _busy(q, 3, [LONG, LONG, "sleep 1.5; echo done"])
    cancelled, other, finisher = ids
    q.run("cancel", cancelled)
    q.wait_state(cancelled, "cancelled")
    timed = q.enqueue_many([{"command": LONG, "timeout": 0.5, "max_retries": 0}])[0]
    q.wait_state(finisher, "completed")
    q.wait_state(timed, "dead")
    assert "timeout" in (q.job(timed).last_error or "")
    assert q.state(other) == "processing" and alive(pids[other]) and q.job(other).attempts == 1
    assert [r.error for r in q.runs(finisher)] == [None] and q.job(finisher).exit_code == 0
    wait_until(lambda: not alive(pids[cancelled]) and group_members(pids[cancelled]) == [],
               message="the cancelled job's processes to end")
    q.run("worker", "stop", "--force", "--wait", timeout=30)


def test_a_forced_stop_interrupts_every_slot_and_returns_every_job_to_pending_uncounted(q: RQueuectl):
    w, ids, pids = _busy(q, 4, [LONG] * 4)
    q.run("worker", "stop", "--force", "--wait", timeout=30)
    for job_id in ids:
        job = q.job(job_id)
        assert (job.state, job.attempts) == ("pending", 0), job
    wait_until(lambda: not any(alive(p) for p in pids.values()), message="every slot's job to be killed")
    assert w.proc.wait(timeout=10) == 0


def test_a_graceful_stop_lets_every_slot_finish_its_job(q: RQueuectl):
    w, ids, _ = _busy(q, 3, ["sleep 1"] * 3)
    q.run("worker", "stop", "--wait", timeout=30)
    assert [q.state(j) for j in ids] == ["completed"] * 3
    assert all(len(q.runs(j)) == 1 for j in ids)


def test_a_multi_slot_worker_killed_with_kill_9_has_all_its_jobs_recovered_at_once(q: RQueuectl):
    w, ids, pids = _busy(q, 3, [LONG] * 3)
    q.kill9(w)
    # any command of this host sees the worker's pid gone, records it lost and recovers its jobs
    wait_until(lambda: all(q.json("show", j)["state"] == "failed" for j in ids), timeout=5,
               message="every job of the killed worker to be recovered")
    for job_id in ids:
        assert [(r.attempt, r.error) for r in q.runs(job_id)] == [(1, "worker lost")]
    # its watchdog killed every job group it owned
    wait_until(lambda: not any(alive(p) or group_members(p) for p in pids.values()), timeout=10,
               message="the dead worker's jobs to be gone")


def test_a_job_that_escapes_its_process_group_is_ended_with_its_slot_and_no_other(q: RQueuectl):
    escaper = "setsid sleep 300 & sleep 0.5"
    w, ids, pids = _busy(q, 2, [escaper, LONG])
    escaped, other = ids
    q.wait_state(escaped, "completed")
    assert q.state(other) == "processing" and alive(pids[other])
    wait_until(lambda: not [p for p in q.job_processes() if p.environ().get("QUEUECTL_JOB_ID") == escaped],
               message="the escaped process of the finished slot to be ended")
    q.run("worker", "stop", "--force", "--wait", timeout=30)


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("slots", [1, 8])
def test_one_worker_process_holds_one_store_connection_whatever_its_slots(q: RQueuectl, slots: int):
    w, _, _ = _busy(q, slots, [LONG] * slots)
    database = q.url().rsplit("/", 1)[1]

    def connections() -> list[tuple]:
        return [c for c in psutil.Process(w.pid).net_connections("tcp") if c.raddr and c.raddr.port == 5432]

    own = connections()
    assert len(own) == 1, own
    rows = q.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = ? AND client_port = ?",
                 (database, own[0].laddr.port))
    assert rows[0][0] == 1
    q.run("worker", "stop", "--force", "--wait", timeout=30)
