"""A worker's watchdog: a forked helper that kills the worker's job processes if the worker dies
without ending them (kill -9, OOM killer), or when it has not heartbeat for the fencing interval
(frozen by SIGSTOP, or cut off from the store).

Without it a job outlives its dead worker and may still run while its retry runs elsewhere —
a rescuer on another host cannot reach it. The watchdog blocks on a pipe from the worker: after
each heartbeat that reached the store the worker writes when it began (CLOCK_MONOTONIC, the same
clock in both processes) and the fencing interval. When that interval passes with no new one,
or at end of file without a goodbye, every process whose environment carries the worker's
QUEUECTL_WORKER_ID is killed: before anyone else may recover the job (`worker_timeout`, twice
the fencing interval). A SIGSTOP of the worker does not stop its watchdog. No message per job:
trivial jobs cost nothing extra.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import time

_RECORD = struct.Struct("dd")  # (monotonic time the heartbeat began, fencing interval)
_GOODBYE = _RECORD.pack(-1.0, 0.0)


class Watchdog:
    def __init__(self, worker_id: str) -> None:
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the watchdog
            os.close(self._write_end)
            _watch(read_end, worker_id)
        os.close(read_end)
        os.set_inheritable(self._write_end, False)
        os.set_blocking(self._write_end, False)

    def heartbeat(self, began: float, fence_after: float) -> None:
        """A heartbeat that began at `began` (time.monotonic()) reached the store."""
        try:
            os.write(self._write_end, _RECORD.pack(began, fence_after))
        except OSError:  # a full pipe (the watchdog is stopped too) or a dead watchdog: nothing to do
            pass

    def close(self) -> None:
        """The worker is exiting on its own terms: its jobs have ended; let the watchdog go."""
        try:
            os.set_blocking(self._write_end, True)
            os.write(self._write_end, _GOODBYE)
            os.close(self._write_end)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _watch(fd: int, worker_id: str) -> None:  # pragma: no cover - runs in the forked child
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a Ctrl-C is for the worker, which stops gracefully
    from queuectl.core.host import kill_processes_of_worker

    pending = b""
    fence_at: float | None = None  # None until the first heartbeat, and after a fence until the next
    try:
        while True:
            timeout = None if fence_at is None else max(0.0, fence_at - time.monotonic())
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                kill_processes_of_worker(worker_id)  # fenced: the worker kills them too when it wakes
                fence_at = None
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            pending += chunk
            while len(pending) >= _RECORD.size:
                began, fence_after = _RECORD.unpack_from(pending)
                pending = pending[_RECORD.size:]
                if began < 0:
                    os._exit(0)  # goodbye: the worker ended its jobs itself
                fence_at = began + fence_after
        kill_processes_of_worker(worker_id)  # end of file without a goodbye: the worker died
    finally:
        os._exit(0)
