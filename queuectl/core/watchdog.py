"""A worker's watchdog: a forked helper that kills the worker's job processes if the worker dies
without ending them (kill -9, OOM killer).

Without it a job outlives its dead worker and may still run while its retry runs elsewhere —
a rescuer on another host cannot reach it. The watchdog only blocks on a pipe from the worker:
end of file without a goodbye means the worker is gone, and every process whose environment
carries its QUEUECTL_WORKER_ID is killed, except those of runs kept on purpose (`keep_children`: the
worker names each such run when it ends), and so is every process in the worker's cgroup, if it has
one (jobcgroup.py). No message for other jobs: trivial jobs cost nothing extra.
"""

from __future__ import annotations

import os
import signal

_GOODBYE = b"bye"


class Watchdog:
    def __init__(self, worker_id: str) -> None:
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the watchdog
            os.close(self._write_end)
            _watch(read_end, worker_id)
        os.close(read_end)
        os.set_inheritable(self._write_end, False)

    def keep(self, job_id: str, attempt: int) -> None:
        """The run `job_id`/`attempt` ended and its processes stay (keep_children): spare them."""
        try:
            os.write(self._write_end, f"keep {job_id} {attempt}\n".encode())
        except OSError:
            pass

    def close(self) -> None:
        """The worker is exiting on its own terms: its jobs have ended; let the watchdog go."""
        try:
            os.write(self._write_end, _GOODBYE)
            os.close(self._write_end)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _watch(fd: int, worker_id: str) -> None:  # pragma: no cover - runs in the forked child
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a Ctrl-C is for the worker, which stops gracefully
    said = b""
    try:
        while True:
            chunk = os.read(fd, 64)
            if not chunk:
                break
            said += chunk
        if not said.endswith(_GOODBYE):  # the last word: "keep …" lines end with a newline
            from queuectl.core.host import kill_processes_of_worker

            kept = {tuple(line.split()[1:3]) for line in said.decode(errors="replace").splitlines()
                    if line.startswith("keep ")}
            from queuectl.core.jobcgroup import cgroup_dir, kill_cgroup

            where = cgroup_dir(worker_id)
            if where is not None:
                kill_cgroup(where)  # everything its jobs started, even without the marker (kept ones moved out)
            kill_processes_of_worker(worker_id, spare=lambda job_id, attempt: (job_id, attempt) in kept)
    finally:
        os._exit(0)
