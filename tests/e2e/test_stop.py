"""Stopping workers: graceful `worker stop --wait`, `worker run --burst`, and signals to a
foreground `worker run` (first SIGTERM: finish the job; second: kill it, back to pending)."""

from __future__ import annotations

import signal
import subprocess
import time

from e2e_support import alive, group_members, wait_until


def test_graceful_stop_waits_for_the_running_job(q):
    q.fast()
    (worker,) = q.start_workers(1)
    job_id = q.enqueue("sleep 2; echo done")
    run = q.wait_running(job_id)

    started = time.monotonic()
    res = q.json("worker", "stop", "--wait")
    took = time.monotonic() - started
    assert res == {"stopping": [worker], "still_running": []}
    assert took < 10

    job = q.show(job_id)
    assert job["state"] == "completed", job
    assert job["attempts"] == 1
    assert len(job["runs"]) == 1
    assert job["runs"][0]["exit_code"] == 0 and job["runs"][0]["error"] is None
    assert job["runs"][0]["duration"] >= 1.9  # it ran to its end
    assert q.run("logs", job_id).stdout == "done\n"
    rows = {w["id"]: w for w in q.workers(include_stopped=True)}
    assert rows[worker]["state"] == "stopped"
    assert rows[worker]["stopped_at"] is not None
    wait_until(lambda: not alive(rows[worker]["pid"]), timeout=5, message="the worker process to exit")
    assert group_members(run.pid) == []
    assert q.workers() == []  # nothing live left
    assert q.json("status")["workers"]["running"] == 0


def test_graceful_stop_past_its_timeout_becomes_forced(q):
    q.fast()
    q.config("kill_grace", 1)
    (worker,) = q.start_workers(1)
    job_id = q.enqueue("sleep 30")
    run = q.wait_running(job_id)
    started = time.monotonic()
    res = q.json("worker", "stop", "--wait", "--timeout", "1")
    took = time.monotonic() - started
    assert res == {"stopping": [worker], "still_running": []}
    assert 0.9 <= took < 10
    job = q.show(job_id)
    assert job["state"] == "pending" and job["attempts"] == 0
    assert len(job["runs"]) == 1 and job["runs"][0]["finished_at"] is not None
    assert not alive(run.pid) and group_members(run.pid) == []
    assert [w["state"] for w in q.workers(include_stopped=True)] == ["stopped"]


def test_burst_worker_drains_the_queue_and_exits_zero(q):
    q.fast()
    ids = [q.enqueue(f"echo burst{i}") for i in range(3)]
    later = q.enqueue("--delay", "1h", "--command", "echo not-yet")
    proc = q.popen("worker", "run", "--burst")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for i, job_id in enumerate(ids):
        assert q.state(job_id) == "completed"
        assert q.run("logs", job_id).stdout == f"burst{i}\n"
    assert q.state(later) == "pending"  # not due: a burst worker does not wait for it
    rows = q.workers(include_stopped=True)
    assert len(rows) == 1 and rows[0]["state"] == "stopped"


def test_sigterm_to_a_foreground_worker_finishes_the_job_then_exits(q):
    q.fast()
    proc = q.popen("worker", "run")
    job_id = q.enqueue("sleep 2; echo done")
    q.wait_running(job_id)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    job = q.show(job_id)
    assert job["state"] == "completed"
    assert len(job["runs"]) == 1 and job["runs"][0]["exit_code"] == 0
    assert q.run("logs", job_id).stdout == "done\n"
    assert [w["state"] for w in q.workers(include_stopped=True)] == ["stopped"]


def test_second_sigterm_kills_the_job_and_puts_it_back_to_pending(q, tmp_path):
    q.fast()
    proc = q.popen("worker", "run")
    flag = tmp_path / "ran-once"
    job_id = q.enqueue(f"if [ -e {flag} ]; then echo again; else touch {flag}; sleep 30; fi")
    run = q.wait_running(job_id)

    proc.send_signal(signal.SIGTERM)
    # the first signal only asks for a graceful stop: the job goes on running
    try:
        proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass
    assert proc.poll() is None, "the worker exited on the first SIGTERM while its job was running"
    assert q.state(job_id) == "processing"
    assert alive(run.pid)

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10

    job = q.show(job_id)
    assert job["state"] == "pending"
    assert job["attempts"] == 0
    assert len(job["runs"]) == 1 and job["runs"][0]["finished_at"] is not None
    assert not alive(run.pid)
    assert group_members(run.pid) == []
    assert [w["state"] for w in q.workers(include_stopped=True)] == ["stopped"]

    # uncounted: the next worker runs it again as attempt 1
    proc2 = q.popen("worker", "run", "--burst")
    out, err = proc2.communicate(timeout=20)
    assert proc2.returncode == 0, err
    job = q.show(job_id)
    assert job["state"] == "completed"
    assert job["attempts"] == 1
    assert [r["attempt"] for r in job["runs"]] == [1, 1]
    assert q.run("logs", job_id).stdout == "again\n"
