"""Process trees under cancel, timeout and forced stop: a job that forks children and
grandchildren, one that ignores SIGTERM (`trap '' TERM`), one that closes its output early
(`exec >&- 2>&-`). After each way of ending, no process of the job survives (psutil, by the pids
each job records), and the job's state and error say what happened.

One scenario (nine jobs on nine workers, ended together) feeds nine small verdicts.
(test_escaped_processes.py: processes that leave the job's group and session, under every way a
run ends, and `keep_children`.)
(tests/e2e/test_processes.py covers a plain tree under cancel and timeout, and SIGKILL of a worker.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from reliability_support import alive, make_q_for_module, reap_module, wait_until

KILL_GRACE = 1.0
MODES = ("cancel", "timeout", "stop")
KINDS = ("tree", "trap", "closed")

# tree.sh PIDFILE DEPTH: itself, two subtrees one level shallower, and a sleep: 2^(d+1)-1 shells
# and as many sleeps.
TREE_SH = """\
echo $$ >> "$1"
if [ "$2" -gt 0 ]; then
  sh "$0" "$1" $(($2 - 1)) &
  sh "$0" "$1" $(($2 - 1)) &
fi
sleep 300 &
echo $! >> "$1"
wait
"""
COMMANDS = {
    # the job's shell, then 7 shells and 7 sleeps below it (children and grandchildren)
    "tree": ('echo $$ >> {pids}; sh {work}/tree.sh {pids} 2', 1 + 14),
    # SIGTERM ignored by the shell and (inherited) by its child: only SIGKILL ends it
    "trap": ("trap '' TERM; echo $$ >> {pids}; sleep 30 & echo $! >> {pids}; wait", 2),
    # stdout and stderr closed at once: the worker sees end-of-output long before the exit
    "closed": ("exec >&- 2>&-; echo $$ >> {pids}; sleep 30 & echo $! >> {pids}; wait", 2),
}


@dataclass
class Outcome:
    job: dict
    pids: list[int]
    survivors: list[int]
    ended_after: float  # seconds from the action until every recorded process was gone


def _pids(path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, module_store_under_test):
    q = make_q_for_module(tmp_path_factory.mktemp("trees"), module_store_under_test)
    try:
        (q.work / "tree.sh").write_text(TREE_SH)
        q.configure(poll_interval=0.05, kill_grace=KILL_GRACE)
        # one job a process: the forced stop of a holder must not touch the other modes' jobs
        q.start_workers(len(MODES) * len(KINDS), processes=len(MODES) * len(KINDS))
        pidfiles = {}
        specs = []
        for mode in MODES:
            for kind in KINDS:
                job_id = f"{mode}-{kind}"
                pidfiles[job_id] = q.work / f"{job_id}.pids"
                command, _ = COMMANDS[kind]
                specs.append({"id": job_id, "command": command.format(pids=pidfiles[job_id], work=q.work),
                              "max_retries": 0, "timeout": 1 if mode == "timeout" else 0})
        q.enqueue_many(specs)
        for job_id, path in pidfiles.items():
            expected = COMMANDS[job_id.split("-")[1]][1]
            wait_until(lambda: len(_pids(path)) >= expected, timeout=15, message=f"{job_id} to record its pids")
        # every job is running now (the timeout ones may already be on their way out)
        q.pause()  # a job put back to pending by the forced stop must not be picked up again
        stop_ids = [j for j in pidfiles if j.startswith("stop-")]
        holders = sorted({q.job(j).worker_id for j in stop_ids})
        assert len(holders) == len(KINDS)
        acted = time.monotonic()
        cancel = q.popen("cancel", *[j for j in pidfiles if j.startswith("cancel-")], "--json")
        stop = q.popen("worker", "stop", *holders, "--force", "--wait", "--json")
        outcomes: dict[str, Outcome] = {}
        for job_id, path in pidfiles.items():
            pids = _pids(path)
            try:
                wait_until(lambda: not any(alive(p) for p in pids), timeout=KILL_GRACE + 8,
                           message=f"the processes of {job_id} to be gone")
            except AssertionError:
                pass
            ended = time.monotonic() - acted
            outcomes[job_id] = Outcome({}, pids, [p for p in pids if alive(p)], ended)
        for proc in (cancel, stop):
            out, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, f"{proc.args}: {err}"
        for job_id in pidfiles:
            wait_until(lambda: q.state(job_id) != "processing", timeout=10, message=f"{job_id} to end")
            outcomes[job_id].job = q.show(job_id)
        yield outcomes
        q.pause(False)
    finally:
        reap_module(q)


EXPECTED = {
    "cancel": ("cancelled", "cancel"),
    "timeout": ("dead", "timeout after 1s"),
    "stop": ("pending", "interrupted"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_no_process_of_the_job_survives(scenario, mode, kind):
    o = scenario[f"{mode}-{kind}"]
    assert len(o.pids) == COMMANDS[kind][1]
    assert not o.survivors, f"{mode}-{kind}: still alive {o.survivors}"
    # SIGTERM, then SIGKILL after kill_grace: even the SIGTERM-proof job ends within the grace
    assert o.ended_after < KILL_GRACE + 4, f"{mode}-{kind}: took {o.ended_after:.1f}s"
    state, error = EXPECTED[mode]
    job = o.job
    assert job["state"] == state, job
    (run,) = job["runs"]
    assert run["finished_at"] is not None
    assert error in (run["error"] or ""), run
    if mode == "stop":  # uncounted: it will run again, as attempt 1
        assert job["attempts"] == 0
    else:
        assert error in (job["last_error"] or ""), job
        assert job["attempts"] == 1
