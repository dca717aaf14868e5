"""Several hosts sharing one PostgreSQL queue, simulated on one machine with QUEUECTL_HOST_ID:
work spread over both hosts exactly once, a host whose workers die is recovered by the other
(by heartbeat age alone: its processes are "on another machine"), a cancel crosses hosts."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import psutil

from pg_support import alive, group_members, processes_of_workers, wait_until

WORKER_TIMEOUT = 3.0


def _job_hosts(pq) -> dict[str, list[str]]:
    hosts: dict[str, list[str]] = {}
    for job_id, host in pq.probe.rows("SELECT job_id, host FROM run ORDER BY job_id, number"):
        hosts.setdefault(job_id, []).append(host)
    return hosts


def test_two_hosts_share_one_queue(pq):
    pq.config("worker_timeout", WORKER_TIMEOUT)
    pq.config("poll_interval", 0.1)
    pq.run("pause")  # both hosts' workers are up before anything can be claimed
    on_a = pq.start_workers(2, host="host-a")
    on_b = pq.start_workers(2, host="host-b")
    out = pq.work / "done.txt"
    ids = pq.enqueue_many(
        [{"id": f"j{i:02d}", "command": f'sleep 0.2; echo "$QUEUECTL_JOB_ID" >> {out}'} for i in range(40)]
    )
    pq.run("resume")
    wait_until(lambda: pq.counts().get("completed") == 40, timeout=30, message="all 40 jobs to complete")

    assert pq.counts() == {"completed": 40}
    done = Counter(out.read_text().split())
    assert done == Counter({job_id: 1 for job_id in ids}), "each job ran exactly once"
    hosts = _job_hosts(pq)
    assert {job_id: len(h) for job_id, h in hosts.items()} == {job_id: 1 for job_id in ids}
    assert set(h[0] for h in hosts.values()) == {"host-a", "host-b"}, Counter(h[0] for h in hosts.values())
    assert pq.probe.rows("SELECT DISTINCT attempts FROM job") == [(1,)]
    # every run's host is its worker's host
    by_worker = dict(pq.probe.rows("SELECT id, host FROM worker"))
    for worker_id, host in pq.probe.rows("SELECT worker_id, host FROM run"):
        assert by_worker[worker_id] == host
    show = pq.show("j00", host="host-c")  # runs are readable from any host
    assert show["runs"][0]["host"] in ("host-a", "host-b") and show["runs"][0]["exit_code"] == 0

    # a third host sees every worker, with its host; it cannot sample other hosts' processes
    workers = pq.json("worker", "list", host="host-c")
    assert {w["id"]: w["host"] for w in workers} == {**{w: "host-a" for w in on_a}, **{w: "host-b" for w in on_b}}
    assert all(w["state"] == "running" for w in workers), workers
    assert all(w["heartbeat_age"] < WORKER_TIMEOUT for w in workers), workers
    assert all(w["cpu_percent"] is None and w["rss_bytes"] is None for w in workers), workers
    # …which host-a can, for its own workers only
    local = {w["id"]: w for w in pq.json("worker", "list", host="host-a")}
    assert all(local[w]["rss_bytes"] for w in on_a) and not any(local[w]["rss_bytes"] for w in on_b)
    status = pq.json("status", host="host-c")
    assert status["workers"] == {"running": 4, "busy": 0, "lost": 0, "slots": 4, "slots_busy": 0}


def test_killed_host_is_recovered_by_the_other_host(pq):
    pq.config("worker_timeout", WORKER_TIMEOUT)
    pq.config("poll_interval", 0.1)
    pq.config("backoff_base", 1)  # a retry is due 1 s after the failed run
    trace = pq.work / "trace.txt"
    # The first run is long (its host dies under it), a retry is quick.
    victim_cmd = (f'echo "start $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {trace}; '
                  f'if [ "$QUEUECTL_ATTEMPT" = 1 ]; then sleep 8; fi; '
                  f'echo "end $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {trace}')
    victims = pq.enqueue_many([{"id": f"victim-{i}", "command": victim_cmd} for i in (1, 2)])
    on_a = pq.start_workers(2, host="host-a")
    first_runs = {v: wait_until(lambda v=v: pq.running_run(v), message=f"{v} to run on host-a") for v in victims}
    assert {r["host"] for r in first_runs.values()} == {"host-a"}
    assert {r["worker_id"] for r in first_runs.values()} == set(on_a)

    others = pq.enqueue_many(
        [{"id": f"other-{i}", "command": f'sleep 1; echo "end $QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" >> {trace}'}
         for i in range(4)]
    )
    on_b = pq.start_workers(2, host="host-b")
    wait_until(lambda: pq.counts().get("processing") == 4, message="host-b to be busy too")

    # host-a "crashes": its workers die at once; its job processes live on, as on a machine that
    # is cut off from the network (nobody on host-b can or may kill them)
    pids = dict(pq.probe.rows("SELECT id, pid FROM worker WHERE host = 'host-a'"))
    for pid in pids.values():
        assert psutil.Process(pid).environ().get("QUEUECTL_HOST_ID") == "host-a"
    pq.orphan_workers.update(on_a)  # the teardown kills what is left of them
    orphans = {v: r["pid"] for v, r in first_runs.items()}
    killed_at = time.time()
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in pids.values()), timeout=5, message="host-a workers to die")

    last_beats = dict(pq.probe.rows("SELECT id, heartbeat_at FROM worker WHERE host = 'host-a'"))

    # recovered by host-b within worker_timeout (+ a few heartbeats)
    wait_until(lambda: "processing" not in pq.states(victims).values(), timeout=WORKER_TIMEOUT + 10,
               message="host-b to recover host-a's jobs")
    seen_at = time.time()
    lost_runs = {v: pq.runs(v)[0] for v in victims}
    orphans_alive = {v: alive(pid) for v, pid in orphans.items()}
    delays = {v: round(r["finished_at"] - killed_at, 2) for v, r in lost_runs.items()}
    silences = {v: round(r["finished_at"] - last_beats[r["worker_id"]], 2) for v, r in lost_runs.items()}
    print(f"\nrecovery across hosts: {delays} s after kill -9, {silences} s after the last heartbeat "
          f"(worker_timeout {WORKER_TIMEOUT:g} s; seen by the test {seen_at - killed_at:.2f} s after the kill); "
          f"orphans still alive then: {orphans_alive}")
    assert all(d < WORKER_TIMEOUT + 5 for d in delays.values()), delays
    assert all(s >= WORKER_TIMEOUT for s in silences.values()), f"recovered before worker_timeout: {silences}"
    assert {r["error"] for r in lost_runs.values()} == {"worker lost"}
    assert dict(pq.probe.rows("SELECT id, state FROM worker WHERE host = 'host-a'")) == {w: "lost" for w in on_a}
    logs_b = "".join(pq.worker_log(w) for w in on_b)
    for v in victims:
        assert f"its job {v} is now failed" in logs_b, logs_b

    # every job completes; each recovered job shows its lost run, then a run on host-b
    wait_until(lambda: pq.counts() == {"completed": 6}, timeout=30, message="every job to complete")
    for v in victims:
        job = pq.show(v)
        assert (job["state"], job["attempts"]) == ("completed", 2)
        assert len(job["runs"]) == 2, job["runs"]
        lost, rerun = job["runs"]
        assert (lost["error"], lost["host"], lost["worker_id"]) == ("worker lost", "host-a",
                                                                     first_runs[v]["worker_id"])
        assert lost["finished_at"] is not None and lost["exit_code"] is None
        assert (rerun["host"], rerun["exit_code"], rerun["error"]) == ("host-b", 0, None)
        assert rerun["worker_id"] in on_b
    for o in others:
        job = pq.show(o)
        assert (job["state"], job["attempts"], [r["host"] for r in job["runs"]]) == ("completed", 1, ["host-b"])

    # The dead worker's watchdog killed its job processes the moment it died: nothing of the
    # first run lives on to overlap the recovered run, nor to reach the store.
    before = {v: pq.show(v) for v in victims}
    wait_until(lambda: not processes_of_workers(on_a), timeout=10, message="host-a's orphaned jobs to end")
    after = {v: pq.show(v) for v in victims}
    assert after == before, "an orphan's late finish changed the store"
    lines = Counter(trace.read_text().splitlines())
    for v in victims:
        assert lines[f"start {v} 1"] == 1 and lines[f"start {v} 2"] == 1
        assert lines[f"end {v} 2"] == 1
        assert lines[f"end {v} 1"] == 0, f"the first run of {v} outlived its worker: {lines}"
    for o in others:
        assert lines[f"end {o} 1"] == 1


def test_cancel_from_another_host(pq):
    pq.config("kill_grace", 1)
    pq.config("poll_interval", 0.1)
    on_a = pq.start_workers(1, host="host-a")
    # a job that ignores SIGTERM, with a child: only the SIGKILL after kill_grace ends the group
    job_id = pq.enqueue("--command", "trap '' TERM; sleep 60 & sleep 60; wait")
    run = wait_until(lambda: pq.running_run(job_id), message="the job to run on host-a")
    assert (run["host"], run["worker_id"]) == ("host-a", on_a[0])
    pgid = run["pid"]
    wait_until(lambda: len(group_members(pgid)) >= 3, message="the job's shell and both sleeps")

    started = time.monotonic()
    proc = pq.run("cancel", job_id, "--json", host="host-b")
    took = time.monotonic() - started
    assert json.loads(proc.stdout) == {job_id: "cancelled"}, proc.stdout
    assert took < 1 + 3, took
    assert pq.state(job_id) == "cancelled"
    wait_until(lambda: not group_members(pgid), timeout=3, message="the job's process group to be gone")
    print(f"\ncancel across hosts took {took:.2f} s (kill_grace 1 s)")

    job = pq.show(job_id, host="host-b")
    assert (job["state"], job["attempts"], job["last_error"]) == ("cancelled", 1, "cancelled by user")
    assert job["runs"][-1]["finished_at"] is not None and job["runs"][-1]["host"] == "host-a"
    # the worker carries on: its cancel request is cleared and it runs the next job
    assert pq.probe.rows("SELECT state, cancel_job_id FROM worker") == [("running", None)]
    after = pq.enqueue("echo next")
    wait_until(lambda: pq.state(after) == "completed", message="the next job to complete")


def test_a_job_enqueued_on_one_host_wakes_idle_workers_on_another(pq):
    """NOTIFY reaches workers of every host: no waiting for their (here 30 s) poll."""
    pq.config("poll_interval", 30)
    pq.start_workers(1, host="host-a")
    time.sleep(1.0)  # let the worker settle into its idle wait (its first poll has passed)
    enqueued = time.time()
    job_id = pq.run("enqueue", "true", host="host-b").stdout.strip()
    wait_until(lambda: pq.state(job_id) == "completed", timeout=10, message="the job to run on host-a")
    started = pq.runs(job_id)[0]["started_at"]
    assert started - enqueued < 5.0, f"host-a's worker started the job {started - enqueued:.1f}s after it was enqueued"
