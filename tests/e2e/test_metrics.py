"""`queuectl stats --prometheus` / `--serve`: the Prometheus text format, parsed with prometheus_client's
own parser and checked against the store, after real workers ran real jobs, on both stores."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from e2e_support import wait_until


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}}."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def scrape(q, *args: str) -> dict[str, dict[tuple, float]]:
    return parse(q.run("stats", "--prometheus", *args).stdout)


def one(samples, name: str, **labels) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_runs_against_store(q, m) -> None:
    rows = q.sql("SELECT finished_at - started_at, exit_code, error FROM run WHERE finished_at IS NOT NULL")
    ok = sum(1 for _, code, err in rows if code == 0 and err is None)
    assert one(m, "queuectl_runs_finished_total", outcome="succeeded") == ok
    assert sum(m["queuectl_runs_finished_total"].values()) == len(rows)
    assert one(m, "queuectl_run_duration_seconds_count") == len(rows)
    assert one(m, "queuectl_run_duration_seconds_sum") == pytest.approx(sum(r[0] for r in rows), abs=1e-6)
    assert one(m, "queuectl_run_duration_seconds_bucket", le="+Inf") == len(rows)
    waits = q.sql("SELECT r.started_at - j.created_at FROM run r JOIN job j ON j.id = r.job_id "
                  "WHERE r.number = 1 AND j.run_at <= j.created_at + 0.001 AND r.finished_at IS NOT NULL")
    assert one(m, "queuectl_queue_wait_seconds_count") == len(waits)
    assert one(m, "queuectl_queue_wait_seconds_sum") == pytest.approx(sum(w[0] for w in waits), abs=1e-6)


def test_prometheus_text_matches_the_store(q):
    q.fast()
    ok = [q.enqueue(f"echo ok{i}") for i in range(3)]
    bad = q.enqueue(json.dumps({"command": "exit 3", "max_retries": 0}))
    # no worker serves "mail"; its oldest job has the lower priority (the earliest is found per priority)
    mail = [q.enqueue("--queue", "mail", "true")]
    time.sleep(1)  # (so a wrong "earliest" would be a second off)
    mail.append(q.enqueue("--queue", "mail", "--priority", "5", "true"))
    later = q.enqueue("--queue", "later", "--delay", "1h", "true")
    q.json("worker", "start", "-c", "1", "--queue", "default")
    for job_id in ok:
        q.wait_state(job_id, "completed")
    q.wait_state(bad, "dead")
    wait_until(lambda: q.workers() and not q.workers()[0]["current_job_id"], message="the worker to be idle")

    before = time.time()
    m = scrape(q)
    counts = q.counts()
    for state, n in counts.items():
        assert one(m, "queuectl_jobs", state=state) == n
    assert counts["completed"] == 3 and counts["dead"] == 1 and counts["pending"] == 3

    # two queues with waiting jobs: counted per queue
    assert one(m, "queuectl_queue_jobs", queue="mail", state="pending") == 2
    assert one(m, "queuectl_queue_jobs", queue="mail", state="processing") == 0
    assert one(m, "queuectl_queue_jobs", queue="later", state="pending") == 1
    assert ("default",) not in {tuple(v for k, v in labels if k == "queue") for labels in m["queuectl_queue_jobs"]}
    created = min(q.job(j).created_at for j in mail)
    age = one(m, "queuectl_queue_oldest_waiting_seconds", queue="mail")
    assert before - created - 0.5 <= age <= time.time() - created + 0.5
    assert one(m, "queuectl_queue_oldest_waiting_seconds", queue="later") == 0  # not due for an hour

    assert one(m, "queuectl_runs_finished_total", outcome="failed") == 1
    check_runs_against_store(q, m)
    assert one(m, "queuectl_worker_slots") == 1
    assert one(m, "queuectl_worker_slots_busy") == 0
    assert one(m, "queuectl_workers_lost_total") == 0
    assert one(m, "queuectl_paused") == 0

    # one queue with waiting jobs: its counts are the totals
    q.run("cancel", later)
    q.run("pause")
    m = scrape(q)
    assert one(m, "queuectl_queue_jobs", queue="mail", state="pending") == 2
    assert set(m["queuectl_queue_oldest_waiting_seconds"]) == {(("queue", "mail"),)}
    assert one(m, "queuectl_jobs", state="cancelled") == 1
    assert one(m, "queuectl_paused") == 1

    # --since: runs that finished before the window are not counted
    time.sleep(1.1)
    m = scrape(q, "--since", "1s")
    assert sum(m["queuectl_runs_finished_total"].values()) == 0


def test_serve_counts_new_runs_and_lost_workers(q):
    q.fast()
    port = free_port()
    server = q.popen("stats", "--serve", "--port", str(port))
    line = server.stdout.readline()
    assert line.startswith(f"serving Prometheus metrics at http://127.0.0.1:{port}/metrics"), line
    url = f"http://127.0.0.1:{port}/metrics"

    def get() -> dict[str, dict[tuple, float]]:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            return parse(response.read().decode())

    assert sum(get()["queuectl_runs_finished_total"].values()) == 0
    worker, _ = q.start_workers(2)
    ids = [q.enqueue("true") for _ in range(5)] + [q.enqueue(json.dumps({"command": "exit 1", "max_retries": 0}))]
    for job_id in ids:
        q.wait_state(job_id, "completed", "dead")
    m = wait_until(lambda: (lambda m: m if sum(m["queuectl_runs_finished_total"].values()) == 6 else None)(get()),
                   message="six runs counted")
    assert one(m, "queuectl_runs_finished_total", outcome="succeeded") == 5
    check_runs_against_store(q, m)
    for _ in range(3):  # later scrapes count each run once
        assert sum(get()["queuectl_runs_finished_total"].values()) == 6

    # a worker killed with SIGKILL: the other one finds it lost (its pid is gone)
    assert one(m, "queuectl_worker_slots") == 2 and one(m, "queuectl_workers_lost_total") == 0
    pid = next(w["pid"] for w in q.workers() if w["id"] == worker)
    os.kill(pid, signal.SIGKILL)
    m = wait_until(lambda: (lambda m: m if one(m, "queuectl_workers_lost_total") == 1 else None)(get()),
                   timeout=15, message="the lost worker counted")
    assert one(m, "queuectl_worker_slots") == 1

    with pytest.raises(urllib.error.HTTPError) as not_found:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert not_found.value.code == 404
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0


def test_serve_refuses_a_remote_host_without_allow_remote(q):
    port = free_port()
    refused = q.run("stats", "--serve", "--host", "0.0.0.0", "--port", str(port), check=False, timeout=20)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "queuectl: error: --host 0.0.0.0 would serve the queue beyond this machine; add --allow-remote if you mean it"
    ]
    with socket.socket() as s:  # nothing listens
        assert s.connect_ex(("127.0.0.1", port)) != 0

    server = q.popen("stats", "--serve", "--host", "0.0.0.0", "--port", str(port), "--allow-remote")
    assert server.stdout.readline().startswith(f"serving Prometheus metrics at http://0.0.0.0:{port}/metrics")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert "queuectl_jobs" in parse(response.read().decode())
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0


def test_prometheus_bad_usage_and_missing_extra(q):
    both = q.run("stats", "--prometheus", "--json", check=False)
    assert both.returncode == 2 and len(both.stderr.strip().splitlines()) == 1
    # without the metrics extra: a one-line hint, exit 1
    code = "import sys; sys.modules['prometheus_client'] = None; from queuectl.cli import main; main(sys.argv[1:])"
    missing = subprocess.run([sys.executable, "-c", code, "stats", "--prometheus"], env=q.env, cwd=q.work,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.strip() == ("queuectl: error: the Prometheus exporter needs the metrics extra: "
                                      "pip install 'queuectl[metrics]'")
