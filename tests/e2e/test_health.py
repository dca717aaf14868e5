"""`queuectl health`: exit 0 when the store answers and enough live workers serve, else 1 with one line,
against real workers on both stores."""

from __future__ import annotations

import json

from proc_support import one_line_error, wait_until


def health(q, *args: str, env=None):
    return q.run("health", *args, check=False, env=env)


def test_health_counts_live_worker_slots_per_queue(q):
    q.fast()
    ok = health(q)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: the store answers")

    none = health(q, "--workers", "1")
    assert none.returncode == 1
    assert one_line_error(none) == "queuectl: error: live worker slots running: 0, need 1"

    q.start_workers(2)
    q.json("worker", "start", "-c", "1", "--queue", "mail")
    two = health(q, "--workers", "3")
    assert two.returncode == 0, two.stderr
    report = json.loads(health(q, "--workers", "3", "--json").stdout)
    assert report["ok"] is True and report["live_slots"] == 3 and report["problem"] is None

    # the queue-restricted worker serves "mail" only; the other two serve every queue
    assert health(q, "--workers", "3", "--queue", "mail").returncode == 0
    other = health(q, "--workers", "3", "--queue", "reports", "--json")
    assert other.returncode == 1
    assert json.loads(other.stdout)["live_slots"] == 2
    assert one_line_error(other) == "queuectl: error: live worker slots serving queue 'reports': 2, need 3"

    # a stopping or stopped worker serves nothing
    q.run("worker", "stop", "--wait", "--timeout", "20")
    wait_until(lambda: health(q, "--workers", "1").returncode == 1, timeout=20, message="health to fail")
    assert health(q).returncode == 0


def test_health_fails_in_one_line_when_the_store_does_not_answer(q):
    env = dict(q.env, QUEUECTL_DB="postgresql://postgres@127.0.0.1:1/none")
    down = health(q, env=env)
    assert down.returncode == 1
    assert one_line_error(down).startswith("queuectl: error: the store does not answer: cannot reach the store")
    as_json = health(q, "--json", env=env)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["ok"] is False


def test_health_bad_input_exits_2(q):
    bad = health(q, "--workers", "-1")
    assert bad.returncode == 2
    assert health(q, "--queue", "no spaces").returncode == 2
