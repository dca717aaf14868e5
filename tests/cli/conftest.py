"""Fixtures for the CLI tests: a private QUEUECTL_HOME, an in-process `run()` of `queuectl.cli.main`,
a snapshot of the whole store, and a few core helpers that move jobs into a state without workers.

Every test runs on both stores, `test_x[sqlite]` (the home's queue.db) and `test_x[postgresql]` (a fresh
database from tests/conftest.py's `pg_url`, which fails when PostgreSQL cannot be reached). Two markers
narrow that, so nothing is collected only to be skipped:
- `@pytest.mark.backends("sqlite")`: the test is about one store's own behaviour (the SQLite file's
  mode, a directory given as the store, ...) and runs on that store only;
- `@pytest.mark.no_store`: the test never opens a store (help, version, completion scripts) and runs
  once; its teardown fails if it did open one after all.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from proc_support import wait_until
from queuectl.cli import main
from queuectl.core.clock import SYSTEM_CLOCK
from queuectl.core.config import ConfigStore
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import exited
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store

WORKER = "w-test"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def home(store_under_test, request, tmp_path, monkeypatch) -> Path:
    """Every CLI test gets its own QUEUECTL_HOME and works in an empty directory of its own.

    On PostgreSQL QUEUECTL_DB names the test's database; the home still holds worker logs."""
    root = tmp_path / "home"
    monkeypatch.setenv("QUEUECTL_HOME", str(root))
    if store_under_test:
        monkeypatch.setenv("QUEUECTL_DB", store_under_test)
    else:
        monkeypatch.delenv("QUEUECTL_DB", raising=False)
    monkeypatch.delenv("QUEUECTL_DEBUG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield root
    if request.node.get_closest_marker("no_store"):
        assert not (root / "queue.db").exists(), "a no_store test opened the store: let it run on the backends"
    if store_under_test:
        # Every connection the test opened (the core's, each run()'s, each snapshot's) must be closed by
        # now: pg_url's DROP DATABASE ... WITH (FORCE) would otherwise cut a leak off silently. A closed
        # connection's server process leaves pg_stat_activity a moment later, hence the polling.
        wait_until(lambda: _other_connections(store_under_test) == 0, timeout=5, interval=0.01,
                   message="the test's PostgreSQL connections to close")


def _other_connections(url: str) -> int:
    import psycopg2

    con = psycopg2.connect(url, connect_timeout=5)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()")
            return cur.fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def workdir(home, tmp_path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def run(capsys, monkeypatch):
    """run(*args, input=None) -> Result(code, out, err), through `queuectl.cli.main` (as the console script)."""

    def _run(*args: str, input: str | None = None) -> Result:
        capsys.readouterr()  # drop whatever came before
        monkeypatch.setattr(sys, "stdin", io.StringIO(input if input is not None else ""))
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover - main always exits
            raise AssertionError("queuectl.cli.main returned instead of exiting")
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run


class Core:
    """The core over the test's store, to seed jobs and drive them into states without workers."""

    def __init__(self) -> None:
        self.store = open_store()
        self.queue = JobQueue(self.store)
        self.config = ConfigStore(self.store)
        self.settings = Settings()
        self.clock = SYSTEM_CLOCK  # set a FrozenClock to seed jobs that finished long ago

    def close(self) -> None:
        self.store.close()

    def add(self, command: str = "true", **fields) -> str:
        self.queue = JobQueue(self.store, self.clock)  # with the clock the test may have set since
        return self.queue.enqueue([JobSpec(command=command, **fields)], self.config.settings())[0]

    def claim(self, job_id: str):
        """Claim `job_id` (it must be the next due job of its queue) and record a run; returns (job, run)."""
        self.queue = JobQueue(self.store, self.clock)
        record = self.queue.get(job_id)
        claimed = self.queue.claim(WORKER, queues=[record.queue])
        assert claimed is not None and claimed.id == job_id, f"expected to claim {job_id}, got {claimed}"
        return claimed, self._start_run(claimed)

    def _start_run(self, claimed) -> int:
        return self.queue.start_run(claimed, WORKER, RunStart("test-host", None, None, self.clock.now()))

    def finish(self, job_id: str, exit_code: int | None = 0, output: bytes = b"", error: str | None = None):
        claimed, number = self.claim(job_id)
        result = self.queue.finish(claimed, WORKER, number, exited(exit_code, error), self.settings, output=output,
                                   output_bytes=len(output))
        return result.state

    # shorthands: one job in one state
    def pending(self, job_id: str, command: str = "true", **fields) -> str:
        return self.add(command, id=job_id, **fields)

    def processing(self, job_id: str, command: str = "sleep 100", **fields) -> str:
        self.add(command, id=job_id, **fields)
        self.claim(job_id)
        return job_id

    def completed(self, job_id: str, output: bytes = b"done\n", command: str = "echo done", **fields) -> str:
        self.add(command, id=job_id, **fields)
        assert self.finish(job_id, 0, output) == "completed"
        return job_id

    def failed(self, job_id: str, output: bytes = b"oops\n", command: str = "false", **fields) -> str:
        fields.setdefault("max_retries", 3)
        self.add(command, id=job_id, **fields)
        assert self.finish(job_id, 1, output) == "failed"
        return job_id

    def dead(self, job_id: str, output: bytes = b"boom\n", command: str = "exit 3", **fields) -> str:
        fields.setdefault("max_retries", 0)
        self.add(command, id=job_id, **fields)
        assert self.finish(job_id, 3, output) == "dead"
        return job_id

    def cancelled(self, job_id: str, command: str = "true", **fields) -> str:
        self.add(command, id=job_id, **fields)
        self.queue.cancel([job_id])
        return job_id

    def state(self, job_id: str) -> str:
        self.queue = JobQueue(self.store, self.clock)
        return self.queue.get(job_id).state


@pytest.fixture
def core(home):
    c = Core()
    yield c
    c.close()


def snapshot(home: Path, pg_url: str | None = None) -> dict[str, list[tuple]]:
    """Every row of every table of the store, read behind the core's back (plain sqlite3 or psycopg2,
    read-only): the home's queue.db, or the PostgreSQL database `pg_url`.

    {} is "no store yet": no SQLite file, or a PostgreSQL database that no command has migrated (the
    database itself exists from the start of the test). An empty store has its tables, with no rows.
    """
    return _snapshot_postgresql(pg_url) if pg_url else _snapshot_sqlite(home / "queue.db")


def _snapshot_sqlite(path: Path) -> dict[str, list[tuple]]:
    if not path.exists():
        return {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def _snapshot_postgresql(url: str) -> dict[str, list[tuple]]:
    import psycopg2

    con = psycopg2.connect(url, connect_timeout=5)
    try:
        # one read-only transaction: every table as of the same moment, as SQLite's reader sees it
        con.set_session(readonly=True, isolation_level="REPEATABLE READ")
        with con.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name")
            tables = [r[0] for r in cur.fetchall()]
            rows = {}
            for table in tables:
                cur.execute(f'SELECT * FROM "{table}"')
                # BYTEA comes back as memoryview, whose repr is an address: compare and sort its bytes
                rows[table] = sorted((tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                                      for row in cur.fetchall()), key=repr)
        return rows
    finally:
        con.close()


@pytest.fixture
def store_snapshot(home, store_under_test):
    return lambda: snapshot(home, store_under_test)
