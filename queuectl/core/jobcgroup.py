"""A worker's cgroup: every process its jobs start stays in it, whatever it does to its
process group, session or environment (`setsid`, a double fork, `env -i`).

Where the machine lets a worker create one (root, or a delegated subtree), the worker moves itself
into `queuectl-<worker id>` under its own cgroup at start. A worker of one slot runs one job at a
time: its jobs inherit its cgroup, and once a job's shell has exited every other process there is
that job's leftover. A worker of several slots gives each a child cgroup `slot-<n>`, and a job's
shell moves itself into its slot's before it runs the command (the first words of its `sh -c`),
so whatever the job starts is in the slot's cgroup, never another slot's job's. Either way, one
read of `cgroup.procs` per job, no /proc scan. (A one-slot worker skips the move: a write to
`cgroup.procs` takes a kernel-wide lock, a cost per trivial job that buys nothing there.)
Processes a job keeps on purpose (`keep_children`) are moved back to the worker's original cgroup.
The watchdog, started before the move and so outside, kills the whole cgroup with its slots
(`cgroup.kill`; on cgroup v1, process by process until it is empty) if the worker dies. cgroup v2
is used wherever it is mounted (on a hybrid host too, where it needs no controller), else a cgroup
v1 hierarchy (pids, freezer or name=systemd). Without the right to create one, or with
QUEUECTL_JOB_CGROUP=off in the worker's environment, workers fall back to the environment marker
(leftovers.py).
"""

from __future__ import annotations

import os
import re
import signal
import time

_PREFIX = "queuectl-"
OFF_ENV = "QUEUECTL_JOB_CGROUP"  # "off": no cgroup, the environment marker only; "v1": a v1 hierarchy
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")


_V1_PREFERRED = ("pids", "freezer", "name=systemd")  # any v1 hierarchy would do: these are cheap


def _mounts() -> list[tuple[str, str, frozenset[str]]]:
    """(mount point, filesystem type, controllers) of every cgroup hierarchy mounted here."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = right.split()
                if fields[:1] in (["cgroup2"], ["cgroup"]):
                    options = frozenset(fields[2].split(",")) - {"rw", "ro"} if len(fields) > 2 else frozenset()
                    found.append((left.split()[4], fields[0], options))
    except OSError:
        pass
    return found


def _own_paths() -> dict[frozenset[str], str]:
    """This process's cgroup in each hierarchy, by its controllers (v2: the empty set)."""
    paths = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                paths[frozenset(controllers.split(",")) - {""}] = path
    except (OSError, ValueError):
        pass
    return paths


def _hierarchy() -> tuple[str, str] | None:
    """(mount point, this process's path in it) of the hierarchy workers use: cgroup v2 where it is
    mounted (even on a hybrid host), else a v1 one; QUEUECTL_JOB_CGROUP=v1 forces v1 (tests)."""
    mounts, own = _mounts(), _own_paths()
    want_v1 = os.environ.get(OFF_ENV, "").lower() == "v1"
    if not want_v1:
        for mount, fstype, _ in mounts:
            if fstype == "cgroup2" and frozenset() in own:
                return mount, own[frozenset()]
    v1 = [(mount, options) for mount, fstype, options in mounts if fstype == "cgroup"]
    for name in _V1_PREFERRED:
        for mount, options in v1:
            for controllers, path in own.items():  # /proc/self/cgroup names a hierarchy by its controllers
                if name in controllers and controllers <= options:
                    return mount, path
    return None


def cgroup_dir(worker_id: str) -> str | None:
    """The directory of `worker_id`'s cgroup, seen from a process in the worker's original cgroup."""
    where = _hierarchy()
    if where is None or not _SAFE_ID.fullmatch(worker_id):
        return None
    mount, own = where  # a worker started by a job: below that job's worker's cgroup, killed with it
    return os.path.join(mount + own.rstrip("/"), _PREFIX + worker_id)


def _read_pids(path: str) -> list[int]:
    try:  # os.open/os.read: this runs after every job, and a file object costs more than the read
        fd = os.open(path + "/cgroup.procs", os.O_RDONLY)
        try:
            data = chunk = os.read(fd, 1 << 16)
            while chunk:
                chunk = os.read(fd, 1 << 16)
                data += chunk
            return [int(pid) for pid in data.split()]
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return []


def _move(pid: int, to: str) -> bool:
    try:
        with open(os.path.join(to, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        return True
    except OSError:
        return False


class WorkerCgroup:
    """The cgroup this worker and its jobs run in (see the module's docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.parent = os.path.dirname(path)

    @classmethod
    def enter(cls, worker_id: str) -> WorkerCgroup | None:
        """Create the worker's cgroup and move this process into it; None where the machine does not allow it."""
        path = cgroup_dir(worker_id)
        if path is None or os.environ.get(OFF_ENV, "").lower() == "off":
            return None
        _remove_stale(os.path.dirname(path))
        for _ in range(2):  # another worker's clean-up may remove it while still empty: once more
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass
            except OSError:
                return None
            if _move(os.getpid(), path):
                return cls(path)
        _rmdir(path)
        return None

    def shell_prefix(self) -> str:
        """Nothing: a one-slot worker's job is in the worker's own cgroup from its fork."""
        return ""

    def job_pids(self) -> list[int]:
        """Live processes of a one-slot worker's job: every process in the cgroup but the worker."""
        me = os.getpid()
        return [pid for pid in _read_pids(self.path) if pid != me]

    def release(self, pids: list[int]) -> None:
        """Move kept processes (keep_children) out, to the worker's original cgroup."""
        for pid in pids:
            _move(pid, self.parent)

    def slot(self, number: int) -> SlotCgroup | None:
        """The cgroup of slot `number` (made on first use); None if it cannot be made."""
        path = os.path.join(self.path, f"slot-{number}")
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        except OSError:
            return None
        return SlotCgroup(path, self.parent)

    def leave(self) -> None:
        """The worker is exiting on its own terms: back to its original cgroup, and remove this one."""
        _move(os.getpid(), self.parent)
        _rmtree(self.path)


class SlotCgroup:
    """One slot's cgroup, inside its worker's: the processes of the job that slot runs."""

    def __init__(self, path: str, home: str) -> None:
        self.path = path
        self._home = home  # where kept processes go: the worker's original cgroup

    def shell_prefix(self) -> str:
        """Words put before a job's command in its `sh -c`: the shell moves itself into this cgroup
        before it starts anything (silently, if the cgroup is gone: the marker still finds them)."""
        return f"{{ echo $$ >{self.path}/cgroup.procs; }} 2>/dev/null; "

    def job_pids(self) -> list[int]:
        """Live processes of the slot's job (its shell, until it exits, and all it started)."""
        return _read_pids(self.path)

    def release(self, pids: list[int]) -> None:
        """Move kept processes (keep_children) out, to the worker's original cgroup."""
        for pid in pids:
            _move(pid, self._home)


def kill_cgroup(path: str, timeout: float = 5.0) -> None:
    """SIGKILL every process in the cgroup at `path` (the worker died) and remove it."""
    if not os.path.isdir(path):
        return
    deadline = time.monotonic() + timeout
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:  # kernels before 5.14: one by one, until none is left
        pass
    while time.monotonic() < deadline:
        pids = [pid for where in _tree(path) for pid in _read_pids(where)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # a member of the cgroup: ours, not a reused pid
            except OSError:
                pass
        time.sleep(0.01)
    _rmtree(path)


def _tree(path: str) -> list[str]:
    """`path` and the cgroups below it (a worker's slots), deepest first."""
    found = []
    try:
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                found.extend(_tree(entry.path))
    except OSError:
        pass
    return [*found, path]


def _rmtree(path: str) -> None:
    """Remove an empty cgroup and its empty children (a cgroup's files go with its directory)."""
    for where in _tree(path):
        _rmdir(where)


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _remove_stale(parent: str) -> None:
    """Remove the empty cgroups of workers that are gone (a populated one refuses rmdir)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if name.startswith(_PREFIX):
            _rmtree(os.path.join(parent, name))
