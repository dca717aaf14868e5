"""Run one job's command: `sh -c CMD` as the leader of its own process group, output captured
(stdout and stderr interleaved, only the last `max_bytes` kept), killed as a whole group together
with every process the run started that left the group (found by its environment: leftovers.py).

Single-threaded and never blocking: `fds()` are the output pipe and a pidfd, which the worker
puts into one `select` with those of its other slots' runs, then hands what was ready to
`service()`; `wake_at()` says when a run needs a look without any fd ready (its SIGKILL is due).
`wait()` does both for one run alone. A kill never blocks the worker for `kill_grace`.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Container, Iterator, Mapping
from contextlib import contextmanager

from queuectl.core.jobcgroup import SlotCgroup, WorkerCgroup
from queuectl.core.leftovers import run_marker, run_processes

_READ_CHUNK = 65536
# Pids wrap at pid_max (32,768 by default): past this age a run's leftovers are looked for among
# all processes, not only those with pids handed out after its shell's.
_RECENT_RUN = 1.0
_EXIT_AFTER_EOF_S = 0.001  # once its output ends, how long a shell may take to become reapable (a look, not a wait)
_SWEEPS = 5  # rounds of "find and SIGKILL" at a kill: a process forked during one is found by the next


@contextmanager
def _environment_with(extra: Mapping[str, str] | None) -> Iterator[None]:
    """This process's environment plus `extra`, for the next spawn only.

    Letting the child inherit the environment (env=None) skips Popen's per-variable encoding,
    which costs more than a trivial job's whole run; the worker is single-threaded, so
    changing os.environ around the spawn is safe here.
    """
    if not extra:
        yield
        return
    saved = {key: os.environ.get(key) for key in extra}
    try:
        os.environ.update(extra)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class CouldNotStart(Exception):
    """The command's process could not be created (missing cwd, no permission, …)."""


class JobProcess:
    def __init__(
        self,
        command: str,
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        max_bytes: int = 1_048_576,
        cgroup: SlotCgroup | WorkerCgroup | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._cgroup = cgroup  # where the run's processes are, if the worker has one; else by marker
        if cgroup is not None and (prefix := cgroup.shell_prefix()):
            command = prefix + command
        self._marker = run_marker(env)
        self._started = time.monotonic()
        self._buffer = bytearray()
        self.output_bytes = 0
        try:
            with _environment_with(env):
                self._proc = subprocess.Popen(
                    ["/bin/sh", "-c", command],
                    cwd=cwd or None,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own session and process group: killpg reaches all of it
                    close_fds=True,
                )
        except OSError as exc:
            where = f" (cwd {cwd})" if cwd and isinstance(exc, FileNotFoundError) else ""
            raise CouldNotStart(f"could not start: {exc.strerror or exc}{where}") from None
        self.pid = self._proc.pid
        self._out = self._proc.stdout
        assert self._out is not None
        os.set_blocking(self._out.fileno(), False)
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # pragma: no cover - kernels before 5.3
            self._pidfd = None
        self.returncode: int | None = None
        self._kill_at: float | None = None  # when SIGTERM has been sent: the SIGKILL deadline
        self._sigkilled = False
        self._descendants: list = []

    # ── output ──────────────────────────────────────────────────────────────────────────────

    @property
    def output(self) -> bytes:
        return bytes(self._buffer[-self.max_bytes:]) if len(self._buffer) > self.max_bytes else bytes(self._buffer)

    def last_bytes(self, n: int) -> bytes:
        """The last `n` bytes printed, or all that is kept if fewer are (without copying the rest)."""
        n = min(n, self.max_bytes, len(self._buffer))
        return bytes(self._buffer[len(self._buffer) - n:]) if n > 0 else b""

    def _read_available(self) -> bool:
        """Read what the pipe has now; False at end of file."""
        if self._out is None:
            return False
        while True:
            try:
                chunk = os.read(self._out.fileno(), _READ_CHUNK)
            except BlockingIOError:
                return True
            if not chunk:
                self._out.close()
                self._out = None
                return False
            self.output_bytes += len(chunk)
            self._buffer += chunk
            if len(self._buffer) > 2 * self.max_bytes:
                del self._buffer[: len(self._buffer) - self.max_bytes]

    # ── waiting ─────────────────────────────────────────────────────────────────────────────

    def fds(self) -> list[int]:
        """The descriptors to select on for reading: the output pipe (until its end) and the pidfd."""
        return [fd for fd in (self._out.fileno() if self._out else None, self._pidfd) if fd is not None]

    def wake_at(self) -> float | None:
        """When `service` must run even if no fd is ready (time.monotonic()), or None."""
        if self.returncode is not None:
            return None
        if self._pidfd is None:  # pragma: no cover - kernels before 5.3: poll the shell
            return time.monotonic() + 0.05
        if self._kill_at is not None and not self._sigkilled:
            return self._kill_at
        return None

    def service(self, ready: Container[int]) -> bool:
        """Read the output and reap the shell as `ready` (from a select over `fds()`) says, and send
        a due SIGKILL; True once the shell has exited and been reaped."""
        if self.returncode is not None:
            return True
        if self._kill_at is not None and not self._sigkilled and time.monotonic() >= self._kill_at:
            self._sigkill_group()
        exiting = False
        if self._out is not None and self._out.fileno() in ready:
            if not self._read_available() and self._pidfd is not None and self._pidfd not in ready:
                # The output ended: the shell is most likely exiting this very moment (its files
                # close just before it becomes reapable). A short look at its pidfd saves the
                # worker a whole turn of its loop per job; a shell that lives on costs it once.
                exiting = bool(select.select([self._pidfd], [], [], _EXIT_AFTER_EOF_S)[0])
        if (self._pidfd is None or exiting or self._pidfd in ready) and self._proc.poll() is not None:
            self._exited()
        return self.returncode is not None

    def wait(self, timeout: float) -> bool:
        """Collect output for up to `timeout` seconds; True once the shell has exited and been reaped."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self.service(()):
            wake = min(deadline, self.wake_at() or deadline)
            ready, _, _ = select.select(self.fds(), [], [], max(0.0, wake - time.monotonic()))
            if self.service(ready) or time.monotonic() >= deadline:
                break
        return self.returncode is not None

    def _exited(self) -> None:
        self._proc.wait()
        self.returncode = self._proc.returncode
        # What the shell wrote before exiting is in the pipe; a background child may still hold it
        # open, so read what is there now rather than waiting for end of file.
        self._read_available()
        if self._kill_at is not None:
            self._sigkill_group()  # a killed job leaves nothing behind, even children that trapped SIGTERM

    # ── killing ─────────────────────────────────────────────────────────────────────────────

    def terminate(self, grace: float) -> None:
        """SIGTERM the whole group now and SIGKILL it after `grace` seconds (driven by `wait`)."""
        if self._kill_at is not None:
            return
        self._descendants = self._snapshot_descendants() + self._leftovers()
        self._kill_at = time.monotonic() + max(0.0, grace)
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        _signal_all(self._descendants, signal.SIGTERM)  # those that left the group hear it too
        if grace <= 0:
            self._sigkill_group()

    def _snapshot_descendants(self) -> list:
        """Descendants that may have left the group (setsid); killed with it if still ours."""
        try:
            import psutil

            return psutil.Process(self.pid).children(recursive=True)
        except Exception:
            return []

    def _leftovers(self) -> list:
        """Live processes of this run (in its slot's cgroup, or carrying the run's marker)."""
        if self._cgroup is not None:
            return _processes(self._cgroup.job_pids())
        if self._marker is None:
            return []
        recent = time.monotonic() - self._started < _RECENT_RUN
        return run_processes(self._marker, born_after=self.pid if recent else None)

    def _sigkill_group(self) -> None:
        self._sigkilled = True
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _signal_all(self._descendants, signal.SIGKILL)
        for _ in range(_SWEEPS):
            found = self._leftovers()
            if not found:
                break
            _signal_all(found, signal.SIGKILL)
            _wait_gone(found, 1.0)

    # ── what a run that exited by itself left behind ────────────────────────────────────────

    def end_leftovers(self, grace: float) -> bool:
        """After the shell exited by itself: SIGTERM the processes the run left behind (a daemon,
        `setsid -f …`), SIGKILL them after `grace` (driven by `leftovers_gone`). False when it
        left none: the common case, one cheap look."""
        found = self._leftovers()
        if not found:
            return False
        self._descendants = found
        self._kill_at = time.monotonic() + max(0.0, grace)
        _signal_all(found, signal.SIGTERM)
        return True

    def leftovers_gone(self, timeout: float) -> bool:
        """Wait up to `timeout` for the leftovers to end, SIGKILLing them at the deadline; True once gone."""
        assert self._kill_at is not None
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if time.monotonic() >= self._kill_at:
                self._sigkill_group()
                self._read_available()
                return True
            if not [p for p in self._descendants if _alive(p)]:
                late = self._leftovers()  # forked while the others ended
                if not late:
                    self._read_available()
                    return True
                _signal_all(late, signal.SIGTERM)
                self._descendants += late
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, max(0.0, min(deadline, self._kill_at) - time.monotonic())))

    def keep_leftovers(self) -> None:
        """The run keeps what it left behind (keep_children): out of its slot's cgroup, if any."""
        cgroup = self._cgroup
        if cgroup is None:
            return
        for _ in range(_SWEEPS):  # one forked during a move: again
            pids = cgroup.job_pids()
            if not pids:
                break
            cgroup.release(pids)

    def kill_now(self) -> None:
        """SIGKILL the group and everything the run started, at once."""
        self._kill_at = self._kill_at or time.monotonic()
        self._sigkill_group()

    @property
    def killing(self) -> bool:
        return self._kill_at is not None

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _processes(pids: list[int]) -> list:
    if not pids:
        return []
    import psutil

    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))  # remembers the create time: never a reused pid
        except psutil.Error:
            pass
    return found


def _alive(proc) -> bool:
    try:  # psutil checks the create time: never a reused pid
        return proc.is_running() and proc.status() != "zombie"
    except Exception:
        return False


def _signal_all(procs: list, signum: int) -> None:
    for proc in procs:
        try:
            if proc.is_running():
                proc.send_signal(signum)
        except Exception:
            pass


def _wait_gone(procs: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.01)


def describe_exit(returncode: int) -> tuple[int, str | None]:
    """(exit code as a shell reports it, error text) for a finished shell."""
    if returncode < 0:
        signum = -returncode
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return 128 + signum, f"killed by {name}"
    if returncode == 0:
        return 0, None
    if returncode == 127:
        return 127, "exit code 127 (command not found?)"
    return returncode, f"exit code {returncode}"
