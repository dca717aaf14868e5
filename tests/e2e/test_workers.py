"""Real workers running real jobs: results, retries and the DLQ, ordering, scheduling, throughput,
settings changed under a running worker."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime

from e2e_support import ts, wait_until
from queuectl.core.worker import UPKEEP_INTERVAL_S


def test_ok_and_failing_jobs_with_two_workers_then_dlq_retry(q):
    q.fast()
    ok_ids = [q.enqueue(f"echo ok{i}") for i in range(3)]
    bad = q.enqueue(json.dumps({"command": "echo failing; exit 3", "max_retries": 1}))
    workers = q.start_workers(2)
    assert len(workers) == 2

    for job_id in ok_ids:
        q.wait_state(job_id, "completed")
    q.wait_state(bad, "dead")

    for i, job_id in enumerate(ok_ids):
        job = q.show(job_id)
        assert job["state"] == "completed"
        assert job["attempts"] == 1
        assert job["exit_code"] == 0
        assert [r["exit_code"] for r in job["runs"]] == [0]
        assert q.run("logs", job_id).stdout == f"ok{i}\n"

    job = q.show(bad)
    assert job["state"] == "dead"
    assert job["attempts"] == 2
    assert job["exit_code"] == 3
    assert "3" in (job["last_error"] or "")
    runs = job["runs"]
    assert [r["number"] for r in runs] == [1, 2]
    assert [r["exit_code"] for r in runs] == [3, 3]
    assert all(r["finished_at"] and r["error"] for r in runs)
    # the retry waited for its backoff (backoff_base 1 → 1 s)
    assert ts(runs[1]["started_at"]) >= ts(runs[0]["finished_at"]) + 0.9
    assert [j["id"] for j in q.json("dlq", "list")] == [bad]
    status = q.json("status")
    assert status["jobs"]["completed"] == 3 and status["jobs"]["dead"] == 1
    assert status["workers"]["running"] == 2

    assert q.json("dlq", "retry", bad) == {"retried": [bad]}
    wait_until(lambda: len(q.runs(bad)) == 4 and q.state(bad) == "dead", message="the retried job to die again")
    job = q.show(bad)
    assert job["state"] == "dead"
    assert job["attempts"] == 2  # reset by the retry, then two more runs
    assert [r["number"] for r in job["runs"]] == [1, 2, 3, 4]
    assert [r["exit_code"] for r in job["runs"]] == [3, 3, 3, 3]
    assert q.json("dlq", "list")[0]["id"] == bad


def test_priority_then_fifo_order_with_one_worker(q, tmp_path):
    out = tmp_path / "order.txt"
    q.config("poll_interval", 0.1)
    q.run("pause")
    cmd = f'echo "$QUEUECTL_JOB_ID" >> {out}'
    plan = [("a", 0), ("b", 5), ("c", 0), ("d", 10), ("e", 5)]
    for job_id, prio in plan:
        q.run("enqueue", "--id", job_id, "--priority", str(prio), "--command", cmd)
    bulk = [("f", -1), ("g", 10), ("h", 0)]  # one bulk: same enqueue time, input order decides
    assert q.enqueue_many([{"id": i, "command": cmd, "priority": p} for i, p in bulk]) == [i for i, _ in bulk]
    q.start_workers(1)
    # paused: the idle worker claims nothing
    first_beat = q.worker_rows()
    wait_until(lambda: all(r[2] > first_beat[w][2] + 0.6 for w, r in q.worker_rows().items()),
               message="the worker to heartbeat while paused")
    assert q.counts()["pending"] == 8
    assert not out.exists()

    q.run("resume")
    wait_until(lambda: q.counts()["completed"] == 8, message="all jobs to complete")
    order = out.read_text().split()
    assert order == ["d", "g", "b", "e", "a", "c", "h", "f"]


def test_delayed_and_scheduled_jobs_do_not_start_early(q):
    q.fast()
    q.start_workers(1)
    delayed = q.enqueue("--delay", "2s", "--command", "echo later")
    at = datetime.fromtimestamp(time.time() + 1.5, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")  # no offset: UTC
    scheduled = q.enqueue(json.dumps({"command": "echo scheduled", "run_at": at}))
    now_job = q.enqueue("echo now")

    q.wait_state(now_job, "completed")
    for job_id in (delayed, scheduled):
        run_at = q.job(job_id).run_at
        state = q.state(job_id)
        if time.time() < run_at:  # read before it was due: it cannot have started
            assert state == "pending", (job_id, state)

    for job_id in (delayed, scheduled):
        q.wait_state(job_id, "completed", timeout=10)
        job = q.show(job_id)
        assert len(job["runs"]) == 1
        run_at = ts(job["run_at"])
        assert ts(job["runs"][0]["started_at"]) >= run_at, (job["runs"][0]["started_at"], job["run_at"])
        assert ts(job["created_at"]) < run_at
    assert ts(q.show(delayed)["run_at"]) - ts(q.show(delayed)["created_at"]) >= 1.9
    # a worker that polls every 0.1 s starts a due job soon after it is due
    assert ts(q.show(delayed)["runs"][0]["started_at"]) - ts(q.show(delayed)["run_at"]) < 1.5


def test_four_workers_run_400_bulk_jobs_exactly_once(q, tmp_path):
    out = tmp_path / "ids.txt"
    q.config("poll_interval", 0.1)
    ids = [f"bulk-{i:04d}" for i in range(400)]
    text = "".join(json.dumps({"id": i, "command": f'echo "$QUEUECTL_JOB_ID" >> {out}'}) + "\n" for i in ids)
    assert q.run("enqueue", "-", input=text).stdout.split() == ids
    q.start_workers(4)
    wait_until(lambda: q.counts()["completed"] == 400, timeout=60, interval=0.2, message="400 completed jobs")

    seen = Counter(out.read_text().split())
    assert set(seen) == set(ids)
    assert [i for i, n in seen.items() if n != 1] == []
    counts = q.counts()
    assert counts["completed"] == 400 and sum(counts.values()) == 400
    runs = dict(q.store().execute("SELECT job_id, count(*) FROM run GROUP BY job_id").fetchall())
    assert set(runs) == set(ids)
    assert {n for n in runs.values()} == {1}
    attempts = {a for (a,) in q.store().execute("SELECT DISTINCT attempts FROM job").fetchall()}
    assert attempts == {1}
    # the work was shared
    by_worker = Counter(w for (w,) in q.store().execute("SELECT worker_id FROM run").fetchall())
    assert len(by_worker) >= 2, by_worker


def test_command_not_found_is_a_failed_run_and_retried_and_settings_reach_a_running_worker(q):
    q.config("poll_interval", 0.1)
    q.config("backoff_base", 3)
    q.config("max_retries", 3)
    q.start_workers(1)
    # change settings under the running worker, and wait for a heartbeat one upkeep interval
    # after the change: the upkeep (settings re-read) is due by then, and runs in the same turn
    # of the loop as that heartbeat, before the worker claims again.
    q.config("backoff_base", 1)
    q.config("max_retries", 1)
    changed = time.time()
    wait_until(lambda: all(r[2] > changed + UPKEEP_INTERVAL_S + 0.1 for r in q.worker_rows().values()),
               message="a heartbeat an upkeep interval after the change")

    job_id = q.enqueue("nonexistent_cmd_xyz")
    q.wait_state(job_id, "dead", timeout=15)
    job = q.show(job_id)
    assert job["max_retries"] == 1  # the new default, taken at enqueue
    assert job["attempts"] == 2
    assert job["exit_code"] == 127
    assert "127" in job["last_error"]
    runs = job["runs"]
    assert [r["exit_code"] for r in runs] == [127, 127]
    assert all("127" in (r["error"] or "") for r in runs)
    gap = ts(runs[1]["started_at"]) - ts(runs[0]["finished_at"])
    assert 0.9 <= gap < 2.5, f"retry delay {gap:.2f}s: backoff_base 1 not picked up (3 would give 3 s)"
    assert "not found" in q.run("logs", job_id, "--attempt", "1").stdout
