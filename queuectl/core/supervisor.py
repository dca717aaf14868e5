"""Start detached worker processes and stop workers through the store.

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

from queuectl.core import paths
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.db import Store
from queuectl.core.errors import QueuectlError
from queuectl.core.host import host_id, signal_if_ours
from queuectl.core.registry import WorkerRegistry, new_worker_id
from queuectl.core.rescue import Rescued, recover_dead_local_workers
from queuectl.core.states import LIVE_WORKER_STATES

START_TIMEOUT = 20.0


class WorkerStartFailed(QueuectlError):
    """A worker process exited or never registered."""


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


def slot_layout(count: int, processes: int | None = None) -> list[int]:
    """How `count` slots are spread over worker processes: `processes` of them when given, else
    one per core at most (measured: one process keeps `sleep` jobs of 64 slots fed, but trivial
    jobs are bound by the CPU of the process that spawns them, so two cores want two processes;
    bench/RESULTS.md). As even as possible, the larger first."""
    if processes is None:
        processes = os.cpu_count() or 1
    processes = max(1, min(processes, count))
    share, extra = divmod(count, processes)
    return [share + (1 if i < extra else 0) for i in range(processes)]


def start_workers(
    store: Store, count: int, *, queues: Sequence[str] | None = None, home: Path | None = None,
    timeout: float = START_TIMEOUT, processes: int | None = None,
) -> list[str]:
    """Start `count` slots as detached `python -m queuectl worker run` processes (spread by
    `slot_layout`); return the workers' ids once registered."""
    root = paths.ensure_home(home or paths.home())
    registry = WorkerRegistry(store)
    env = dict(os.environ, QUEUECTL_DB=store.url, QUEUECTL_HOME=str(root))
    procs: dict[str, tuple[subprocess.Popen, Path]] = {}
    old_umask = os.umask(0o077)  # the log file is created 0600
    try:
        for slots in slot_layout(count, processes):
            worker_id = new_worker_id()
            log_path = paths.worker_log_path(worker_id, root)
            argv = [sys.executable, "-m", "queuectl", "worker", "run", "--worker-id", worker_id]
            if slots > 1:
                argv += ["--count", str(slots)]
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
    timeout: float | None = None, clock: Clock = SYSTEM_CLOCK,
    on_rescued: Callable[[list[Rescued]], None] | None = None,
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
