"""Helpers for the end-to-end tests: the CLI run as real subprocesses against a private
QUEUECTL_HOME, polling with deadlines, process inspection with psutil.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proc_support import alive, describe, group_members, processes_of_home, ts, wait_until  # noqa: F401

CLI_TIMEOUT = 60.0


# ── polling ─────────────────────────────────────────────────────────────────────────────────






# ── processes ───────────────────────────────────────────────────────────────────────────────









# ── the CLI ─────────────────────────────────────────────────────────────────────────────────


class Queuectl:
    """Drives `python -m queuectl` for one test, against that test's own home."""

    def __init__(self, home: Path, work: Path) -> None:
        self.home = home
        self.work = work  # a scratch directory outside the home, the jobs' cwd
        self.db_path = home / "queue.db"
        env = dict(os.environ)
        env.pop("QUEUECTL_DB", None)
        env.pop("QUEUECTL_HOST_ID", None)
        env["QUEUECTL_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.popens: list[subprocess.Popen] = []
        self._store = None

    # running commands
    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "queuectl", *args]

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = CLI_TIMEOUT,
            **kw: Any) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            self.argv(*args), input=input, capture_output=True, text=True, env=self.env, cwd=self.work,
            timeout=timeout, **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"queuectl {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.run(*args, "--json", input=input).stdout)

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

    def show(self, job_id: str) -> dict[str, Any]:
        return self.json("show", job_id)

    def start_workers(self, n: int = 1) -> list[str]:
        return self.json("worker", "start", "-c", str(n))["started"]

    def workers(self, include_stopped: bool = False) -> list[dict[str, Any]]:
        return self.json("worker", "list", *(["--all"] if include_stopped else []))

    # the core API, in process, for cheap polling
    def store(self):
        if self._store is None:
            from queuectl.core.db import open_store

            self._store = open_store("sqlite:///" + str(self.db_path).lstrip("/"), durable=False)
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
