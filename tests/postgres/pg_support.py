"""Helpers for the PostgreSQL / several-hosts tests: the CLI run as real subprocesses against a
PostgreSQL store and a private QUEUECTL_HOME, direct SQL probes that survive a server restart,
process inspection with psutil, and a private PostgreSQL cluster that a test may stop and start.

Several hosts on one machine: every process started "on" a host gets QUEUECTL_HOST_ID=<host>,
the test-only override of `socket.gethostname()` (queuectl/core/host.py).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proc_support import (  # noqa: F401  (re-exported for the tests)
    alive, describe, group_members, kill_all, processes_of_home, processes_of_workers, processes_where, ts, wait_until,
)

CLI_TIMEOUT = 60.0
HOST_ENV = "QUEUECTL_HOST_ID"


# ── polling ─────────────────────────────────────────────────────────────────────────────────


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command; asserts there is exactly one and no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {proc.stderr!r}"
    assert "Traceback" not in proc.stderr and "File \"" not in proc.stderr, proc.stderr
    assert lines[0].startswith("queuectl: error: "), lines[0]
    return lines[0]


# ── direct SQL on the test's database ───────────────────────────────────────────────────────


class Probe:
    """Read-only SQL on the store, for cheap polling; reconnects across server restarts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = None

    def rows(self, sql: str, params: Sequence[Any] = (), *, timeout: float = 30) -> list[tuple]:
        import psycopg2

        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg2.connect(self.url, connect_timeout=3)
                    self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    cur.execute(sql, tuple(params))
                    return cur.fetchall()
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


# ── the CLI ─────────────────────────────────────────────────────────────────────────────────


class PgQueuectl:
    """Drives `python -m queuectl` for one test against a PostgreSQL store and the test's own home."""

    def __init__(self, home: Path, work: Path, db_url: str) -> None:
        self.home = home
        self.work = work  # scratch directory outside the home: the jobs' cwd
        self.db_url = db_url
        env = dict(os.environ)
        env.pop(HOST_ENV, None)
        env.pop("QUEUECTL_DEBUG", None)
        env["QUEUECTL_DB"] = db_url
        env["QUEUECTL_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.popens: list[subprocess.Popen] = []
        self.probe = Probe(db_url)
        self.orphan_workers: set[str] = set()  # workers whose job processes the test leaves orphaned

    # running commands
    def env_for(self, host: str | None) -> dict[str, str]:
        env = dict(self.env)
        if host is not None:
            env[HOST_ENV] = host
        return env

    @staticmethod
    def argv(*args: str) -> list[str]:
        return [sys.executable, "-m", "queuectl", *args]

    def run(self, *args: str, host: str | None = None, input: str | None = None, check: bool = True,
            timeout: float = CLI_TIMEOUT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            self.argv(*args), input=input, capture_output=True, text=True, env=env or self.env_for(host),
            cwd=self.work, timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"queuectl {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args: str, host: str | None = None, input: str | None = None) -> Any:
        return json.loads(self.run(*args, "--json", host=host, input=input).stdout)

    def enqueue(self, *args: str) -> str:
        out = self.run("enqueue", *args).stdout.split()
        assert len(out) == 1, out
        return out[0]

    def enqueue_many(self, jobs: Sequence[dict[str, Any]]) -> list[str]:
        text = "".join(json.dumps(j) + "\n" for j in jobs)
        return self.run("enqueue", "-", input=text).stdout.split()

    def config(self, key: str, value: object) -> None:
        self.run("config", "set", key, str(value))

    def show(self, job_id: str, host: str | None = None) -> dict[str, Any]:
        return self.json("show", job_id, host=host)

    def start_workers(self, n: int, host: str | None = None) -> list[str]:
        return self.json("worker", "start", "-c", str(n), host=host)["started"]

    def worker_log(self, worker_id: str) -> str:
        path = self.home / "workers" / f"{worker_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # direct reads, cheap enough to poll
    def state(self, job_id: str) -> str | None:
        return self.probe.value("SELECT state FROM job WHERE id = %s", (job_id,))

    def states(self, ids: Sequence[str]) -> dict[str, str]:
        return dict(self.probe.rows("SELECT id, state FROM job WHERE id = ANY(%s)", (list(ids),)))

    def counts(self) -> dict[str, int]:
        return dict(self.probe.rows("SELECT state, count(*) FROM job GROUP BY state"))

    def runs(self, job_id: str) -> list[dict[str, Any]]:
        cols = ("number", "attempt", "worker_id", "host", "pid", "started_at", "finished_at", "exit_code", "error")
        rows = self.probe.rows(f"SELECT {', '.join(cols)} FROM run WHERE job_id = %s ORDER BY number", (job_id,))
        return [dict(zip(cols, r)) for r in rows]

    def running_run(self, job_id: str) -> dict[str, Any] | None:
        """The job's current run once it is processing and its shell's pid is recorded."""
        if self.state(job_id) != "processing":
            return None
        runs = [r for r in self.runs(job_id) if r["finished_at"] is None and r["pid"]]
        return runs[-1] if runs else None

    def snapshot(self) -> tuple:
        """Everything a bad input must leave unchanged."""
        return (
            self.probe.rows("SELECT id, command, state, attempts, max_retries, priority, run_at, updated_at "
                            "FROM job ORDER BY id"),
            self.probe.rows("SELECT job_id, number, finished_at, exit_code FROM run ORDER BY job_id, number"),
            self.probe.rows("SELECT key, value FROM setting ORDER BY key"),
            self.probe.rows("SELECT state, n FROM job_count ORDER BY state"),
        )

    def close(self) -> None:
        self.probe.close()


# ── a private PostgreSQL cluster, that a test may stop and start ────────────────────────────


def _pg_bindir() -> Path:
    explicit = os.environ.get("QUEUECTL_TEST_PG_BIN")
    if explicit:
        return Path(explicit)
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        candidate = Path(out.stdout.strip())
        if out.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    except OSError:
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("cannot find PostgreSQL's initdb (set QUEUECTL_TEST_PG_BIN to its directory)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateCluster:
    """A throw-away PostgreSQL server on its own port and data directory.

    Root cannot run the server: then initdb and pg_ctl run as the `postgres` user, in a
    directory it owns.
    """

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="queuectl-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, user="postgres")
            os.chmod(self.root, 0o700)

    def _cmd(self, *argv: str) -> subprocess.CompletedProcess:
        full = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_postgres:
            full = ["runuser", "-u", "postgres", "--", *full]
        proc = subprocess.run(full, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(full)} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.log_tail()}")
        return proc

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def init(self) -> None:
        self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N", "-E", "UTF8")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=50")
        self._cmd("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.logfile), "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def running(self) -> bool:
        full = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self._as_postgres:
            full = ["runuser", "-u", "postgres", "--", *full]
        return subprocess.run(full, capture_output=True, timeout=30).returncode == 0

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"), connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.running():
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
