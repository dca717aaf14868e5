"""Queue limits, unique keys and dependencies under real workers and concurrent CLI processes,
on both stores, checked by sampling the store while they run."""

from __future__ import annotations

import json

from e2e_support import wait_until
from proc_support import one_line_error


def _running_by_queue(q) -> dict[str, int]:
    rows = q.store().execute("SELECT queue, count(*) FROM job WHERE state = 'processing' GROUP BY queue").fetchall()
    return {queue: int(n) for queue, n in rows}


def test_a_queue_limit_holds_across_workers_and_other_queues_run_beside_it(q):
    q.config("poll_interval", 0.05)
    q.run("queue", "set", "gpu", "--limit", "1")
    # gpu jobs hold their slot until the test lets them go: meanwhile the default ones must all run
    gate = "while [ ! -e go ]; do sleep 0.05; done; sleep 0.1"
    ids = q.enqueue_many([{"command": gate, "queue": "gpu"} for _ in range(6)]
                         + [{"command": "sleep 0.1"} for _ in range(6)])
    q.start_workers(8, processes=2)  # two workers of four slots each
    samples: list[dict[str, int]] = []

    def completed(n: int):
        def check() -> bool:
            samples.append(_running_by_queue(q))
            return q.counts()["completed"] >= n
        return check

    wait_until(completed(6), timeout=60, interval=0.01, message="the default jobs, beside a running gpu job")
    assert [q.state(i) for i in ids[6:]] == ["completed"] * 6, "default was held back by gpu"
    (q.work / "go").touch()
    wait_until(completed(12), timeout=60, interval=0.01, message="every gpu job, one at a time")
    assert max(s.get("gpu", 0) for s in samples) == 1, "two gpu jobs ran at once"
    # and from the runs' own times: no two gpu runs overlap
    runs = sorted((r.started_at, r.finished_at) for job_id in ids[:6] for r in q.runs(job_id))
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(runs, runs[1:], strict=False)), runs


def test_twenty_concurrent_enqueues_with_one_unique_key_make_one_job(q):
    q.run("status")  # the store exists before the race (its creation is not what is raced)
    procs = [q.popen("enqueue", "--unique", "nightly", "--json", "--", "echo", str(i)) for i in range(20)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outs.append(json.loads(out))
    assert len({o["id"] for o in outs}) == 1
    assert sorted(o["existing"] for o in outs) == [False] + [True] * 19
    assert q.counts()["pending"] == 1


def test_a_chain_runs_in_order_and_a_dead_link_cancels_the_rest(q):
    q.fast(poll=0.05)
    first = q.enqueue("--id", "first", "--", "sh", "-c", "echo one >> order.txt")
    second = q.enqueue("--after", first, "--id", "second", "--", "sh", "-c", "echo two >> order.txt")
    bad = q.enqueue("--after", second, "--id", "bad", "--max-retries", "0", "--", "false")
    last = q.enqueue("--after", f"{bad},{first}", "--id", "last", "--", "true")
    q.start_workers(2)
    wait_until(lambda: q.state(last) == "cancelled", timeout=30, message="the job after a dead one cancelled")
    assert (q.work / "order.txt").read_text() == "one\ntwo\n"
    shown = q.show(last)
    assert shown["after"] == [{"id": "bad", "state": "dead"}, {"id": "first", "state": "completed"}]
    assert shown["last_error"] == "dependency bad is dead"


def test_unknown_dependency_is_refused_in_one_line(q):
    line = one_line_error(q.run("enqueue", "--after", "nope", "--", "true", check=False), code=2)
    assert line == "queuectl: error: after: no such job: nope"
    assert q.counts()["pending"] == 0
