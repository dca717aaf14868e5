"""Fixtures for the CLI tests: a private QUEUECTL_HOME, an in-process `run()` of `queuectl.cli.main`,
a snapshot of the whole store, and a few core helpers that move jobs into a state without workers."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from queuectl.cli import main
from queuectl.core.clock import SYSTEM_CLOCK
from queuectl.core.config import ConfigStore
from queuectl.core.db import open_store
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec

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
def home(tmp_path, monkeypatch) -> Path:
    """Every CLI test gets its own QUEUECTL_HOME and works in an empty directory of its own."""
    root = tmp_path / "home"
    monkeypatch.setenv("QUEUECTL_HOME", str(root))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    monkeypatch.delenv("QUEUECTL_DEBUG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return root


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
        self.queue = JobQueue(self.store, self.clock)  # re-point the models at this store (the CLI does too)
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
        result = self.queue.finish(claimed, WORKER, number, exit_code=exit_code, error=error, output=output,
                                   output_bytes=len(output), settings=self.settings)
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


def snapshot(home: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the store (read with plain sqlite3, behind the core's back)."""
    path = home / "queue.db"
    if not path.exists():
        return {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()


@pytest.fixture
def store_snapshot(home):
    return lambda: snapshot(home)
