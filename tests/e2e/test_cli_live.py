"""CLI commands against live workers: `logs -f`, `wait`, `pause`/`resume`; and the file
permissions and secrecy of what a home holds."""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import time

from e2e_support import wait_until


def _read_until(proc: subprocess.Popen, needle: bytes, timeout: float = 15) -> bytes:
    """Read a binary Popen's stdout until `needle` appears (or fail at the deadline)."""
    got = b""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while needle not in got:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {needle!r}; got {got!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"end of output before {needle!r}; got {got!r}"
            got += chunk
    return got


def test_logs_follow_streams_a_running_job_and_exits_when_it_ends(q):
    q.fast()
    q.start_workers(1)
    gate = q.work / "go"
    # The job prints line1, then waits for the test: line1 must reach the follower while it runs.
    job_id = q.enqueue(f"echo line1; while [ ! -e {gate} ]; do sleep 0.05; done; "
                       "for i in 2 3 4 5 6; do echo line$i; sleep 0.1; done")
    follower = q.popen("logs", "-f", job_id, text=False)
    first = _read_until(follower, b"line1\n", timeout=30)
    # it streams: the first line arrives while the job is still running
    assert q.state(job_id) == "processing"
    gate.touch()
    rest, err = follower.communicate(timeout=20)
    assert follower.returncode == 0, err
    assert (first + rest).decode() == "".join(f"line{i}\n" for i in range(1, 7))
    assert q.state(job_id) == "completed"
    # a finished job's logs -f prints everything and returns at once
    again = q.run("logs", "-f", job_id, timeout=10)
    assert again.stdout == "".join(f"line{i}\n" for i in range(1, 7))


def test_wait_exit_codes(q):
    q.fast()
    ok = q.enqueue("sleep 0.5; echo fine")
    bad = q.enqueue("--max-retries", "0", "--command", "exit 4")
    q.start_workers(1)
    r = q.run("wait", ok, "--timeout", "20", check=False)
    assert r.returncode == 0, r.stderr
    assert q.state(ok) == "completed"
    r = q.run("wait", bad, "--timeout", "20", check=False)
    assert r.returncode == 4  # one job: its last exit code, as pueue's wait
    assert "dead" in r.stderr and r.stderr.count("\n") == 1
    assert q.state(bad) == "dead"
    r = q.run("wait", ok, bad, "--json", check=False)
    assert r.returncode == 1
    assert json.loads(r.stdout) == {ok: "completed", bad: "dead"}
    # a wait that times out: exit 124 (as timeout(1)), the job untouched
    slow = q.enqueue("--delay", "1h", "--command", "true")
    r = q.run("wait", slow, "--timeout", "0.3", check=False)
    assert r.returncode == 124 and "timed out" in r.stderr
    assert q.state(slow) == "pending"


def test_pause_keeps_jobs_pending_while_a_worker_idles_and_resume_runs_them(q):
    q.fast()
    q.start_workers(1)
    warm = q.enqueue("true")
    q.wait_state(warm, "completed")  # the worker is up and claiming

    assert q.json("pause") == {"paused": True}
    assert q.json("status")["paused"] is True
    job_id = q.enqueue("echo resumed")
    enqueued = time.time()
    # the worker keeps beating (and polling every 0.1 s) for a good while, and claims nothing
    wait_until(lambda: all(r[2] > enqueued + 1.0 for r in q.worker_rows().values()), timeout=10,
               message="heartbeats for a second after the enqueue")
    assert q.state(job_id) == "pending"
    assert q.job(job_id).attempts == 0
    assert q.runs(job_id) == []
    assert all(r[0] == "running" for r in q.worker_rows().values())

    assert q.json("resume") == {"paused": False}
    q.wait_state(job_id, "completed", timeout=10)
    assert q.run("logs", job_id).stdout == "resumed\n"
    assert q.json("status")["paused"] is False


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_home_and_store_files_are_private_and_env_values_stay_out_of_logs(q):
    secret = "s3cr3t-value-9f8e7d"
    umask_022 = {"preexec_fn": lambda: os.umask(0o022)}  # a usual umask: privacy must not depend on it
    assert not q.home.exists()
    q.run("config", "set", "poll_interval", "0.1", **umask_022)
    assert _mode(q.home) == 0o700
    assert _mode(q.home / "workers") == 0o700

    ids = q.run("worker", "start", "-c", "1", "--json", **umask_022)
    (worker,) = json.loads(ids.stdout)["started"]
    job_id = q.run(
        "enqueue", "--env", f"API_TOKEN={secret}", "--command",
        "printf '%s\\n' \"$API_TOKEN\" | tr a-z A-Z", **umask_022,  # the command itself holds no secret
    ).stdout.strip()
    q.wait_state(job_id, "completed")
    assert q.run("logs", job_id).stdout == secret.upper() + "\n"  # the job did get the value

    # while the worker has the store open, the WAL files exist: all private
    db = q.home / "queue.db"
    if q.is_sqlite:
        for path in (db, db.with_name("queue.db-wal"), db.with_name("queue.db-shm")):
            assert path.exists(), path
            assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"
    else:  # the data is in the server: no SQLite store may appear in the home
        assert not db.exists(), sorted(p.name for p in q.home.iterdir())
    log = q.home / "workers" / f"{worker}.log"
    assert log.exists()
    assert _mode(log) == 0o600, oct(_mode(log))

    shown = q.run("show", job_id, "--json").stdout
    assert json.loads(shown)["env"] == ["API_TOKEN"]
    assert secret not in shown
    assert secret not in q.run("show", job_id).stdout
    assert secret not in q.run("list", "--json").stdout

    q.run("worker", "stop", "--wait")
    text = log.read_text()
    assert job_id in text  # the log does talk about the job
    assert secret not in text
    for path in q.home.rglob("*"):
        if path.is_file() and path.name != db.name and not path.name.startswith("queue.db"):
            assert secret not in path.read_text(errors="replace"), path
