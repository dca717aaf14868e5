"""Start detached worker processes, stop workers through the store, list them with process stats.

Used alike by the CLI and the TUI: a worker never inherits the caller's terminal, and it keeps
running after the caller exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from queuectl.core import paths
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.db import Store
from queuectl.core.errors import QueuectlError
from queuectl.core.host import host_id, signal_if_ours
from queuectl.core.records import WorkerInfo
from queuectl.core.registry import WorkerRegistry
from queuectl.core.rescue import Rescued, recover_dead_local_workers
from queuectl.core.states import LIVE_WORKER_STATES
from queuectl.core.worker import new_worker_id

START_TIMEOUT = 20.0


class WorkerStartFailed(QueuectlError):
    """A worker process exited or never registered."""


class ProcessStats(NamedTuple):
    """A worker's process tree: the worker and its job's processes (what htop would add up)."""

    cpu_percent: float | None
    rss_bytes: int | None
    job_pid: int | None = None  # the job's own process (the worker's child), while one runs


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


_STARTED: list[subprocess.Popen] = []  # workers this process started: waited for once they end


def reap_started_workers() -> int:
    """Collect the exit status of workers this process started that have ended, so a long-lived
    caller (the TUI) leaves no <defunct> children; returns how many are still running."""
    _STARTED[:] = [proc for proc in _STARTED if proc.poll() is None]
    return len(_STARTED)


def start_workers(
    store: Store, count: int, *, queues: Sequence[str] | None = None, home: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> list[str]:
    """Spawn `count` detached `python -m queuectl worker run` processes; return their ids once registered."""
    root = paths.ensure_home(home or paths.home())
    registry = WorkerRegistry(store)
    env = dict(os.environ, QUEUECTL_DB=store.url, QUEUECTL_HOME=str(root))
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    old_umask = os.umask(0o077)  # the log file is created 0600
    try:
        for _ in range(count):
            worker_id = new_worker_id()
            log_path = paths.worker_log_path(worker_id, root)
            argv = [sys.executable, "-m", "queuectl", "worker", "run", "--worker-id", worker_id]
            for q in queues or ():
                argv += ["--queue", q]
            with open(log_path, "ab") as log_file:
                procs[worker_id] = (
                    subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                        cwd=str(root), env=env, start_new_session=True, close_fds=True,
                    ),
                    log_path,
                )
    finally:
        os.umask(old_umask)
    _STARTED.extend(proc for proc, _ in procs.values())
    deadline = time.monotonic() + timeout
    waiting = set(procs)
    while waiting:
        states = registry.states(sorted(waiting))
        waiting -= {w for w, s in states.items() if s in LIVE_WORKER_STATES}
        for worker_id in list(waiting):
            proc, log_path = procs[worker_id]
            if proc.poll() is not None:
                raise WorkerStartFailed(
                    f"worker {worker_id} exited at start (code {proc.returncode}): {_log_tail(log_path)}"
                )
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise WorkerStartFailed(f"workers did not register within {timeout:g}s: {', '.join(sorted(waiting))}")
        time.sleep(0.02)
    return list(procs)


def stop_workers(
    store: Store, worker_ids: Sequence[str] | None = None, *, force: bool = False, wait: bool = False,
    timeout: float | None = None, clock: Clock = SYSTEM_CLOCK, on_rescued: Callable[[list[Rescued]], None] | None = None,
) -> tuple[list[str], list[str]]:
    """Ask workers to stop (all live ones by default); with `wait`, block until they have.

    Returns (asked, still running). Past `timeout` a graceful stop becomes a forced one.
    `on_rescued` hears of workers found dead (and recorded lost) while waiting.
    """
    registry = WorkerRegistry(store, clock)
    asked = registry.request_stop(worker_ids, force=force)
    here = host_id()
    for worker in asked:
        if worker.host == here and not force:
            # A local shortcut: a worker busy retrying a failing store still hears a signal.
            signal_if_ours(worker.pid, worker.pid_created_at, signal.SIGTERM)
    ids = [w.id for w in asked]
    if not wait or not ids:
        return ids, []
    forced = force
    start = time.monotonic()
    while True:
        # A worker of this host killed meanwhile (kill -9, OOM) will never record its stop: see it
        # gone by its pid and record it lost, recovering its jobs, instead of waiting for ever.
        rescued = recover_dead_local_workers(store)
        if rescued and on_rescued is not None:
            on_rescued(rescued)
        remaining = [w for w, s in registry.states(ids).items() if s in LIVE_WORKER_STATES]
        if not remaining:
            return ids, []
        if timeout is not None and time.monotonic() - start > timeout:
            if forced:
                return ids, remaining
            registry.request_stop(remaining, force=True)
            forced = True
            start = time.monotonic()
            timeout = _settle_time(store)
        time.sleep(0.05)


def _settle_time(store: Store) -> float:
    """How long a forced stop may take: the kill grace plus a few heartbeats."""
    from queuectl.core.config import ConfigStore

    return ConfigStore(store).settings().kill_grace + 3.0


def _job_pid(children: list) -> int | None:
    """The running job among a worker's children: the newest session leader (the runner starts
    every job in a session of its own) that is not a zombie."""
    import psutil

    leaders = []
    for child in children:
        try:
            if os.getsid(child.pid) == child.pid and child.status() != psutil.STATUS_ZOMBIE:
                leaders.append((child.create_time(), child.pid))
        except (OSError, psutil.Error):
            continue
    return max(leaders)[1] if leaders else None


_WATCHED: dict[tuple[int, float], object] = {}  # psutil.Process per process, kept between calls


def process_stats(workers: Sequence[WorkerInfo], sample: float = 0.1) -> dict[str, ProcessStats]:
    """CPU % and RSS of live workers on this host (verified by create time), each with its job's
    process tree: a worker whose job burns a core shows about 100 %.

    CPU % is measured since the previous call for the same process (the TUI polls every second);
    a process seen for the first time is sampled over `sample` seconds, or counts no CPU yet when
    `sample` is 0 (psutil's first reading of a process is always 0.0).
    """
    import psutil

    here = host_id()
    trees: dict[str, list[tuple[psutil.Process, bool]]] = {}
    job_pids: dict[str, int | None] = {}
    kept: set[tuple[int, float]] = set()

    def watched(proc: psutil.Process, created: float) -> tuple[psutil.Process, bool]:
        key = (proc.pid, created)
        kept.add(key)
        known = _WATCHED.get(key)
        if known is not None:
            return known, True  # type: ignore[return-value]
        proc.cpu_percent(None)  # starts the measurement
        _WATCHED[key] = proc
        return proc, False

    for w in workers:
        if w.host != here or w.state not in LIVE_WORKER_STATES:
            continue
        try:
            root = _WATCHED.get((w.pid, w.pid_created_at)) or psutil.Process(w.pid)
            if abs(root.create_time() - w.pid_created_at) >= 0.05:  # type: ignore[union-attr]
                continue
            tree = [watched(root, w.pid_created_at)]  # type: ignore[arg-type]
            job_pids[w.id] = _job_pid(root.children())  # type: ignore[union-attr]
            for child in root.children(recursive=True):  # type: ignore[union-attr]
                try:
                    tree.append(watched(child, child.create_time()))
                except psutil.Error:
                    continue
        except psutil.Error:
            continue
        trees[w.id] = tree
    if sample > 0 and any(not seen for tree in trees.values() for _, seen in tree):
        time.sleep(sample)
    stats = {}
    for worker_id, tree in trees.items():
        cpu: float | None = None
        rss = 0
        for proc, seen in tree:
            try:
                if seen or sample > 0:
                    cpu = (cpu or 0.0) + proc.cpu_percent(None)
                rss += proc.memory_info().rss
            except psutil.Error:
                continue
        stats[worker_id] = ProcessStats(cpu, rss or None, job_pids.get(worker_id))
    for key in [k for k in _WATCHED if k not in kept]:
        del _WATCHED[key]
    return stats
