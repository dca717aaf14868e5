"""Security: private files whatever the umask, ids that cannot escape their directory, job data
never pasted into a shell string, env values kept out of logs and listings, and signals sent
only to processes that are verifiably ours (pid + create time).

(tests/e2e/test_cli_live.py checks the modes under umask 022 with `worker start`, and env values
in a detached worker's log for a successful job.)
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time

from reliability_support import RQueuectl, processes_of_home, wait_until

SECRET = "s3cr3t-9f8e7d-value"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask(mask: int) -> dict:
    return {"preexec_fn": lambda: os.umask(mask)}


def test_files_are_private_under_umask_000_whoever_creates_them(q: RQueuectl, tmp_path):
    # a foreground worker is the first to touch the home: it creates home, store and WAL files
    res = q.run("worker", "run", "--burst", **_umask(0))
    assert res.returncode == 0, res.stderr
    assert _mode(q.home) == 0o700
    assert _mode(q.home / "workers") == 0o700
    if q.is_sqlite:
        assert _mode(q.db_path) == 0o600  # created by that foreground worker
    # detached workers: their logs; while they run, the WAL and SHM files exist
    started = q.run("worker", "start", "-c", "2", "--json", **_umask(0))
    ids = json.loads(started.stdout)["started"]
    job = q.run("enqueue", "true", **_umask(0)).stdout.strip()
    q.wait_state(job, "completed")
    if q.is_sqlite:
        for suffix in ("", "-wal", "-shm"):
            path = q.db_path.with_name("queue.db" + suffix)
            assert path.exists() and _mode(path) == 0o600, f"{path.name}: {oct(_mode(path))}"
    else:  # the data is in the server; nothing may have opened a SQLite store in the home behind its back
        assert not q.db_path.exists(), sorted(p.name for p in q.home.iterdir())
    for worker_id in ids:
        log = q.home / "workers" / f"{worker_id}.log"
        assert _mode(log) == 0o600, f"{log.name}: {oct(_mode(log))}"
    for path in q.home.rglob("*"):
        assert _mode(path) & 0o077 == 0, f"{path} is {oct(_mode(path))}"
    # a store named by --db in an existing folder: the file 0600 (a missing folder is refused, never
    # created: test_store_paths.py)
    other = tmp_path / "elsewhere" / "q.db"
    other.parent.mkdir(mode=0o700)
    res = q.run("--db", f"sqlite:///{other}", "enqueue", "true", **_umask(0))
    assert res.returncode == 0, res.stderr
    assert _mode(other) == 0o600


def test_what_umask_jobs_run_with_is_reported(q: RQueuectl, capsys):
    """Not a policy (the contract is silent): report what a job's files get. Workers set umask 077
    for themselves (their files are private) and their jobs inherit it."""
    out = q.work / "made-by-job"
    q.run("worker", "start", "-c", "1", **_umask(0o022))
    job = q.run("enqueue", f"umask; touch {out}", **_umask(0o022)).stdout.strip()
    q.wait_state(job, "completed")
    seen = q.run("logs", job).stdout.strip()
    print(f"\njobs run with umask {seen}; a file a job creates is {oct(_mode(out))} "
          f"(the worker was started under umask 0022)")
    assert _mode(out) == 0o666 & ~int(seen, 8)


def test_ids_cannot_escape_their_directory(q: RQueuectl, tmp_path):
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    # a worker id is never a path: even a hostile one given to `worker run` creates nothing
    for wid in ("../../escape", "/tmp/escape-abs", "a/../../b", "..", "x" * 300):
        res = q.run("worker", "run", "--burst", "--worker-id", wid, check=False)
        assert res.returncode in (0, 2), res.stderr
        assert "Traceback" not in res.stderr
    after = [p for p in sorted(str(p) for p in tmp_path.rglob("*")) if p not in before]
    outside = [p for p in after if not p.startswith(str(q.home))]
    assert outside == [], f"created outside the home: {outside}"
    assert not any("escape" in os.path.relpath(p, tmp_path) for p in after), after
    assert not os.path.exists("/tmp/escape-abs.log")
    # generated worker ids and their logs stay in $QUEUECTL_HOME/workers
    ids = q.start_workers(2)
    for wid in ids:
        assert wid.startswith("w-") and wid[2:].isalnum(), wid
        assert (q.home / "workers" / f"{wid}.log").resolve().parent == (q.home / "workers").resolve()
    # job ids with path characters are refused
    for bad in ("../x", "a/b", "/etc/passwd", ".hidden", "-rf"):
        res = q.run("enqueue", "--id", bad, "true", check=False)
        assert res.returncode == 2, (bad, res.stderr)


def test_job_data_is_never_pasted_into_a_shell(q: RQueuectl):
    canary = q.work / "pwned"
    hostile = f"$(touch {canary}); `touch {canary}`; '; touch {canary}; '\" ; touch {canary} #"
    odd_dir = q.work / f"dir $(touch {canary.name}) ; `id`"
    odd_dir.mkdir()
    q.configure(poll_interval=0.05)
    q.start_workers(1)
    spec = {"command": 'printf "%s\\n" "$HOSTILE"; pwd', "env": {"HOSTILE": hostile, "ALSO": hostile},
            "cwd": str(odd_dir), "queue": "default", "id": "job.1:x-y"}
    (job,) = q.enqueue_many([spec])
    q.wait_state(job, "completed")
    # fail, time out and get cancelled with the same data: every path that handles the job
    failing = q.enqueue_many([{**spec, "id": "fails", "command": 'echo "$HOSTILE"; exit 3', "max_retries": 0},
                              {**spec, "id": "slow", "command": "sleep 30", "timeout": 0.5, "max_retries": 0}])
    q.wait_state("fails", "dead")
    q.wait_state("slow", "dead")
    assert q.run("logs", job).stdout == f"{hostile}\n{odd_dir}\n"
    assert not canary.exists() and not (odd_dir / canary.name).exists(), "job data was run by a shell"
    assert failing == ["fails", "slow"]


def test_env_values_stay_out_of_logs_listings_and_process_tables(q: RQueuectl):
    q.configure(poll_interval=0.05, kill_grace=0.5)
    fg = q.popen("worker", "run", "--verbose")  # a foreground worker logs every job to stderr
    wait_until(lambda: q.json("worker", "list"), message="the foreground worker to register")
    env = ["--env", f"API_TOKEN={SECRET}", "--env", f"OTHER={SECRET}x"]
    ok = q.run("enqueue", *env, "--command", "true").stdout.strip()
    bad = q.run("enqueue", *env, "--max-retries", "0", "--command", "exit 3").stdout.strip()
    slow = q.run("enqueue", *env, "--max-retries", "0", "--timeout", "0.5", "--command", "sleep 30").stdout.strip()
    gone = str(q.work / "gone")
    nocwd = q.run("enqueue", *env, "--max-retries", "0", "--cwd", gone, "--command", "true").stdout.strip()
    held = q.run("enqueue", *env, "--command", "sleep 30").stdout.strip()
    for job in (ok, bad, slow, nocwd):
        q.wait_state(job, "completed", "dead", timeout=20)
    q.wait_running(held)
    # while a job with the secret runs: the worker's own environment and every command line
    for p in processes_of_home(q.home):
        try:
            if "QUEUECTL_JOB_ID" not in p.environ():
                assert SECRET not in json.dumps(p.environ()), f"the worker's environment holds the secret: {p}"
            assert SECRET not in " ".join(p.cmdline()), p.cmdline()
        except Exception as exc:  # noqa: BLE001 - a process may end meanwhile
            if "NoSuchProcess" not in type(exc).__name__:
                raise
    assert q.json("cancel", held) == {held: "cancelled"}
    fg.send_signal(signal.SIGTERM)
    out, err = fg.communicate(timeout=20)
    assert held in err and bad in err  # the log does talk about the jobs
    assert SECRET not in out and SECRET not in err
    shown = [q.run(*args).stdout for args in (
        ("show", ok), ("show", bad, "--json"), ("show", nocwd, "--json"), ("list", "--json"), ("list",),
        ("dlq", "list", "--json"), ("status", "--json"), ("stats", "--json"), ("worker", "list", "--all", "--json"))]
    for text in shown:
        assert SECRET not in text
    assert json.loads(shown[1])["env"] == ["API_TOKEN", "OTHER"]


def test_worker_stop_and_rescue_only_signal_processes_that_are_ours(q: RQueuectl):
    from queuectl.core.host import create_time, host_id
    from queuectl.core.queue import JobQueue
    from queuectl.core.records import RunStart
    from queuectl.core.registry import WorkerRegistry
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec

    def bystander() -> subprocess.Popen:
        """An unrelated process (own session, so killpg on its pid would hit it) whose pid a stale row holds."""
        p = subprocess.Popen(["sleep", "60"], start_new_session=True)
        q.own.append(p)
        wait_until(lambda: create_time(p.pid), message="sleep to start")
        return p

    q.configure(poll_interval=0.05)
    store = q.store()
    registry = WorkerRegistry(store)
    here = host_id()
    fakes = ["w-reused1", "w-ours1", "w-reused2"]
    try:
        # a worker row whose pid was reused: same pid, another process (its create time differs)
        reused = bystander()
        registry.register("w-reused1", here, reused.pid, create_time(reused.pid) - 100.0, None, None)
        for args in (("worker", "stop"), ("worker", "stop", "w-reused1"), ("worker", "stop", "--force")):
            q.run(*args, check=False)
        time.sleep(0.2)  # a signal, if one was sent, has landed by now
        assert reused.poll() is None, f"`worker stop` signalled an unrelated process (exit {reused.returncode})"

        # the same row with the right create time: the check is not vacuous, the signal goes out
        ours = bystander()
        registry.register("w-ours1", here, ours.pid, create_time(ours.pid), None, None)
        q.run("worker", "stop", "w-ours1")
        assert ours.wait(timeout=5) == -signal.SIGTERM

        # rescue: a lost worker's run row names a reused pid; the rescuer must not killpg it
        victim = bystander()
        queue = JobQueue(store)
        queue.enqueue([JobSpec(command="sleep 100", id="held", max_retries=0)], Settings())
        registry.register("w-reused2", here, 1, 1.0, None, None)  # "pid 1 at 1970": long gone
        job = queue.claim("w-reused2")
        queue.start_run(job, "w-reused2", RunStart(here, victim.pid, create_time(victim.pid) - 100.0, time.time()))
        rescuer = q.spawn_worker()
        q.wait_registered([rescuer])
        q.wait_state("held", "dead", timeout=10)
        assert q.runs("held")[0].error == "worker lost"
        time.sleep(0.2)
        assert victim.poll() is None, "the rescuer killed an unrelated process whose pid a lost run recorded"
        assert reused.poll() is None
    finally:
        for p in q.own:
            if p.poll() is None:
                p.kill()
            p.wait()
        for wid in fakes:
            registry.mark_stopped(wid)
