"""A worker's watchdog: a small helper process that kills the worker's job processes if the worker dies
without ending them (kill -9, OOM killer), or when it has not heartbeat for the fencing interval
(frozen by SIGSTOP, or cut off from the store).

Without it a job outlives its dead worker and may still run while its retry runs elsewhere —
a rescuer on another host cannot reach it. The watchdog blocks on a pipe from the worker, which
writes one line per message: `beat BEGAN FENCE` after each heartbeat that reached the store (when
it began, CLOCK_MONOTONIC, the same clock in both processes, and the fencing interval); `keep JOB
ATTEMPT` when a run ended and keeps its processes on purpose (`keep_children`); `bye` when it exits
on its own terms. When the fencing interval passes with no new beat, every process whose
environment carries the worker's QUEUECTL_WORKER_ID is killed (kept runs spared): before anyone
else may recover the job (`worker_timeout`, twice the fencing interval). At end of file without a
goodbye the worker died: the same, and every process in the worker's cgroup if it has one
(jobcgroup.py). A SIGSTOP of the worker does not stop its watchdog. No message per job: trivial
jobs cost nothing extra.

The watchdog is a fresh interpreter started without `site` (`python -S`, ~8 MiB), not a fork of
the worker: a fork's resident pages (the worker's imports, ~20 MiB) would count again for every
worker process. It finds queuectl and psutil through the worker's `sys.path`, passed on.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

_GOODBYE = b"bye\n"
_ENTRY = "import sys; from queuectl.core.watchdog import _watch; _watch(int(sys.argv[1]), sys.argv[2])"


class Watchdog:
    def __init__(self, worker_id: str) -> None:
        read_end, self._write_end = os.pipe()
        os.set_inheritable(self._write_end, False)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _ENTRY, str(read_end), worker_id], pass_fds=(read_end,),
                stdin=subprocess.DEVNULL, env=env, close_fds=True,
            )
        finally:
            os.close(read_end)
        self.pid = self._proc.pid
        os.set_blocking(self._write_end, False)

    def _say(self, line: bytes) -> None:
        try:  # one line is below PIPE_BUF: written whole or not at all
            os.write(self._write_end, line)
        except OSError:  # a full pipe (the watchdog is stopped too) or a dead watchdog: nothing to do
            pass

    def heartbeat(self, began: float, fence_after: float) -> None:
        """A heartbeat that began at `began` (time.monotonic()) reached the store."""
        self._say(f"beat {began!r} {fence_after!r}\n".encode())

    def keep(self, job_id: str, attempt: int) -> None:
        """The run `job_id`/`attempt` ended and its processes stay (keep_children): spare them."""
        self._say(f"keep {job_id} {attempt}\n".encode())

    def close(self) -> None:
        """The worker is exiting on its own terms: its jobs have ended; let the watchdog go."""
        try:
            os.set_blocking(self._write_end, True)
            os.write(self._write_end, _GOODBYE)
            os.close(self._write_end)
        except OSError:
            pass
        self._proc.wait()


def _watch(fd: int, worker_id: str) -> None:  # pragma: no cover - runs in the watchdog process
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a Ctrl-C is for the worker, which stops gracefully
    from queuectl.core.host import kill_processes_of_worker

    kept: set[tuple[str, str]] = set()

    def spare(job_id: str, attempt: str) -> bool:
        return (job_id, attempt) in kept

    pending = b""
    fence_at: float | None = None  # None until the first heartbeat, and after a fence until the next
    try:
        while True:
            timeout = None if fence_at is None else max(0.0, fence_at - time.monotonic())
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                # fenced: the worker kills them too when it wakes (its cgroup is left alone: the
                # worker itself is in it, alive but silent)
                kill_processes_of_worker(worker_id, spare=spare)
                fence_at = None
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                word, *args = line.decode(errors="replace").split()
                if word == "bye":
                    os._exit(0)  # the worker ended its jobs itself
                if word == "beat":
                    fence_at = float(args[0]) + float(args[1])
                elif word == "keep":
                    kept.add((args[0], args[1]))
        # end of file without a goodbye: the worker died
        from queuectl.core.jobcgroup import cgroup_dir, kill_cgroup

        where = cgroup_dir(worker_id)
        if where is not None:
            kill_cgroup(where)  # everything its jobs started, even without the marker (kept ones moved out)
        kill_processes_of_worker(worker_id, spare=spare)
    finally:
        os._exit(0)
