"""A worker's watchdog: a forked helper that kills the worker's job process groups if the
worker dies without ending them (kill -9, OOM killer).

Without it a job outlives its dead worker and may still run while its retry runs elsewhere —
a rescuer on another host cannot reach it. The worker tells the watchdog each group it starts
and ends through a pipe; the pipe's end of file means the worker is gone.
"""

from __future__ import annotations

import os
import signal


class Watchdog:
    def __init__(self) -> None:
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the watchdog
            os.close(self._write_end)
            _watch(read_end)
        os.close(read_end)
        os.set_inheritable(self._write_end, False)

    def track(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def untrack(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def _send(self, line: str) -> None:
        try:
            os.write(self._write_end, line.encode())
        except OSError:
            pass  # the watchdog is gone: jobs still end with their worker in all other cases

    def close(self) -> None:
        """The worker is exiting on its own terms: let the watchdog go."""
        try:
            os.close(self._write_end)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _watch(fd: int) -> None:  # pragma: no cover - runs in the forked child
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a Ctrl-C is for the worker, which stops gracefully
    groups: set[int] = set()
    pending = b""
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line[:1] == b"+":
                    groups.add(int(line[1:]))
                elif line[:1] == b"-":
                    groups.discard(int(line[1:]))
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
    finally:
        os._exit(0)
