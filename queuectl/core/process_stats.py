"""CPU % and RSS of live workers on this host, for `worker list` and the TUI.

The psutil handles are kept between calls in a module-level cache, because psutil measures CPU
time between two readings of the same `Process` object.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from queuectl.core.host import CREATE_TIME_TOLERANCE_S, host_id
from queuectl.core.records import WorkerInfo
from queuectl.core.states import LIVE_WORKER_STATES


class ProcessStats(NamedTuple):
    cpu_percent: float | None
    rss_bytes: int | None


_WATCHED: dict[tuple[int, float], object] = {}  # psutil.Process per worker, kept between calls


def process_stats(workers: Sequence[WorkerInfo], sample: float = 0.1) -> dict[str, ProcessStats]:
    """CPU % and RSS of live workers on this host, verified by create time.

    CPU % is measured since the previous call for the same worker (the TUI polls every second);
    a worker seen for the first time is sampled over `sample` seconds, or shows no CPU figure yet
    when `sample` is 0 (psutil's first reading of a process is always 0.0).
    """
    import psutil

    here = host_id()
    procs: dict[str, tuple[psutil.Process, bool]] = {}
    for w in workers:
        if w.host != here or w.state not in LIVE_WORKER_STATES:
            continue
        key = (w.pid, w.pid_created_at)
        proc = _WATCHED.get(key)
        if proc is not None:
            procs[w.id] = (proc, True)
            continue
        try:
            proc = psutil.Process(w.pid)
            if abs(proc.create_time() - w.pid_created_at) < CREATE_TIME_TOLERANCE_S:
                proc.cpu_percent(None)  # starts the measurement
                _WATCHED[key] = proc
                procs[w.id] = (proc, False)
        except psutil.Error:
            continue
    if sample > 0 and any(not seen for _, seen in procs.values()):
        time.sleep(sample)
    stats = {}
    for worker_id, (proc, seen) in procs.items():
        try:
            cpu = proc.cpu_percent(None) if seen or sample > 0 else None
            stats[worker_id] = ProcessStats(cpu, proc.memory_info().rss)
        except psutil.Error:
            stats[worker_id] = ProcessStats(None, None)
    live = {(w.pid, w.pid_created_at) for w in workers}
    for key in [k for k in _WATCHED if k not in live]:
        del _WATCHED[key]
    return stats
