"""The CLI on a PostgreSQL store: the same outcomes as on SQLite; bad inputs and an unreachable
server give one-line errors and change nothing."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from pg_support import PgQueuectl, one_line_error


def _burst(pq: PgQueuectl) -> None:
    proc = pq.run("worker", "run", "--burst", timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr


def test_cli_round_trip_on_postgres(pq):
    # ── enqueue: a raw command, a JSON object, 100 NDJSON lines from stdin, a delayed job ──
    raw = pq.enqueue("echo raw-output")
    bad = pq.enqueue(json.dumps({"id": "bad-1", "command": "echo failing; exit 3", "max_retries": 0,
                                 "priority": 5}))
    assert bad == "bad-1"
    ndjson = "".join(json.dumps({"id": f"b{i:03d}", "command": f"echo line-{i}"}) + "\n" for i in range(100))
    bulk = pq.run("enqueue", "-", input=ndjson).stdout.split()
    assert bulk == [f"b{i:03d}" for i in range(100)]
    later = pq.enqueue("--delay", "1h", "--command", "echo never")
    status = pq.json("status")
    assert status["jobs"]["pending"] == 103 and status["total"] == 103
    assert status["paused"] is False

    # ── cancel a waiting job ──
    assert pq.json("cancel", later) == {later: "cancelled"}

    # ── one foreground worker drains what is due ──
    _burst(pq)
    status = pq.json("status")
    assert status["jobs"] == {"pending": 0, "processing": 0, "completed": 101, "failed": 0, "dead": 1,
                              "cancelled": 1}
    assert status["workers"] == {"running": 0, "busy": 0, "lost": 0, "slots": 0, "slots_busy": 0}

    listed = pq.json("list", "--limit", "200")
    assert [j["id"] for j in listed] == [later, *reversed(bulk), bad, raw]  # newest first
    assert {j["id"]: j["state"] for j in listed}[later] == "cancelled"
    assert [j["id"] for j in pq.json("list", "--state", "dead")] == [bad]
    assert len(pq.json("list", "-s", "completed", "--limit", "7")) == 7

    job = pq.show(raw)
    assert (job["state"], job["attempts"], job["exit_code"], job["cwd"]) == ("completed", 1, 0, str(pq.work))
    assert len(job["runs"]) == 1
    run = job["runs"][0]
    assert run["host"] == socket.gethostname() and run["exit_code"] == 0 and run["error"] is None
    assert run["worker_id"] and run["finished_at"] and run["output_bytes"] == len("raw-output\n")
    assert pq.run("logs", raw).stdout == "raw-output\n"
    assert pq.run("logs", "b042").stdout == "line-42\n"
    logs = pq.json("logs", bad)
    assert logs["output"] == "failing\n" and logs["finished"] is True and logs["run"] == 1

    job = pq.show(bad)
    assert (job["state"], job["attempts"], job["exit_code"], job["priority"]) == ("dead", 1, 3, 5)
    assert "3" in job["last_error"]
    assert [r["exit_code"] for r in job["runs"]] == [3]

    # ── the DLQ ──
    assert [j["id"] for j in pq.json("dlq", "list")] == [bad]
    assert pq.json("dlq", "retry", bad) == {"retried": [bad]}
    job = pq.show(bad)
    assert (job["state"], job["attempts"]) == ("pending", 0)
    assert pq.json("dlq", "list") == []
    _burst(pq)
    job = pq.show(bad)
    assert (job["state"], job["attempts"]) == ("dead", 1)
    assert [r["number"] for r in job["runs"]] == [1, 2]
    assert pq.run("logs", bad, "--attempt", "1").stdout == "failing\n"

    # ── retry, cancel, delete, purge ──
    assert pq.json("retry", bad) == {"retried": [bad]}
    assert pq.state(bad) == "pending"
    assert pq.json("cancel", bad) == {bad: "cancelled"}
    refused = pq.run("retry", "b000", check=False)  # completed: only with --force
    assert refused.returncode == 1
    assert "completed" in one_line_error(refused)
    assert pq.json("retry", "--force", "b000") == {"retried": ["b000"]}
    assert pq.state("b000") == "pending"
    _burst(pq)
    assert [r["number"] for r in pq.show("b000")["runs"]] == [1, 2]

    assert pq.json("delete", raw) == {"deleted": [raw]}
    gone = pq.run("show", raw, check=False)
    assert gone.returncode == 1
    assert raw in one_line_error(gone)
    assert pq.probe.value("SELECT count(*) FROM run WHERE job_id = %s", (raw,)) == 0
    assert pq.json("purge", "--state", "cancelled") == {"purged": 2}
    status = pq.json("status")
    assert status["jobs"] == {"pending": 0, "processing": 0, "completed": 100, "failed": 0, "dead": 0,
                              "cancelled": 0}
    assert pq.json("purge", "--state", "completed", "--older-than", "1d") == {"purged": 0}

    # ── settings ──
    assert pq.json("config", "set", "max-retries", "5") == {"max_retries": 5}
    assert pq.run("config", "get", "max_retries").stdout.strip() == "5"
    assert pq.json("config", "get", "worker-timeout") == {"worker_timeout": 30.0}
    assert pq.json("config", "set", "worker_timeout", "12.5") == {"worker_timeout": 12.5}
    settings = pq.json("config", "list")
    assert settings["max_retries"] == 5 and settings["worker_timeout"] == 12.5 and settings["kill_grace"] == 5.0
    assert pq.show(pq.enqueue("echo after-config"))["max_retries"] == 5

    # ── pause and resume ──
    assert pq.json("pause") == {"paused": True}
    assert pq.json("status")["paused"] is True
    waiting = pq.enqueue("echo while-paused")
    _burst(pq)  # claims nothing while paused, and exits
    assert pq.state(waiting) == "pending"
    assert pq.json("resume") == {"paused": False}
    _burst(pq)
    assert pq.state(waiting) == "completed"
    assert pq.run("logs", waiting).stdout == "while-paused\n"

    # ── bad inputs: exit 2, one line on stderr, the store as before ──
    before = pq.snapshot()
    bad_inputs = [
        (("enqueue", '{"id": "b001", "command": "echo dup"}'), None, "b001"),
        (("enqueue", "--id", "b002", "--command", "echo dup"), None, "b002"),
        (("enqueue", "-"), '{"id": "new-1", "command": "x"}\n{"id": "b003", "command": "x"}\n', "b003"),
        (("enqueue", "-"), '{"id": "new-2", "command": "x"}\n{"id": "new-2", "command": "y"}\n', "new-2"),
        (("enqueue", '{"command": '), None, "JSON"),
        (("enqueue", "-"), '{"command": "ok"}\n{"command": "x", "priority": "high"}\n', "priority"),
        (("enqueue", '{"command": "x", "state": "completed"}'), None, "state"),
        (("config", "set", "no_such_setting", "1"), None, "unknown setting"),
        (("config", "set", "max_retries", "-1"), None, "max_retries"),
        (("config", "get", "nope"), None, "unknown setting"),
    ]
    for args, stdin, expected in bad_inputs:
        proc = pq.run(*args, input=stdin, check=False)
        assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
        assert expected.lower() in one_line_error(proc, 2).lower(), (args, proc.stderr)
        assert proc.stdout == "", (args, proc.stdout)
    assert pq.snapshot() == before
    # a wrong state or an unknown id: exit 1, nothing changed either
    for args in (("cancel", "b004"), ("delete", "no-such-job"), ("retry", "b005", "no-such-job"),
                 ("dlq", "retry", "b006")):
        proc = pq.run(*args, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        one_line_error(proc)
    assert pq.snapshot() == before


def _offline(tmp_path: Path) -> PgQueuectl:
    work = tmp_path / "work"
    work.mkdir()
    return PgQueuectl(tmp_path / "qhome", work, "postgresql://postgres@127.0.0.1:1/nope")


def test_unreachable_store_is_a_one_line_error(tmp_path):
    qc = _offline(tmp_path)
    proc = qc.run("--db", "postgresql://postgres@127.0.0.1:1/nope", "status", check=False, timeout=30)
    assert proc.returncode == 1, proc
    line = one_line_error(proc)
    assert "store" in line and "127.0.0.1:1/nope" in line, line
    assert proc.stdout == ""

    # the URL from the environment, and other commands, alike
    for args in (("status",), ("enqueue", "echo x"), ("list", "--json"), ("worker", "run", "--burst"),
                 ("worker", "start"), ("config", "set", "max_retries", "1")):
        proc = qc.run(*args, check=False, timeout=30)
        assert proc.returncode == 1, (args, proc.returncode, proc.stderr)
        assert "store" in one_line_error(proc), (args, proc.stderr)

    # a password in the URL is never echoed
    secret_url = "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/nope"
    for proc in (qc.run("--db", secret_url, "status", check=False, timeout=30),
                 qc.run("status", check=False, timeout=30, env={**qc.env, "QUEUECTL_DB": secret_url})):
        assert proc.returncode == 1
        line = one_line_error(proc)
        assert "s3cr3t-pw" not in proc.stderr + proc.stdout, line
        assert "postgres:***@127.0.0.1:1/nope" in line, line


def test_password_in_the_url_query_is_not_echoed(tmp_path):
    """libpq also takes the password as a query parameter (postgresql://user@host/db?password=…)."""
    qc = _offline(tmp_path)
    proc = qc.run("--db", "postgresql://postgres@127.0.0.1:1/nope?sslmode=disable&password=s3cr3t-pw", "status",
                  check=False, timeout=30)
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "s3cr3t-pw" not in proc.stderr + proc.stdout, line
