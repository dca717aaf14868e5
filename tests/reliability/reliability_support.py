"""Helpers for the reliability tests: the end-to-end helpers (tests/e2e/e2e_support.py) plus
workers this test starts and owns itself (so it can kill -9 them at any moment and reap them),
raw store access behind the core's back (`sql()`, on either store), CPU sampling and log inspection.

Every process a test starts carries `QUEUECTL_HOME=<this test's home>` in its environment; the
`q` fixture (conftest.py) finds leftovers by it and fails the test if any survive it.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from e2e_support import (
    Queuectl,
    alive,
    describe,
    group_members,
    processes_of_home,
    ts,
    wait_until,
)
from proc_support import force_stop_workers, kill_leftovers, one_line_error, reap_popens

__all__ = [
    "RQueuectl", "PoolWorker", "alive", "describe", "group_members", "processes_of_home", "ts", "wait_until",
    "SHORT_BUSY_CLI", "cpu_percent", "one_line_error", "median", "fill_fs", "tmpfs", "tracebacks",
    "make_q", "reap", "owned_q", "make_q_for_module", "reap_module",
]

# `python -c SHORT_BUSY_CLI ARGS…` is `queuectl ARGS…` with the store's busy timeout cut from
# db.BUSY_TIMEOUT_S (10 s, not configurable by environment or setting) to 0.5 s, so a test can hold
# the write lock "longer than the busy timeout" without waiting 10 s. Only the timeout changes.
SHORT_BUSY_CLI = (
    "import sys, queuectl.core.store as s; "
    "s.open_store.__kwdefaults__['busy_timeout'] = float(__import__('os').environ.get('RQ_BUSY', '0.5')); "
    "from queuectl.cli import main; main(sys.argv[1:])"
)


def cpu_percent(pid: int, over: float = 1.0) -> float:
    """CPU use of `pid` (percent of one core) measured over `over` seconds."""
    proc = psutil.Process(pid)
    return proc.cpu_percent(interval=over)


def fill_fs(directory: Path, leave: int) -> Path:
    """Fill the filesystem of `directory` with one file until ENOSPC, then give back `leave` bytes."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096):
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


@contextmanager
def tmpfs(mount: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a small tmpfs at `mount` (root only; skips the test otherwise); unmount afterwards."""
    import pytest

    mount.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass
class PoolWorker:
    id: str
    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    killed_at: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


class RQueuectl(Queuectl):
    """A Queuectl (CLI as subprocesses against a private home) that also starts, kills and reaps
    its own `worker run` processes, and reads the store directly."""

    def __init__(self, home: Path, work: Path, store_url: str | None = None) -> None:
        super().__init__(home, work, store_url)
        self.pool: list[PoolWorker] = []
        self.own: list[subprocess.Popen] = []  # other processes the test started (reaped at teardown)
        self.store_broken = False  # set by tests that break the store on purpose: no `worker stop` at teardown
        self._n = 0

    # ── settings, straight into the store (no CLI round trip) ───────────────────────────────
    def configure(self, **values: Any) -> None:
        from queuectl.core.config import ConfigStore

        for key, value in values.items():
            ConfigStore(self.store()).set(key, value)

    def pause(self, paused: bool = True) -> None:
        from queuectl.core.config import ConfigStore

        ConfigStore(self.store()).set_paused(paused)

    # ── logs (raw reads of the store: Queuectl.sql) ─────────────────────────────────────────
    def worker_logs(self) -> dict[str, str]:
        folder = self.home / "workers"
        if not folder.exists():
            return {}
        return {p.name: p.read_text(errors="replace") for p in sorted(folder.glob("*.log"))}

    # ── workers the test owns ───────────────────────────────────────────────────────────────
    def spawn_worker(self, *args: str, env: dict[str, str] | None = None, argv: list[str] | None = None,
                     worker_id: str | None = None) -> PoolWorker:
        """Start `python -m queuectl worker run --worker-id ID` detached (own session), its output in
        $QUEUECTL_HOME/workers/ID.log; does not wait for it to register."""
        from queuectl.core.paths import ensure_home

        ensure_home(self.home)
        self._n += 1
        worker_id = worker_id or f"w-t{os.getpid()}-{self._n}"
        log = self.home / "workers" / f"{worker_id}.log"
        full_env = dict(self.env, **(env or {}))
        cmd = (argv or [sys.executable, "-m", "queuectl"]) + ["worker", "run", "--worker-id", worker_id, *args]
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=full_env,
                                    cwd=str(self.work), start_new_session=True, close_fds=True)
        finally:
            os.close(fd)
        w = PoolWorker(worker_id, proc, log, env or {})
        self.pool.append(w)
        return w

    def wait_registered(self, workers: list[PoolWorker], timeout: float = 20) -> None:
        ids = {w.id for w in workers}

        def registered():
            for w in workers:
                if w.proc.poll() is not None:
                    raise AssertionError(f"worker {w.id} exited ({w.proc.returncode}): {w.log.read_text()[-2000:]}")
            rows = self.sql("SELECT id FROM worker WHERE state IN ('running', 'stopping')")
            return ids <= {r[0] for r in rows}

        wait_until(registered, timeout=timeout, message=f"workers {sorted(ids)} to register")

    def kill9(self, w: PoolWorker) -> float:
        """SIGKILL a worker (not its jobs) and reap it; returns the moment of the kill."""
        w.killed_at = time.time()
        try:
            os.kill(w.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        w.proc.wait(timeout=10)
        return w.killed_at

    def live_pool(self) -> list[PoolWorker]:
        return [w for w in self.pool if w.proc.poll() is None]

    def job_processes(self) -> list[psutil.Process]:
        """Live processes of this home that are not workers: job processes (and anything they left)."""
        workers = {w.pid for w in self.live_pool()}
        rows = self.sql("SELECT pid FROM worker WHERE state IN ('running', 'stopping')") if self.has_store() else []
        workers |= {r[0] for r in rows}
        out = []
        for p in processes_of_home(self.home):
            try:
                if p.pid in workers or "QUEUECTL_JOB_ID" not in p.environ():
                    continue
            except psutil.Error:
                continue
            out.append(p)
        return out


_TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


def tracebacks(logs: dict[str, str]) -> dict[str, str]:
    return {name: text for name, text in logs.items() if _TRACEBACK.search(text)}


# ── fixtures' plumbing (also for module-scoped scenarios) ─────────────────────────────────────


def make_q(home: Path, work: Path, store_url: str | None = None) -> RQueuectl:
    """`store_url` None: the home's SQLite file; else a PostgreSQL URL (see Queuectl)."""
    work.mkdir(parents=True, exist_ok=True)
    return RQueuectl(home, work, store_url)


def reap(qc: RQueuectl) -> list[str]:
    """Stop everything the test started; return what had to be killed (a test failure)."""
    problems: list[str] = []
    stop = not qc.store_broken and qc.has_store()
    qc.close()  # the test's own connections go first (on SQLite they could hold a lock)
    if stop:
        problems += force_stop_workers(qc.run)
    for w in qc.pool:
        if w.proc.poll() is None and qc.store_broken:
            w.proc.send_signal(signal.SIGTERM)  # the store cannot carry a stop request: ask directly
    for w in qc.pool:
        try:
            w.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            problems.append(f"worker {w.id} (pid {w.pid}) still running after the stop")
            w.proc.kill()
            w.proc.wait(timeout=10)
    problems += reap_popens([*qc.popens, *qc.own], what="process")
    return problems + kill_leftovers(qc.home)


@contextmanager
def owned_q(home: Path, work: Path, store_url: str | None = None) -> Iterator[RQueuectl]:
    """A queuectl for one test; at its end every process of the test is stopped, and must be gone."""
    qc = make_q(home, work, store_url)
    try:
        yield qc
    finally:
        leftovers = reap(qc)
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"


def make_q_for_module(root: Path, store_url: str | None = None) -> RQueuectl:
    return make_q(root / "qhome", root / "work", store_url)


def reap_module(qc: RQueuectl) -> None:
    leftovers = reap(qc)
    assert not leftovers, f"processes left behind by the scenario (killed now): {leftovers}"
