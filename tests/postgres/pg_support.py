"""Helpers for the PostgreSQL / several-hosts tests: the CLI run as real subprocesses against a
PostgreSQL store and a private QUEUECTL_HOME (the e2e suite's Queuectl, reading through its SQL
probe, which survives a server restart), process inspection with psutil, and a private PostgreSQL
cluster that a test may stop and start.

Several hosts on one machine: every process started "on" a host gets QUEUECTL_HOST_ID=<host>,
the test-only override of `socket.gethostname()` (queuectl/core/host.py).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from e2e_support import Queuectl
from pg_admin import run_sql
from proc_support import (  # noqa: F401  (re-exported for the tests)
    alive,
    describe,
    group_members,
    kill_all,
    one_line_error,
    processes_of_home,
    processes_of_workers,
    processes_where,
    ts,
    wait_until,
)

# ── the CLI ─────────────────────────────────────────────────────────────────────────────────


class PgQueuectl(Queuectl):
    """The e2e Queuectl on a PostgreSQL store, whose reads go through the probe (raw SQL that rides
    out a server restart, where the core's store would fail) and come back as plain rows and dicts."""

    def __init__(self, home: Path, work: Path, db_url: str) -> None:
        super().__init__(home, work, db_url)
        self.orphan_workers: set[str] = set()  # workers whose job processes the test leaves orphaned

    # direct reads, cheap enough to poll
    def state(self, job_id: str) -> str | None:
        return self.probe.value("SELECT state FROM job WHERE id = %s", (job_id,))

    def states(self, ids: Sequence[str]) -> dict[str, str]:
        return dict(self.probe.rows("SELECT id, state FROM job WHERE id = ANY(%s)", (list(ids),)))

    def counts(self) -> dict[str, int]:
        """Jobs per state, only the states that have some."""
        return dict(self.probe.rows("SELECT state, count(*) FROM job GROUP BY state"))

    def runs(self, job_id: str) -> list[dict[str, Any]]:
        cols = ("number", "attempt", "worker_id", "host", "pid", "started_at", "finished_at", "exit_code", "error")
        rows = self.probe.rows(f"SELECT {', '.join(cols)} FROM run WHERE job_id = %s ORDER BY number", (job_id,))
        return [dict(zip(cols, r, strict=True)) for r in rows]

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
            self.probe.rows("SELECT state, shard, n FROM job_count ORDER BY state, shard"),
        )


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
        run_sql(f'CREATE DATABASE "{name}"', url=self.url("postgres"))
        return self.url(name)

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.running():
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
