"""CPU % and RSS of live workers on this host, each with its job's process tree, for `worker list`
and the TUI.

The psutil handles are kept between calls in a module-level cache, because psutil measures CPU
time between two readings of the same `Process` object.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from queuectl.core.host import CREATE_TIME_TOLERANCE_S, host_id
from queuectl.core.records import WorkerInfo
from queuectl.core.states import LIVE_WORKER_STATES

if TYPE_CHECKING:
    import psutil


class ProcessStats(NamedTuple):
    """A worker's process tree: the worker and its job's processes (what htop would add up)."""

    cpu_percent: float | None
    rss_bytes: int | None
    job_pid: int | None = None  # the job's own process (the worker's child), while one runs

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


_WATCHED: dict[tuple[int, float], psutil.Process] = {}  # kept between calls: CPU % is measured since the last


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
            return known, True
        proc.cpu_percent(None)  # starts the measurement
        _WATCHED[key] = proc
        return proc, False

    for w in workers:
        if w.host != here or w.state not in LIVE_WORKER_STATES:
            continue
        try:
            root = _WATCHED.get((w.pid, w.pid_created_at)) or psutil.Process(w.pid)
            if abs(root.create_time() - w.pid_created_at) >= CREATE_TIME_TOLERANCE_S:
                continue
            tree = [watched(root, w.pid_created_at)]
            job_pids[w.id] = _job_pid(root.children())
            for child in root.children(recursive=True):
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
