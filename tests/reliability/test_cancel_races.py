"""`cancel` and `delete` against a worker that claims or finishes the job meanwhile (issue 13,
items 3 and 4), on both stores.

Each window is made deterministic with the test-only pause point `after-reading-states`
(queuectl/core/testhooks.py): the command sleeps inside its write transaction, right after it read
the jobs' states, while the worker claims or finishes the job. On SQLite the write lock always
excluded the worker; on PostgreSQL the rows must be locked (FOR UPDATE) and the answers must come
from the rows actually changed.
"""

from __future__ import annotations

import json
import subprocess

from reliability_support import RQueuectl, wait_until

PAUSE = 2.0


def _paused_cli(q: RQueuectl, *args: str, pause: float = PAUSE):
    """Start `queuectl ARGS` that pauses after reading the states; returns once it is in the window."""
    flag = q.work / f"flag-{args[0]}"
    flag.unlink(missing_ok=True)
    env = dict(q.env, QUEUECTL_TEST_PAUSE=f"after-reading-states:{pause}", QUEUECTL_TEST_PAUSE_FLAG=str(flag))
    proc = subprocess.Popen(q.argv(*args), env=env, cwd=q.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    q.own.append(proc)
    wait_until(flag.exists, timeout=20, message=f"{args[0]} to read the states")
    return proc


def _result(proc) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _counts_ok(q: RQueuectl) -> dict[str, int]:
    status = q.json("status")
    assert all(n >= 0 for n in status["jobs"].values()), status
    actual = dict(q.sql("SELECT state, count(*) FROM job GROUP BY state"))
    assert {s: n for s, n in status["jobs"].items() if n} == actual, (status["jobs"], actual)
    return status["jobs"]


def test_cancel_while_the_job_is_being_claimed_either_cancels_it_or_says_it_runs(q):
    q.configure(poll_interval=0.05)
    q.pause()
    marker = q.work / "ran"
    job = q.enqueue_many([{"id": "c1", "command": f"touch {marker}"}])[0]
    w = q.spawn_worker()
    q.wait_registered([w])
    cancel = _paused_cli(q, "cancel", "--json", job)
    q.pause(False)  # the worker looks for work during the cancel's window (SQLite: once it ends)
    code, out, err = _result(cancel)
    assert code == 0 and "internal error" not in err, (code, out, err)
    answer = json.loads(out)[job]
    final = wait_until(lambda: (s := q.state(job)) != "processing" and s != "pending" and s, timeout=15,
                       message="the job to settle")
    if answer == "cancelled":
        assert final == "cancelled" and not marker.exists() and q.runs(job) == [], (
            f"cancel answered cancelled, but the job is {final} and ran: {q.runs(job)}")
    else:
        assert final in ("completed", "cancelled"), (answer, final)
    _counts_ok(q)


def test_delete_while_the_job_is_being_claimed_deletes_it_or_refuses(q):
    q.configure(poll_interval=0.05)
    q.pause()
    marker = q.work / "ran"
    job = q.enqueue_many([{"id": "d1", "command": f"touch {marker}; sleep 1"}])[0]
    w = q.spawn_worker()
    q.wait_registered([w])
    delete = _paused_cli(q, "delete", job)
    q.pause(False)
    code, out, err = _result(delete)
    assert "internal error" not in err and "Traceback" not in err, err
    if code == 0:
        assert f"deleted {job}" in out
        wait_until(lambda: not q.sql("SELECT 1 FROM job WHERE id = ?", (job,)), timeout=5, message="the job gone")
        assert not marker.exists(), "delete answered deleted, but the job ran"
    else:
        assert "running" in err, err
    counts = _counts_ok(q)
    assert counts["pending"] == 0, counts


def test_cancel_during_a_finish_answers_and_a_stale_cancel_never_kills_the_next_run(q):
    """Item 3 (no TypeError when the job ends in the window) and item 4 (the cancel that arrived as
    the run ended names that run: `retry --force` runs the job again to completion)."""
    q.configure(poll_interval=0.05, kill_grace=0)
    w = q.spawn_worker()
    q.wait_registered([w])
    # long enough for the cancel (a new process, slow on a loaded machine) to read it running
    job = q.enqueue_many([{"id": "f1", "command": "sleep 2; echo done"}])[0]
    q.wait_running(job)
    cancel = _paused_cli(q, "cancel", "--json", job, pause=3.5)  # reads `processing`; the job ends in the window
    code, out, err = _result(cancel)
    assert code == 0 and "internal error" not in err, (code, out, err)
    assert json.loads(out)[job] in ("completed", "cancelled"), out
    final = q.wait_state(job, "completed", "cancelled")
    q.run("retry", "--force", job)
    again = q.wait_state(job, "completed", "cancelled", "failed", "dead", timeout=20)
    runs = q.runs(job)
    assert again.state == "completed" and runs[-1].error is None, (
        f"the run after retry --force ended {again.state} ({runs[-1].error}): a cancel meant for the "
        f"earlier run (which ended {final.state}) killed it")
    _counts_ok(q)


def test_a_cancel_left_on_the_worker_row_does_not_kill_a_new_job_with_the_same_id(q):
    q.configure(poll_interval=0.05, kill_grace=0)
    w = q.spawn_worker()
    q.wait_registered([w])
    q.enqueue_many([{"id": "same", "command": "true"}])
    q.wait_state("same", "completed")
    q.run("delete", "same")
    store = q.store()
    with store.write():  # a cancel that reached the worker row as the run ended
        store.execute(store.sql("UPDATE worker SET cancel_job_id = 'same' WHERE id = ?"), (w.id,))
    q.enqueue_many([{"id": "same", "command": "sleep 1.2"}])
    job = q.wait_state("same", "completed", "cancelled", "failed", "dead", timeout=20)
    assert job.state == "completed", f"the new job was {job.state}: {job.last_error}"
