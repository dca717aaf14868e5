"""The PostgreSQL server goes away in the middle of a run and comes back: workers log, back off,
reconnect and carry on; nothing runs twice, nothing is stuck; the CLI fails in one line meanwhile.

Runs against a private cluster (fixture `private_pg`): the shared server is used by parallel tests.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from pg_support import one_line_error, wait_until

DOWN_FOR = 2.0


def test_postgres_restart_during_a_run(pq_private, private_pg):
    pq = pq_private
    pq.config("poll_interval", 0.1)
    out = pq.work / "done.txt"
    pq.run("pause")
    workers = pq.start_workers(2)
    ids = pq.enqueue_many(
        [{"id": f"r{i:03d}", "command": f'echo "$QUEUECTL_JOB_ID" >> {out}; sleep 0.05'} for i in range(200)]
    )
    pq.run("resume")
    wait_until(lambda: (pq.counts().get("completed") or 0) >= 40, timeout=30, message="40 jobs to complete")

    private_pg.stop()
    down_at = time.monotonic()
    assert not private_pg.running()
    proc = pq.run("status", check=False, timeout=30)
    assert proc.returncode == 1, proc
    line = one_line_error(proc)
    assert "cannot reach the store" in line, line
    proc = pq.run("enqueue", "echo lost?", check=False, timeout=30)
    assert proc.returncode == 1 and "store" in one_line_error(proc), proc
    print(f"\nCLI while the server is down: {line}")
    time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - down_at)))
    private_pg.start()
    up_at = time.monotonic()

    wait_until(lambda: pq.counts().get("completed") == 200, timeout=60, message="all 200 jobs to complete")
    print(f"all done {time.monotonic() - up_at:.1f} s after the server came back")
    assert pq.counts() == {"completed": 200}, "no job stuck in processing, none lost or failed"
    done = Counter(out.read_text().split())
    twice = {job_id: n for job_id, n in done.items() if n != 1}
    assert not twice, f"jobs run more than once: {twice}"
    assert set(done) == set(ids)
    assert pq.probe.rows("SELECT DISTINCT attempts FROM job") == [(1,)]
    runs = dict(pq.probe.rows("SELECT job_id, count(*) FROM run GROUP BY job_id"))
    unfinished = pq.probe.rows("SELECT job_id, number FROM run WHERE finished_at IS NULL")
    assert not unfinished, f"runs never closed: {unfinished}"
    assert {j: n for j, n in runs.items() if n != 1} == {}, "one run per job"
    assert len(runs) == 200
    # the workers survived it and are still live
    assert dict(pq.probe.rows("SELECT id, state FROM worker")) == {w: "running" for w in workers}
    status = pq.json("status")
    assert status["workers"]["running"] == 2
    assert status["jobs"]["completed"] == 200 and status["total"] == 200, "the kept counts match the jobs"

    # each worker logged the store error, then went on completing jobs
    for worker_id in workers:
        log = pq.worker_log(worker_id).splitlines()
        errors = [i for i, text in enumerate(log) if "store error" in text]
        assert errors, f"worker {worker_id} logged no store error:\n" + "\n".join(log[-20:])
        assert "Traceback" not in "\n".join(log)
        later = [text for text in log[errors[-1] + 1:] if re.search(r"job \S+ attempt \d+: completed", text)]
        assert later, f"worker {worker_id} completed nothing after the outage:\n" + "\n".join(log[errors[0]:][:30])
        print(f"worker {worker_id}: {len(errors)} store-error lines, first: {log[errors[0]]}")
        print(f"  last: {log[errors[-1]]}")
        for text in log:  # the rarer outcomes of a lost connection, for the record
            if "lost reply" in text or "result not recorded" in text or "maintenance" in text:
                print(f"  {text}")
