"""Faults of the store and its home. Each gives a one-line error and exit 1 from the CLI, or, in a
worker, a logged retry with back-off — never a traceback, never a spin at 100 % CPU, never a
half-written or lost job.

- the store runs out of space (a real ENOSPC: a 4 MiB tmpfs) during an enqueue and during a run's finish;
- the store is locked longer than the busy timeout (db.BUSY_TIMEOUT_S is 10 s and cannot be
  configured; the tests cut it to 0.5 s in the process under test, see SHORT_BUSY_CLI) — on
  PostgreSQL, every table locked by another client past the lock_timeout it sets;
- the database file is corrupt or not a database (SQLite);
- QUEUECTL_HOME cannot be created (a path under a regular file: chmod does not stop root) or sits
  on a read-only filesystem;
- a worker's store is deleted (db, WAL and SHM) while a job runs; on PostgreSQL, its database dropped.

The tests of the SQLite file itself (full disk, corrupt file, deleted file, read-only filesystem)
run on SQLite only; the others run on both stores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import pytest

from pg_admin import run_sql
from reliability_support import (
    SHORT_BUSY_CLI,
    RQueuectl,
    cpu_percent,
    fill_fs,
    make_q,
    one_line_error,
    owned_q,
    reap_module,
    tmpfs,
    tracebacks,
    wait_until,
)

CPU_LIMIT = 30.0  # percent of one core, over a 1 s sample: back-off, not a spin


def snapshot(q: RQueuectl) -> dict[str, list[tuple]]:
    """Every row a refused command must leave as it was, read behind the core's back."""
    return {t: sorted(q.sql(f"SELECT * FROM {t}"), key=repr) for t in ("job", "run", "job_count", "setting")}


def retry_delays(log: str, what: str) -> list[float]:
    return [float(x) for x in re.findall(rf"store error while {what}: .*; retrying in ([0-9.]+)s", log)]


def assert_backs_off(delays: list[float]) -> None:
    assert len(delays) >= 3, delays
    assert all(b > a or b == 30.0 for a, b in pairwise(delays)), f"no back-off: {delays}"


# ── out of space ────────────────────────────────────────────────────────────────────────────


def test_store_full_during_enqueue_is_one_line_and_changes_nothing(qfs: RQueuectl):
    q = qfs
    q.enqueue("--id", "a1", "true")
    before = snapshot(q)
    filler = fill_fs(q.home.parent, leave=200 * 1024)
    big = json.dumps({"id": "big", "command": "echo " + "x" * 900_000})
    bulk = "".join(json.dumps({"id": f"b{i}", "command": "echo " + "y" * 30_000}) + "\n" for i in range(12))
    lines = []
    attempts = ((("enqueue", "-"), big), (("enqueue", "-"), bulk), (("config", "set", "max_retries", "5"), None))
    for args, stdin in attempts:
        res = q.run(*args, input=stdin, check=False)
        if args[0] == "config" and res.returncode == 0:
            continue  # a tiny write may still fit
        lines.append(one_line_error(res, 1))
    filler.unlink()
    after = snapshot(q)
    after["setting"] = before["setting"]  # the small config write may have fitted
    assert after == before, "a refused enqueue left something behind"
    assert q.enqueue("--id", "a2", "true") == "a2"  # space back: the store works
    assert q.sql("PRAGMA integrity_check") == [("ok",)]
    for line in lines:
        assert re.search(r"full|space", line, re.I), f"the error does not say the store is full: {line!r}"


@pytest.fixture(scope="module")
def full_at_finish(tmp_path_factory):
    """A worker finishes a job (400 KB of output) while its store has 40 KB left; then space returns."""
    root = tmp_path_factory.mktemp("fullfinish")
    with tmpfs(root / "fs") as mount:
        q = make_q(mount / "qhome", root / "work")
        try:
            q.configure(poll_interval=0.05)
            w = q.spawn_worker()
            q.wait_registered([w])
            ended = q.work / "ended"
            job_id = q.enqueue(f"sleep 1; head -c 400000 /dev/zero | tr '\\0' x; date +%s.%N > {ended}")
            q.wait_running(job_id)
            filler = fill_fs(mount, leave=40 * 1024)
            wait_until(lambda: len(retry_delays(w.log.read_text(), "recording a result")) >= 3, timeout=15,
                       message="the worker to retry recording the result")
            cpu = cpu_percent(w.pid)
            assert q.state(job_id) == "processing"
            filler.unlink()
            q.wait_state(job_id, "completed", "failed", "dead", timeout=20)
            yield {"q": q, "job": q.show(job_id), "log": w.log.read_text(), "cpu": cpu,
                   "ended": float(ended.read_text()), "output": q.run("logs", job_id).stdout}
        finally:
            reap_module(q)


def test_store_full_at_finish_retries_with_backoff_and_records_the_run_once(full_at_finish):
    f = full_at_finish
    assert_backs_off(retry_delays(f["log"], "recording a result"))
    assert "Traceback" not in f["log"]
    assert f["cpu"] < CPU_LIMIT, f"the worker used {f['cpu']:.0f}% CPU while the store was full"
    job = f["job"]
    assert job["state"] == "completed" and job["attempts"] == 1, job
    (run,) = job["runs"]
    assert run["exit_code"] == 0 and run["error"] is None and run["output_bytes"] == 400_000
    assert f["output"] == "x" * 400_000, "the output was not kept whole"


def test_store_full_at_finish_keeps_the_runs_real_end_time(full_at_finish):
    """The run ended when its process did; the store's being full for a while must not stretch it."""
    from e2e_support import ts

    (run,) = full_at_finish["job"]["runs"]
    recorded = ts(run["finished_at"])
    assert abs(recorded - full_at_finish["ended"]) < 1.0, (
        f"the run is recorded as ending {recorded - full_at_finish['ended']:.1f}s after its process ended "
        f"(duration {run['duration']:.1f}s for a ~1 s job)")


# ── locked past the busy timeout ───────────────────────────────────────────────────────────


def _short_busy(q: RQueuectl, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """`queuectl ARGS` with a 0.5 s busy timeout."""
    return subprocess.run([sys.executable, "-c", SHORT_BUSY_CLI, *args], input=input, capture_output=True, text=True,
                          env=dict(q.env, RQ_BUSY="0.5"), cwd=q.work, timeout=60)


@contextmanager
def _write_lock_held_elsewhere(q: RQueuectl) -> Iterator[None]:
    """Another client holds the store's write lock: on SQLite the file's (BEGIN EXCLUSIVE; WAL readers go
    on), on PostgreSQL an EXCLUSIVE lock on every table (a migration's, an admin's: writes and row
    locks wait, plain reads go on). The busy timeout is SQLite's busy_timeout or PostgreSQL's lock_timeout."""
    if q.is_sqlite:
        con = sqlite3.connect(str(q.db_path), isolation_level=None, timeout=30)
        con.execute("BEGIN EXCLUSIVE")
    else:
        import psycopg2

        con = psycopg2.connect(q.store_url, connect_timeout=5)
        con.cursor().execute("LOCK TABLE job, run, worker, setting, job_count, queuectl_schema IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        con.rollback()
        con.close()


def test_store_locked_past_the_busy_timeout_cli_says_busy_and_changes_nothing(q: RQueuectl):
    a1 = q.enqueue("--id", "a1", "true")
    q.close()
    before = snapshot(q)
    with _write_lock_held_elsewhere(q):
        for args in (("enqueue", "true"), ("enqueue", "-"), ("config", "set", "max_retries", "5"), ("cancel", a1),
                     ("delete", a1)):
            started = time.monotonic()
            res = _short_busy(q, *args, input='{"command":"true"}' if args[-1] == "-" else None)
            line = one_line_error(res, 1)
            assert "busy" in line.lower(), line
            assert time.monotonic() - started < 5, "it waited far longer than its busy timeout"
        # readers are not blocked by a writer (SQLite: WAL; PostgreSQL: MVCC)
        for args in (("status",), ("list",), ("show", a1)):
            res = _short_busy(q, *args)
            assert res.returncode == 0, res.stderr
    assert snapshot(q) == before
    assert q.enqueue("--id", "a2", "true") == "a2"


def test_worker_rides_out_a_lock_longer_than_its_busy_timeout(q: RQueuectl):
    q.configure(poll_interval=0.05)
    q.close()
    w = q.spawn_worker(argv=[sys.executable, "-c", SHORT_BUSY_CLI], env={"RQ_BUSY": "0.3"})
    q.wait_registered([w])
    job_id = q.enqueue("sleep 0.5; echo hi")
    q.wait_running(job_id)
    q.close()
    with _write_lock_held_elsewhere(q):
        wait_until(lambda: len(re.findall(r"store error while .*busy.*retrying in", w.log.read_text())) >= 3,
                   timeout=15, message="the worker to retry against the locked store")
        cpu = cpu_percent(w.pid)
    job = q.wait_state(job_id, "completed", "failed", "dead", timeout=20)
    log = w.log.read_text()
    assert job.state == "completed" and job.attempts == 1
    assert len(q.runs(job_id)) == 1
    assert q.run("logs", job_id).stdout == "hi\n"
    assert "Traceback" not in log
    assert cpu < CPU_LIMIT, f"the worker used {cpu:.0f}% CPU while the store was locked"
    by_what: dict[str, list[float]] = {}
    for what, delay in re.findall(r"store error while ([a-z ]+): .*busy.*; retrying in ([0-9.]+)s", log):
        by_what.setdefault(what, []).append(float(delay))
    assert by_what, log
    for what, delays in by_what.items():
        assert delays == sorted(delays), f"{what}: no back-off {delays}"


# ── corrupt or not a database ──────────────────────────────────────────────────────────────


def _corrupt(kind: str, db: Path, good: bytes) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if kind == "garbage":
        db.write_bytes(os.urandom(8192))
    elif kind == "truncated":
        db.write_bytes(good[: len(good) // 3])
    elif kind == "pages":  # valid header, schema intact, some table pages overwritten
        data = bytearray(good)
        page = 4096
        for n in (4, 5, 6, 7):
            data[n * page:(n + 1) * page] = os.urandom(page)
        db.write_bytes(bytes(data))


@pytest.mark.backends("sqlite")  # a corrupt database file
@pytest.mark.parametrize("kind", ["garbage", "truncated", "pages"])
def test_corrupt_store_one_line_errors_and_the_file_is_left_alone(q: RQueuectl, kind):
    jobs = "".join(json.dumps({"id": f"j{i}", "command": "echo " + "z" * 1500}) + "\n" for i in range(40))
    q.run("enqueue", "-", input=jobs)
    good = q.db_path.read_bytes()
    q.close()
    _corrupt(kind, q.db_path, good)
    digest = hashlib.sha256(q.db_path.read_bytes()).hexdigest()
    q.store_broken = True
    commands = [("status",), ("list",), ("list", "--limit", "1000"), ("enqueue", "true"), ("show", "j3"),
                ("config", "set", "max_retries", "2"), ("dlq", "list"), ("purge",), ("worker", "list")]
    if kind != "pages":  # (with intact worker pages it may start one; the foreground run below covers that)
        commands.append(("worker", "start"))
    failures = 0
    for args in commands:
        res = q.run(*args, check=False, timeout=60)
        if res.returncode == 0 and kind == "pages":
            continue  # the pages it needs may be intact
        line = one_line_error(res, 1)
        assert re.search(r"corrupt|not a queuectl database|malformed", line), line
        failures += 1
    assert failures >= (1 if kind == "pages" else len(commands))
    if kind != "pages":  # (with intact pages a write may succeed)
        assert hashlib.sha256(q.db_path.read_bytes()).hexdigest() == digest, "a command rewrote the corrupt store"
    assert not list((q.home / "workers").glob("*.log")), "a worker was started on a corrupt store"

    foreground_worker_fails_cleanly(q)


def foreground_worker_fails_cleanly(q: RQueuectl) -> None:
    """`worker run --burst` on a broken store: one line and exit 1 if it cannot open the store at all;
    otherwise logged retries with back-off at low CPU, and SIGTERM ends it."""
    proc = q.popen("worker", "run", "--burst")
    try:
        out, err = proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        cpu = cpu_percent(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert cpu < CPU_LIMIT, f"{cpu:.0f}% CPU"
        assert "Traceback" not in err, err
        assert_backs_off([float(x) for x in re.findall(r"retrying in ([0-9.]+)s", err)])
    else:
        assert proc.returncode == 1, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ── the home cannot be used ────────────────────────────────────────────────────────────────


def test_home_under_a_regular_file_one_line_errors_and_nothing_created(q: RQueuectl, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file\n")
    q.home = blocker / "home"
    q.db_path = q.home / "queue.db"
    q.env["QUEUECTL_HOME"] = str(q.home)
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    for args in (("status",), ("list",), ("enqueue", "true"), ("enqueue", "-"), ("worker", "start"),
                 ("worker", "run", "--burst"), ("worker", "stop"), ("worker", "list"), ("config", "set", "max_retries",
                                                                                       "2"),
                 ("show", "x"), ("stats",)):  # `tui` without a terminal stops before the home (exit 2)
        res = q.run(*args, input='{"command":"true"}' if args[-1] == "-" else None, check=False, timeout=60)
        line = one_line_error(res, 1)
        assert "QUEUECTL_HOME" in line and str(q.home) in line, line
    res = q.run("--db", f"sqlite:///{blocker}/q.db", "status", check=False)
    one_line_error(res, 1)
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing, "something was created"
    assert blocker.read_text() == "a regular file\n"


def test_home_on_a_read_only_filesystem_one_line_errors(qfs: RQueuectl, small_fs: Path):
    q = qfs
    q.enqueue("--id", "a1", "true")
    q.close()
    before = snapshot(q)
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_fs)]).returncode == 0
    try:
        for args in (("enqueue", "true"), ("config", "set", "max_retries", "2"), ("cancel", "a1"), ("status",)):
            res = q.run(*args, check=False, timeout=60)
            if res.returncode == 0 and args[0] == "status":
                continue  # reading a read-only store is fine if SQLite manages it
            one_line_error(res, 1)
        foreground_worker_fails_cleanly(q)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    assert snapshot(q) == before


# ── the store vanishes under a worker ──────────────────────────────────────────────────────


@pytest.mark.backends("sqlite")  # the SQLite file unlinked under the worker (PostgreSQL: the dropped database below)
def test_worker_notices_its_store_was_deleted(q: RQueuectl):
    q.configure(poll_interval=0.05)
    q.close()
    w = q.spawn_worker()
    q.wait_registered([w])
    job_id = q.enqueue("sleep 1; echo done")
    q.wait_running(job_id)
    q.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(q.db_path) + suffix).unlink(missing_ok=True)
    q.store_broken = True
    deadline = time.monotonic() + 5  # ten heartbeats
    while time.monotonic() < deadline and w.proc.poll() is None:
        if re.search(r"(WARNING|ERROR).*(store|database)", w.log.read_text()):
            break
        time.sleep(0.1)
    noticed = w.log.read_text()
    cpu = cpu_percent(w.pid) if w.proc.poll() is None else 0.0
    if w.proc.poll() is None:
        w.proc.send_signal(signal.SIGTERM)
        w.proc.wait(timeout=10)
    assert cpu < CPU_LIMIT, f"{cpu:.0f}% CPU"
    assert not tracebacks({"log": w.log.read_text()}), w.log.read_text()
    wait_until(lambda: not q.job_processes(), timeout=5, message="the job's processes to be gone")
    # The worker must not carry on silently against a store nobody can see any more (WAL mode has
    # no SQLITE_READONLY_DBMOVED check: writes to the unlinked file simply succeed).
    assert re.search(r"(WARNING|ERROR).*(store|database)", noticed), (
        f"within 5 s of its store being deleted the worker logged nothing about it:\n{noticed[-1500:]}")


@pytest.fixture
def q_droppable(tmp_path: Path, pg_url_own: str) -> Iterator[RQueuectl]:
    """`q` on a PostgreSQL database of this test alone, so that it may drop it."""
    with owned_q(tmp_path / "qhome", tmp_path / "work", pg_url_own) as qc:
        yield qc


# the PostgreSQL counterpart of the deleted SQLite file above
def test_worker_backs_off_while_its_database_is_dropped_and_the_cli_says_so_in_one_line(q_droppable: RQueuectl):
    """The database is dropped under a worker. To a PostgreSQL client that is a store that went away,
    like an outage it cannot tell from this (a database may be restored): the worker logs store errors
    with back-off at low CPU and no traceback, and the CLI fails in one line, exit 1."""
    q_droppable.configure(poll_interval=0.05)
    q_droppable.close()
    w = q_droppable.spawn_worker()
    q_droppable.wait_registered([w])
    job_id = q_droppable.enqueue("echo done")
    q_droppable.wait_state(job_id, "completed")
    q_droppable.close()
    q_droppable.store_broken = True
    run_sql(f'DROP DATABASE "{q_droppable.store_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    try:
        wait_until(lambda: len(re.findall(r"store error while [a-z ]+: .*does not exist.*; retrying in",
                                          w.log.read_text())) >= 3,
                   timeout=15, message="the worker to retry against the dropped database")
        cpu = cpu_percent(w.pid)
        for args in (("status",), ("enqueue", "true"), ("worker", "list")):
            line = one_line_error(q_droppable.run(*args, check=False), 1)
            assert "does not exist" in line, line
    finally:
        # An idle worker retrying its claim stops at once; one retrying a heartbeat ignores SIGTERM
        # until the store answers (docs/reliability.md, known limits), which this one never will:
        # SIGKILL after a short grace.
        w.proc.send_signal(signal.SIGTERM)
        try:
            w.proc.wait(timeout=3)
            print(f"\nthe worker exited on SIGTERM ({w.proc.returncode})")
        except subprocess.TimeoutExpired:
            q_droppable.kill9(w)
            print("\nthe worker ignored SIGTERM (retrying its heartbeat): killed")
    log = w.log.read_text()
    assert not tracebacks({"log": log}), log
    assert cpu < CPU_LIMIT, f"the worker used {cpu:.0f}% CPU while its database was gone"
    by_what: dict[str, list[float]] = {}
    for what, delay in re.findall(r"store error while ([a-z ]+): .*does not exist.*; retrying in ([0-9.]+)s", log):
        by_what.setdefault(what, []).append(float(delay))
    for what, delays in by_what.items():
        assert delays == sorted(delays), f"{what}: no back-off {delays}"
    assert_backs_off(max(by_what.values(), key=len))
