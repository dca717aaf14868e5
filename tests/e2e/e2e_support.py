"""Helpers for the end-to-end tests: the CLI run as real subprocesses against a private
QUEUECTL_HOME and either store (the home's SQLite file, or a PostgreSQL URL), polling with
deadlines, process inspection with psutil.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proc_support import alive, describe, group_members, processes_of_home, ts, wait_until  # noqa: F401

CLI_TIMEOUT = 60.0
HOST_ENV = "QUEUECTL_HOST_ID"  # the test-only override of the host name (queuectl/core/host.py)


# ── direct SQL on a PostgreSQL store ────────────────────────────────────────────────────────


class Probe:
    """Read-only SQL on a PostgreSQL store, behind the core's back; reconnects across server restarts."""

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


class Queuectl:
    """Drives `python -m queuectl` for one test, against that test's own home and store.

    `store_url` None: the home's own SQLite file (QUEUECTL_DB unset, the default path is tested);
    a URL (PostgreSQL): every process gets QUEUECTL_DB=<url>, the home then holds only worker logs.
    """

    def __init__(self, home: Path, work: Path, store_url: str | None = None) -> None:
        self.home = home
        self.work = work  # a scratch directory outside the home, the jobs' cwd
        self.db_path = home / "queue.db"  # the SQLite file (when the store is the default one)
        self.store_url = store_url
        env = dict(os.environ)
        env.pop("QUEUECTL_DB", None)
        env.pop(HOST_ENV, None)
        env.pop("QUEUECTL_DEBUG", None)
        if store_url:
            env["QUEUECTL_DB"] = store_url
        env["QUEUECTL_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.popens: list[subprocess.Popen] = []
        self._store = None
        # raw reads behind the core's back: a fresh sqlite3 connection each time, or this probe
        self.probe = Probe(store_url) if store_url and not store_url.startswith("sqlite:") else None

    @property
    def is_sqlite(self) -> bool:
        return self.probe is None

    def url(self) -> str:
        """The store's URL, as the processes of this test see it."""
        return self.store_url or "sqlite:///" + str(self.db_path).lstrip("/")

    def has_store(self) -> bool:
        """True once a command created the store (SQLite: the file; PostgreSQL: the schema)."""
        if self.probe is None:
            return self.db_path.exists()
        return self.probe.value("SELECT to_regclass('worker') IS NOT NULL") is True

    # running commands
    def env_for(self, host: str | None) -> dict[str, str]:
        """The environment of a process "on" `host` (QUEUECTL_HOST_ID), or on this machine (None)."""
        return self.env if host is None else dict(self.env, **{HOST_ENV: host})

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "queuectl", *args]

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = CLI_TIMEOUT,
            host: str | None = None, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess:
        # no input: stdin is /dev/null, never the test runner's (a command must not wait on it)
        kw.setdefault("stdin", None if input is not None else subprocess.DEVNULL)
        proc = subprocess.run(
            self.argv(*args), input=input, capture_output=True, text=True, env=env or self.env_for(host),
            cwd=self.work, timeout=timeout, **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"queuectl {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args: str, input: str | None = None, host: str | None = None) -> Any:
        return json.loads(self.run(*args, "--json", input=input, host=host).stdout)

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        proc = subprocess.Popen(self.argv(*args), env=self.env, cwd=self.work, **kw)
        self.popens.append(proc)
        return proc

    # common operations
    def enqueue(self, *args: str) -> str:
        out = self.run("enqueue", *args).stdout.split()
        assert len(out) == 1, out
        return out[0]

    def enqueue_many(self, jobs: Sequence[dict[str, Any]]) -> list[str]:
        text = "".join(json.dumps(j) + "\n" for j in jobs)
        return self.run("enqueue", "-", input=text).stdout.split()

    def config(self, key: str, value: object) -> None:
        self.run("config", "set", key, str(value))

    def fast(self, *, poll: float = 0.1, backoff: float = 1) -> None:
        """Settings for quick tests: retries due after 1 s, idle workers poll 10 times a second."""
        self.config("backoff_base", backoff)
        self.config("poll_interval", poll)

    def show(self, job_id: str, host: str | None = None) -> dict[str, Any]:
        return self.json("show", job_id, host=host)

    def start_workers(self, n: int = 1, host: str | None = None, processes: int | None = None) -> list[str]:
        """`worker start -c N` (N slots, in the default layout unless `processes` is given)."""
        extra = ("--processes", str(processes)) if processes else ()
        return self.json("worker", "start", "-c", str(n), *extra, host=host)["started"]

    def worker_log(self, worker_id: str) -> str:
        path = self.home / "workers" / f"{worker_id}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def workers(self, include_stopped: bool = False) -> list[dict[str, Any]]:
        return self.json("worker", "list", *(["--all"] if include_stopped else []))

    # the core API, in process, for cheap polling
    def store(self):
        if self._store is None:
            from queuectl.core.paths import ensure_home
            from queuectl.core.store import open_store

            if self.probe is None:
                ensure_home(self.home)  # an explicit store path's folder must exist (the CLI makes only its home)
            self._store = open_store(self.url(), durable=False)
        return self._store

    def job(self, job_id: str):
        from queuectl.core.queue import JobQueue

        return JobQueue(self.store()).get(job_id)

    def state(self, job_id: str) -> str:
        return self.job(job_id).state

    def runs(self, job_id: str):
        from queuectl.core.queue import JobQueue

        return JobQueue(self.store()).runs(job_id)

    def counts(self) -> dict[str, int]:
        from queuectl.core.queue import JobQueue

        return JobQueue(self.store()).counts().by_state

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a read-only query behind the core's back (a fresh read-only sqlite3 connection, or
        the PostgreSQL probe), written with `?` placeholders like the core's own SQL."""
        if self.probe is None:
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
            try:
                return con.execute(query, tuple(params)).fetchall()
            finally:
                con.close()
        # psycopg2 formats with %: a literal % (LIKE 'x-%') is doubled, `?` becomes %s
        rows = self.probe.rows(query.replace("%", "%%").replace("?", "%s"), params)
        # BYTEA comes back as memoryview (compared by content, but repr'd by address): bytes, as sqlite3 gives
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    def worker_rows(self) -> dict[str, tuple]:
        rows = self.store().execute("SELECT id, state, pid, heartbeat_at FROM worker").fetchall()
        return {r[0]: r[1:] for r in rows}

    def wait_state(self, job_id: str, *states: str, timeout: float = 15) -> Any:
        return wait_until(lambda: self.job(job_id) if self.state(job_id) in states else None,
                          timeout=timeout, message=f"job {job_id} to be {'/'.join(states)}")

    def wait_running(self, job_id: str, timeout: float = 15) -> Any:
        """Until the job is processing and its current run (with the shell's pid) is recorded."""
        def running():
            job = self.job(job_id)
            if job.state != "processing":
                return None
            runs = [r for r in self.runs(job_id) if r.finished_at is None and r.pid]
            return runs[-1] if runs else None

        return wait_until(running, timeout=timeout, message=f"job {job_id} to run")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.probe is not None:
            self.probe.close()
