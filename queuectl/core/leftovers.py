"""Find a job run's processes by the marker in their environment, wherever they went.

Every process a job starts inherits QUEUECTL_WORKER_ID, QUEUECTL_JOB_ID and QUEUECTL_ATTEMPT
from the job's shell, including processes that left its process group and session (`setsid -f`,
a daemon that forked twice) and were re-parented to init, which neither `killpg` nor the
process tree reaches. Only a process that cleared its environment (`env -i`) loses the marker.

Looking must be cheap, since it follows every job: pids are handed out in increasing order
(wrapping at pid_max), so a process born after the job's shell has a pid between the shell's and
the last one handed out (/proc/loadavg). Only those /proc entries are read; a trivial job that
started nothing costs two or three small reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping

MARKER_KEYS = ("QUEUECTL_WORKER_ID", "QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT")

Marker = frozenset  # of b"KEY=value" environment entries, all of which a run's process carries


def run_marker(env: Mapping[str, str] | None) -> Marker | None:
    """The entries that mark one run's processes, or None if `env` does not name a run."""
    if not env or any(key not in env for key in MARKER_KEYS):
        return None
    return frozenset(f"{key}={env[key]}".encode() for key in MARKER_KEYS)


def _pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 4_194_304


_PID_MAX = _pid_max()


def _last_pid() -> int | None:
    try:
        fd = os.open("/proc/loadavg", os.O_RDONLY)
        try:
            return int(os.read(fd, 256).split()[-1])
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return None


_FEW = 256  # fewer pids than this handed out since: try each one rather than list /proc


def _born_after(pid: int, after: int, last: int) -> bool:
    """Was `pid` handed out after `after`, up to `last`, counting around the wrap at pid_max?"""
    return after < pid <= last if last >= after else (pid > after or pid <= last)


def candidate_pids(born_after: int | None = None) -> list[int]:
    """Pids of processes that may be live (not this one); with `born_after`, only those handed out
    since that pid — when they are few, without listing /proc (a listdir costs ~0.1–0.3 ms).

    `born_after` must be recent enough that pids have not wrapped all the way round since (the
    caller scans everything for long runs).
    """
    me = os.getpid()
    last = _last_pid() if born_after is not None else None
    if last is not None:
        assert born_after is not None
        spans = ((range(born_after + 1, last + 1),) if last >= born_after
                 else (range(born_after + 1, _PID_MAX), range(1, last + 1)))
        if sum(map(len, spans)) < _FEW:
            return [pid for span in spans for pid in span if pid != me]
    pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and int(entry) != me]
    if last is not None and born_after is not None:  # (last is only read when born_after is given)
        pids = [pid for pid in pids if _born_after(pid, born_after, last)]
    return pids


def _environ(pid: int) -> set[bytes] | None:
    try:
        fd = os.open(f"/proc/{pid}/environ", os.O_RDONLY)
    except OSError:  # gone, or not ours
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return set(b"".join(chunks).split(b"\0"))  # a zombie's is empty
    except OSError:
        return None
    finally:
        os.close(fd)


def processes_where(match: Callable[[set[bytes]], bool], pids: Collection[int]) -> list:
    """psutil.Process objects (pid + create time: never a reused pid) of `pids` whose environment matches."""
    found = []
    for pid in pids:
        env = _environ(pid)
        if env and match(env):
            import psutil

            try:
                found.append(psutil.Process(pid))
            except psutil.Error:
                pass
    return found


def run_processes(marker: Marker, born_after: int | None = None) -> list:
    """Live processes carrying all of `marker` (see candidate_pids for `born_after`)."""
    return processes_where(marker.issubset, candidate_pids(born_after))
