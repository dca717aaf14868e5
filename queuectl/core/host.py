"""This host's identity and the liveness of processes on it (pid + create time, never a bare pid)."""

from __future__ import annotations

import os
from collections.abc import Callable

# Tests of several hosts on one machine set this; nothing else should.
HOST_ENV = "QUEUECTL_HOST_ID"
CREATE_TIME_TOLERANCE_S = 0.05  # create times are kept in clock ticks (10 ms)


def host_id() -> str:
    # uname's node name is what gethostname() returns on Linux, without importing socket (start-up)
    return os.environ.get(HOST_ENV) or os.uname().nodename


_BOOT_TIME: list[float] = []  # /proc/stat's btime, read once


def _proc_create_time(pid: int) -> float | None | bool:
    """psutil's create time for `pid` read straight from /proc (psutil costs ~12 ms to import, a
    third of `status`'s own work); None when there is no such live process, False without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None if os.path.exists("/proc/self/stat") else False
    except OSError:
        return False
    fields = data[data.rfind(b")") + 2:].split()
    if fields[0] == b"Z":  # a zombie: dead, only not reaped yet
        return None
    if not _BOOT_TIME:
        with open("/proc/stat", "rb") as f:
            _BOOT_TIME.append(next(float(line.split()[1]) for line in f if line.startswith(b"btime")))
    # the same sum as psutil's (starttime in clock ticks since boot), so values recorded by either agree
    return int(fields[19]) / os.sysconf("SC_CLK_TCK") + _BOOT_TIME[0]


def create_time(pid: int) -> float | None:
    """The process's start time (epoch seconds), or None if there is no such live process."""
    if pid > 0:
        fast = _proc_create_time(pid)
        if not isinstance(fast, bool):  # False: no /proc, ask psutil
            return fast
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def is_same_process(pid: int | None, created_at: float | None) -> bool:
    """True only if `pid` is alive and is the very process that started at `created_at` (no reused pid)."""
    if not pid or created_at is None:
        return False
    actual = create_time(pid)
    return actual is not None and abs(actual - created_at) < CREATE_TIME_TOLERANCE_S


def signal_if_ours(pid: int | None, created_at: float | None, signum: int) -> bool:
    """Send `signum` to `pid` only if it is verifiably the process we recorded."""
    if pid is None or not is_same_process(pid, created_at):
        return False
    try:
        os.kill(pid, signum)
        return True
    except ProcessLookupError:
        return False


def kill_group_if_ours(pid: int | None, created_at: float | None) -> bool:
    """SIGKILL the process group led by a job's shell, if that shell is still the one we started.

    Used by a rescuer: the job's worker is gone, so nobody else will end it.
    """
    import signal  # here: the module's enums cost every command's start-up, and only a rescue kills

    if pid is None or not is_same_process(pid, created_at):
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def kill_processes_of_worker(worker_id: str, spare: Callable[[str, str], bool] | None = None) -> int:
    """SIGKILL every process on this host whose environment says a job of `worker_id` started it.

    Workers put QUEUECTL_WORKER_ID in each job's environment, which children inherit, so this
    finds a lost worker's job processes even when no run record holds their pid yet, and even
    those that left the job's process group. `spare(job_id, attempt)` (from the process's
    QUEUECTL_JOB_ID and QUEUECTL_ATTEMPT) keeps the processes of runs that ended and kept them on
    purpose (keep_children). Returns how many were killed.
    """
    from queuectl.core.leftovers import candidate_pids, processes_where

    marker = f"QUEUECTL_WORKER_ID={worker_id}".encode()

    def doomed(env: set[bytes]) -> bool:
        if marker not in env:
            return False
        if spare is None:
            return True
        fields = dict(entry.partition(b"=")[::2] for entry in env)
        run = (fields.get(b"QUEUECTL_JOB_ID", b"").decode(errors="replace"),
               fields.get(b"QUEUECTL_ATTEMPT", b"").decode(errors="replace"))
        return not spare(*run)

    killed = 0
    for proc in processes_where(doomed, candidate_pids()):
        try:
            proc.kill()  # psutil verifies the pid still belongs to the process it looked at
            killed += 1
        except Exception:
            pass
    return killed
