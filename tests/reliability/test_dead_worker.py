"""A worker killed with SIGKILL while NO other worker is alive (issue 12, bugs 1 and 2).

Before, only a live worker's rescue noticed a dead one: with nobody else running, the killed
worker stayed "running" (and its job "processing") for `worker_timeout`, or for ever, and
`worker stop --wait` waited for ever on a stop that no process would record. Now every command
that reads workers or jobs on the worker's host checks the pid (+ create time) of this host's
workers first, records the dead one lost and recovers its jobs (its strays killed first).

Every test here keeps `worker_timeout` at 30 s: only the pid check can explain a quick verdict.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from reliability_support import PoolWorker, RQueuectl, alive, group_members, wait_until

LONG = "sleep 300"


def _busy_worker(q: RQueuectl, command: str = LONG, max_retries: int = 2) -> tuple[PoolWorker, str, int]:
    """One real `worker run` running one job; returns (worker, job id, the job shell's pid)."""
    q.configure(poll_interval=0.05)
    w = q.spawn_worker()
    q.wait_registered([w])
    job = q.enqueue_many([{"command": command, "max_retries": max_retries}])[0]
    run = q.wait_running(job)
    return w, job, run.pid


def _worker_state(q: RQueuectl, worker_id: str) -> str:
    return q.sql("SELECT state FROM worker WHERE id = ?", (worker_id,))[0][0]


def _assert_recovered(q: RQueuectl, w: PoolWorker, job: str, job_pid: int) -> None:
    """The store says: worker lost, its job failed once with `worker lost` (one lost run), no orphan left."""
    assert _worker_state(q, w.id) == "lost"
    job_row = q.job(job)
    assert job_row.state == "failed" and job_row.last_error == "worker lost", job_row
    runs = q.runs(job)
    assert [(r.attempt, r.error) for r in runs] == [(1, "worker lost")], runs
    # SIGKILLed by the rescue (or the watchdog) before it recorded the run; gone once the kernel
    # has torn it down and init reaped it, which a loaded machine may take a moment to do
    wait_until(lambda: not alive(job_pid) and group_members(job_pid) == [], timeout=10,
               message=f"the dead worker's job {job_pid} is still alive")


def _kill_worker_and_watchdog(q: RQueuectl, w: PoolWorker) -> None:
    """SIGKILL the worker's watchdog, then the worker: nobody of its own is left to kill its job."""
    children = psutil.Process(w.pid).children()
    watchdogs = [p for p in children if "QUEUECTL_JOB_ID" not in p.environ()]
    assert watchdogs, [p.cmdline() for p in children]
    for p in watchdogs:
        p.kill()
    q.kill9(w)


def test_worker_stop_wait_after_kill_9_returns_at_once_and_says_so(q: RQueuectl):
    w, job, job_pid = _busy_worker(q)
    q.kill9(w)
    started = time.monotonic()
    res = q.run("worker", "stop", "--wait", timeout=20, check=False)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    assert f"stopped worker {w.id}" not in res.stdout and f"stopping worker {w.id}" not in res.stdout, res.stdout
    assert "no running workers" in res.stdout, res.stdout
    assert f"worker {w.id} had died" in res.stderr, res.stderr
    assert took < 10, f"worker stop --wait took {took:.1f}s"
    _assert_recovered(q, w, job, job_pid)


def test_plain_worker_stop_and_stop_by_id_do_not_address_a_dead_worker(q: RQueuectl):
    w, job, job_pid = _busy_worker(q)
    q.kill9(w)
    res = q.run("worker", "stop", w.id, "--json")
    assert res.returncode == 0
    import json

    assert json.loads(res.stdout) == {"stopping": [], "still_running": []}
    res = q.run("worker", "stop")
    assert "stopping worker" not in res.stdout and "no running workers" in res.stdout, res.stdout
    _assert_recovered(q, w, job, job_pid)


def test_worker_killed_during_stop_wait_ends_the_wait(q: RQueuectl):
    """The worker dies after the stop was asked for (a graceful stop waits for its job): the wait ends."""
    w, job, job_pid = _busy_worker(q)
    stopper = q.popen("worker", "stop", "--wait")
    wait_until(lambda: _worker_state(q, w.id) == "stopping", timeout=10, message="the stop to be asked")
    q.kill9(w)
    out, err = stopper.communicate(timeout=15)
    assert stopper.returncode == 0, err
    assert f"worker {w.id} had died" in err, err
    _assert_recovered(q, w, job, job_pid)


@pytest.mark.parametrize("command", [
    ("status", "--json"), ("list",), ("worker", "list"), ("show", "{job}"), ("logs", "{job}"), ("dlq", "list"),
    ("stats",),
])
def test_every_reading_command_sees_a_killed_worker_lost_at_once(q: RQueuectl, command: tuple[str, ...]):
    w, job, job_pid = _busy_worker(q)
    q.kill9(w)
    res = q.run(*(a.format(job=job) for a in command))
    assert f"worker {w.id} had died" in res.stderr, res.stderr
    _assert_recovered(q, w, job, job_pid)
    if command[0] == "status":
        import json

        assert json.loads(res.stdout)["workers"] == {"running": 0, "busy": 0, "lost": 1, "slots": 0, "slots_busy": 0}
    assert q.run("worker", "list", "--json").stdout.count('"state": "lost"') == 1


def test_status_kills_the_strays_first_when_the_watchdog_died_too(q: RQueuectl):
    """kill -9 of worker and watchdog together: the command that recovers kills the job's processes
    (by pid + create time and by the worker's environment marker) before the job may run again."""
    marks = q.work / "ticks"
    script = f"(setsid sh -c 'sleep 300' &); while :; do date +%s.%N >> {marks}; sleep 0.05; done"
    w, job, job_pid = _busy_worker(q, script)
    wait_until(lambda: marks.exists(), message="the job to tick")
    _kill_worker_and_watchdog(q, w)
    time.sleep(0.3)
    assert alive(job_pid), "the job died with its worker: nothing left for the rescue to prove"
    res = q.run("status")
    assert f"worker {w.id} had died" in res.stderr, res.stderr
    _assert_recovered(q, w, job, job_pid)
    assert [p for p in q.job_processes()] == []  # the setsid'd sleep too


def test_two_commands_at_once_record_one_lost_run(q: RQueuectl):
    w, job, job_pid = _busy_worker(q)
    q.kill9(w)
    procs = [q.popen("status") for _ in range(4)]
    errs = [p.communicate(timeout=30)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert sum(f"worker {w.id} had died" in e for e in errs) >= 1, errs
    _assert_recovered(q, w, job, job_pid)  # one run, attempt 1, `worker lost`: recorded once


def test_the_tui_snapshot_sees_a_killed_worker_lost_and_recovers_it(q: RQueuectl):
    from queuectl.core.api import Api
    from queuectl.tui.service import QueueService
    from queuectl.tui.viewmodel import JobFilter

    w, job, job_pid = _busy_worker(q)
    q.kill9(w)
    snap = QueueService(Api(q.store()), process_stats=False).snapshot(JobFilter(), 10)
    assert [(x.id, x.state) for x in snap.workers] == [(w.id, "lost")]
    _assert_recovered(q, w, job, job_pid)


def test_a_live_worker_is_left_alone(q: RQueuectl):
    """The check is not vacuous the other way: a live (even stopped-by-signal) worker stays running."""
    w, job, _ = _busy_worker(q)
    os.kill(w.pid, signal.SIGSTOP)
    try:
        res = q.run("status", "--json")
        assert "had died" not in res.stderr
        assert _worker_state(q, w.id) == "running" and q.state(job) == "processing"
    finally:
        os.kill(w.pid, signal.SIGCONT)


@pytest.mark.parametrize("command", [("wait", "{job}", "--json"), ("logs", "-f", "{job}")])
def test_a_waiting_command_sees_the_worker_die_while_it_waits(q: RQueuectl, command: tuple[str, ...]):
    """`wait` and `logs -f` started before the kill: the run ends as lost within a second or two."""
    w, job, job_pid = _busy_worker(q, max_retries=0)  # one run: the lost run makes it dead, so `wait` ends
    waiter = q.popen(*(a.format(job=job) for a in command))
    time.sleep(0.5)
    q.kill9(w)
    out, err = waiter.communicate(timeout=15)
    assert f"worker {w.id} had died" in err, err
    assert q.state(job) == "dead"
    assert [(r.attempt, r.error) for r in q.runs(job)] == [(1, "worker lost")]
    assert not alive(job_pid)
