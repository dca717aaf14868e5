"""Killing jobs for real: timeouts, cancels, forced stops and a worker killed with SIGKILL.
Each test checks with psutil that the job's processes (its group and descendants) are gone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

from e2e_support import alive, group_members, ts, wait_until


def _pids(path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


def test_timeout_kills_the_run_and_counts_as_failed(q):
    q.fast()
    q.start_workers(1)
    job_id = q.enqueue(json.dumps({"command": "sleep 30", "timeout": 1, "max_retries": 0}))
    run = q.wait_running(job_id)
    pid = run.pid
    assert group_members(pid), "the job's process group should exist while it runs"

    q.wait_state(job_id, "dead", timeout=10)
    job = q.show(job_id)
    assert "timeout" in job["last_error"].lower()
    assert len(job["runs"]) == 1
    r = job["runs"][0]
    assert "timeout" in r["error"].lower()
    assert r["exit_code"] != 0
    assert 0.9 <= r["duration"] < 5
    assert not alive(pid)
    assert group_members(pid) == []


def test_timeout_flag_then_retry(q):
    q.fast()
    q.start_workers(1)
    job_id = q.enqueue("--timeout", "1", "--max-retries", "1", "--command", "sleep 30")
    q.wait_state(job_id, "dead", timeout=15)
    runs = q.show(job_id)["runs"]
    assert len(runs) == 2
    assert all("timeout" in r["error"].lower() for r in runs)
    for r in runs:
        assert group_members(r["pid"]) == []


def test_cancel_of_a_running_job_kills_its_whole_tree(q, tmp_path):
    q.fast()
    q.start_workers(1)
    pids = tmp_path / "pids"
    escaped = f"setsid sleep 301 & echo $! >> {pids}; " if shutil.which("setsid") else ""
    cmd = f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; {escaped}sleep 30 & echo $! >> {pids}; wait"
    job_id = q.enqueue(cmd)
    run = q.wait_running(job_id)
    expected = 4 if escaped else 3
    wait_until(lambda: len(_pids(pids)) == expected, message="the job to record its pids")
    recorded = _pids(pids)
    assert recorded[0] == run.pid  # $$ is the shell the worker started, the group leader
    assert all(alive(p) for p in recorded)

    started = time.monotonic()
    res = q.json("cancel", job_id)
    assert res == {job_id: "cancelled"}
    assert time.monotonic() - started < 8
    job = q.show(job_id)
    assert job["state"] == "cancelled"
    assert job["attempts"] == 1
    assert len(job["runs"]) == 1
    assert job["runs"][0]["finished_at"] is not None
    wait_until(lambda: not any(alive(p) for p in recorded), timeout=5,
               message=f"every process of the job to be gone: {[p for p in recorded if alive(p)]}")
    assert group_members(run.pid) == []
    # the worker carries on
    assert q.worker_rows() and all(r[0] == "running" for r in q.worker_rows().values())
    nxt = q.enqueue("echo next")
    q.wait_state(nxt, "completed")
    # the run says why it ended: cancelled by the user (not only the signal that did it)
    assert "cancel" in (job["runs"][0]["error"] or ""), job["runs"][0]
    assert "cancel" in (job["last_error"] or ""), job


def test_forced_stop_puts_the_running_job_back_to_pending(q):
    q.fast()
    (worker,) = q.start_workers(1)
    job_id = q.enqueue("sleep 30")
    run = q.wait_running(job_id)
    assert q.state(job_id) == "processing"

    started = time.monotonic()
    res = q.json("worker", "stop", "--force", "--wait")
    assert res == {"stopping": [worker], "still_running": []}
    assert time.monotonic() - started < 10

    job = q.show(job_id)
    assert job["state"] == "pending"
    assert job["attempts"] == 0
    assert len(job["runs"]) == 1
    r = job["runs"][0]
    assert r["finished_at"] is not None
    assert not alive(run.pid)
    assert group_members(run.pid) == []
    rows = {w["id"]: w for w in q.workers(include_stopped=True)}
    assert rows[worker]["state"] == "stopped"
    wait_until(lambda: not alive(rows[worker]["pid"]), timeout=5, message="the worker process to exit")
    # the run says it was interrupted by the stop (uncounted), not merely "killed by SIGTERM"
    assert "interrupted" in (r["error"] or ""), r


def test_worker_killed_with_sigkill_is_recovered_by_another_worker(q, tmp_path):
    q.fast()
    marks = tmp_path / "marks"
    cmd = (f'echo start $QUEUECTL_ATTEMPT $(date +%s.%N) >> {marks}; sleep 3; '
           f'echo end $QUEUECTL_ATTEMPT $(date +%s.%N) >> {marks}; echo ok')
    q.start_workers(2)
    job_id = q.enqueue(cmd)
    run1 = q.wait_running(job_id)
    wait_until(lambda: marks.exists() and "start 1" in marks.read_text(), message="the first run to start")

    holder = wait_until(lambda: [w for w in q.workers() if w["current_job_id"] == job_id],
                        message="worker list to show the busy worker")[0]
    assert holder["id"] == run1.worker_id
    victim_pid = holder["pid"]
    assert alive(victim_pid)
    killed_at = time.time()
    os.kill(victim_pid, signal.SIGKILL)

    # same host: the other worker sees the pid is gone at its next heartbeat, not after worker_timeout (30 s)
    wait_until(lambda: len(q.runs(job_id)) >= 1 and q.runs(job_id)[0].error == "worker lost", timeout=10,
               message="the lost run to be recorded")
    detected = time.time() - killed_at
    assert detected < 10, f"recovery took {detected:.1f}s"
    q.wait_state(job_id, "completed", timeout=15)
    recovered = time.time() - killed_at
    assert recovered < 10, f"the job completed {recovered:.1f}s after the kill"

    job = q.show(job_id)
    runs = job["runs"]
    assert len(runs) == 2
    assert runs[0]["error"] == "worker lost"
    assert runs[0]["worker_id"] == holder["id"]
    assert runs[1]["exit_code"] == 0 and runs[1]["error"] is None
    assert runs[1]["worker_id"] != holder["id"]
    assert job["attempts"] == 2
    assert q.run("logs", job_id).stdout == "ok\n"

    # the orphan of run 1 was killed (or had finished) before run 2 started: no overlap
    assert not alive(run1.pid)
    assert group_members(run1.pid) == []
    lines = [line.split() for line in marks.read_text().splitlines()]
    events = {(kind, attempt): float(t) for kind, attempt, t in lines}
    assert ("start", "1") in events and ("start", "2") in events and ("end", "2") in events
    if ("end", "1") in events:
        assert events[("end", "1")] <= events[("start", "2")], lines
    assert ("end", "1") not in events or events[("end", "1")] - events[("start", "1")] >= 3
    assert events[("start", "2")] >= ts(runs[0]["finished_at"]) - 0.05

    workers = {w["id"]: w for w in q.workers(include_stopped=True)}
    assert workers[holder["id"]]["state"] == "lost"
    assert sum(1 for w in workers.values() if w["state"] == "running") == 1
