"""Processes that leave their job's process group and session — `setsid -f cmd`, `(setsid cmd &)`,
a double-forking daemon — end with their run, whatever ends it: cancel, timeout, `worker stop
--force`, a normal completion, a failure (and a kill -9 of the worker: the watchdog's sweep). A job
with `keep_children` keeps them after it completes, and the killed-worker path spares them then.

Each escapee is re-parented to init at once, so neither `killpg` nor the process tree reaches it:
only the run's environment marker does (queuectl/core/leftovers.py). One scenario (one job per way
of ending, each starting all three kinds of escapee) feeds a small verdict per way and kind.
Its own module: module-scoped scenarios of one module share their PostgreSQL database, and
test_process_trees.py's scenario keeps its store paused while it lives.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import pytest

from reliability_support import alive, make_q_for_module, reap_module, wait_until

KILL_GRACE = 1.0


def _pids(path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


ESCAPE_MODES = ("cancel", "timeout", "stop", "complete", "fail", "keep")
ESCAPES = ("setsid", "subshell", "daemon")
ESCAPE_TIMEOUT = 2

DAEMON_PY = """\
import os, sys, time
if os.fork():
    os._exit(0)  # the job's shell sees its child end at once
os.setsid()
if os.fork():
    os._exit(0)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
os.chdir("/")
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\\n")
time.sleep(300)
"""

ESCAPE_SH = """\
setsid -f sh -c 'echo $$ >> "$0"; exec sleep 300' {setsid}
(setsid sh -c 'echo $$ >> "$0"; exec sleep 300' {subshell} &)
{python} {work}/daemon.py {daemon}
until [ -s {setsid} ] && [ -s {subshell} ] && [ -s {daemon} ]; do sleep 0.02; done
{end}
"""
ESCAPE_ENDS = {"cancel": "sleep 300", "timeout": "sleep 300", "stop": "sleep 300",
               "complete": "exit 0", "fail": "exit 3", "keep": "exit 0"}
ESCAPE_EXPECTED = {
    "cancel": ("cancelled", "cancel"),
    "timeout": ("dead", f"timeout after {ESCAPE_TIMEOUT}s"),
    "stop": ("pending", "interrupted"),
    "complete": ("completed", None),
    "fail": ("dead", "exit code 3"),
    "keep": ("completed", None),
}


@dataclass
class Escaped:
    job: dict
    pids: dict[str, list[int]]  # escape kind → the pids it recorded
    survivors: dict[str, list[int]]  # … still alive when checked


@pytest.fixture(scope="module")
def escapes(tmp_path_factory, module_store_under_test):
    import sys

    q = make_q_for_module(tmp_path_factory.mktemp("escapes"), module_store_under_test)
    kept: list[int] = []
    try:
        (q.work / "daemon.py").write_text(DAEMON_PY)
        q.configure(poll_interval=0.05, kill_grace=KILL_GRACE)
        files = {mode: {kind: q.work / f"{mode}-{kind}.pids" for kind in ESCAPES} for mode in ESCAPE_MODES}
        specs = []
        for mode in ESCAPE_MODES:
            command = ESCAPE_SH.format(python=sys.executable, work=q.work, end=ESCAPE_ENDS[mode],
                                       **{kind: path for kind, path in files[mode].items()})
            running = ESCAPE_ENDS[mode] == "sleep 300"
            specs.append({"id": mode, "command": command, "max_retries": 0,
                          "timeout": ESCAPE_TIMEOUT if mode == "timeout" else 0,
                          "keep_children": mode == "keep",
                          "priority": 1 if running else 0})  # the three long ones first, one worker each
        q.start_workers(4)
        q.enqueue_many(specs)
        out: dict[str, Escaped] = {}

        def recorded(mode: str) -> dict[str, list[int]]:
            return {kind: _pids(path) for kind, path in files[mode].items()}

        def verdict(mode: str) -> Escaped:
            pids = recorded(mode)
            return Escaped(q.show(mode), pids, {k: [p for p in v if alive(p)] for k, v in pids.items()})

        # Jobs that end by themselves: their leftovers are gone when their result is recorded.
        for mode in ("complete", "fail", "keep"):
            wait_until(lambda: q.state(mode) not in ("pending", "processing"), timeout=30, message=f"{mode} to end")
            out[mode] = verdict(mode)
        kept = [p for pids in out["keep"].survivors.values() for p in pids]
        for mode in ("cancel", "stop"):
            wait_until(lambda: all(recorded(mode).values()), timeout=15, message=f"{mode}'s escapees to start")
        q.pause()  # the job the forced stop puts back to pending must not run again
        holder = q.job("stop").worker_id
        cancel = q.popen("cancel", "cancel", "--json")
        stop = q.popen("worker", "stop", holder, "--force", "--wait", "--json")
        for proc in (cancel, stop):
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, f"{proc.args}: {err}"
        for mode in ("cancel", "timeout", "stop"):
            wait_until(lambda: q.state(mode) != "processing", timeout=15, message=f"{mode} to end")
            pids = [p for v in recorded(mode).values() for p in v]
            try:
                wait_until(lambda: not any(alive(p) for p in pids), timeout=KILL_GRACE + 8,
                           message=f"the escapees of {mode} to be gone")
            except AssertionError:
                pass
            out[mode] = verdict(mode)
        yield out
        q.pause(False)
    finally:
        for pid in kept:  # the daemon kept on purpose is the test's to end
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_module(q)


@pytest.mark.parametrize("kind", ESCAPES)
@pytest.mark.parametrize("mode", [m for m in ESCAPE_MODES if m != "keep"])
def test_no_escaped_process_outlives_its_job(escapes, mode, kind):
    o = escapes[mode]
    assert len(o.pids[kind]) == 1, o.pids
    assert not o.survivors[kind], f"{mode}: the {kind} escapee {o.survivors[kind]} outlived its job"
    state, error = ESCAPE_EXPECTED[mode]
    assert o.job["state"] == state, o.job
    (run,) = o.job["runs"]
    assert run["finished_at"] is not None
    if error:
        assert error in (run["error"] or ""), run
    else:
        assert run["error"] is None and run["exit_code"] == 0, run


@pytest.mark.parametrize("kind", ESCAPES)
def test_keep_children_lets_a_completed_job_leave_its_daemon_running(escapes, kind):
    o = escapes["keep"]
    assert o.job["state"] == "completed" and o.job["keep_children"] is True, o.job
    assert len(o.pids[kind]) == 1, o.pids
    assert o.survivors[kind] == o.pids[kind], f"the {kind} process kept on purpose was killed"


def test_a_kept_daemon_outlives_a_later_kill_9_of_its_worker_but_a_running_jobs_daemon_does_not(q):
    """The killed-worker path (the watchdog's sweep, then a same-host rescuer's) spares the processes
    of a run that ended and kept them on purpose, and still ends those of the run it held."""
    import sys

    q.configure(poll_interval=0.05, kill_grace=KILL_GRACE)
    (q.work / "daemon.py").write_text(DAEMON_PY)
    files = {name: q.work / f"{name}.pids" for name in ("kept", "held")}
    start = "{python} {work}/daemon.py {f}; until [ -s {f} ]; do sleep 0.02; done; "
    kept: list[int] = []
    try:
        worker = q.spawn_worker()
        q.wait_registered([worker])
        q.enqueue_many([{"id": "kept", "keep_children": True, "max_retries": 0,
                         "command": start.format(python=sys.executable, work=q.work, f=files["kept"]) + "exit 0"}])
        q.wait_state("kept", "completed", timeout=20)
        kept = _pids(files["kept"])
        q.enqueue_many([{"id": "held", "max_retries": 0,
                         "command": start.format(python=sys.executable, work=q.work, f=files["held"]) + "sleep 300"}])
        wait_until(lambda: _pids(files["held"]), timeout=20, message="the held job's daemon to start")
        rescuer = q.spawn_worker()  # a live worker on the same host: its rescue sweeps by the marker too
        q.wait_registered([rescuer])
        q.kill9(worker)
        q.wait_state("held", "dead", timeout=20)
        held = _pids(files["held"])
        wait_until(lambda: not any(alive(p) for p in held), timeout=10, message="the held job's daemon to die")
        assert "worker lost" in (q.show("held")["last_error"] or "")
        assert len(kept) == 1 and alive(kept[0]), "the daemon kept on purpose died with its (later killed) worker"
    finally:
        for pid in kept:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
