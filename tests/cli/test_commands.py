"""Happy paths of every command, read back through `--json`. Jobs reach their states through the core
(claim/finish), never through worker processes."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from datetime import datetime

import click
import pytest

from queuectl import __version__
from queuectl.cli import cli
from queuectl.core.clock import SYSTEM_CLOCK, FrozenClock
from queuectl.core.settings import SETTINGS, Settings

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def epoch(iso_text: str) -> float:
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def ok(run):
    """run() that must succeed with nothing on stderr."""

    def _ok(*args: str, input: str | None = None):
        result = run(*args, input=input)
        assert result.code == 0, f"queuectl {' '.join(args)} -> {result.code}: {result.err}"
        return result

    return _ok


def show(ok, job_id: str) -> dict:
    return ok("show", job_id, "--json").json()


def list_ids(ok, *args: str) -> list[str]:
    return [j["id"] for j in ok("list", "--json", "--limit", "100000", *args).json()]


# ── enqueue ─────────────────────────────────────────────────────────────────────────────────


def test_enqueue_raw_command_prints_the_id_and_uses_the_defaults(ok, workdir):
    result = ok("enqueue", "echo hello && sleep 1")
    job_id = result.out.strip()
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", job_id)
    assert result.err == ""
    job = show(ok, job_id)
    assert job["command"] == "echo hello && sleep 1"
    assert job["state"] == "pending" and job["attempts"] == 0
    assert job["max_retries"] == 3 and job["priority"] == 0 and job["queue"] == "default"
    assert job["timeout"] == 0 and job["env"] is None
    assert job["cwd"] == str(workdir)
    assert job["runs"] == []
    for key in ("run_at", "created_at", "updated_at"):
        assert ISO_Z.fullmatch(job[key]), (key, job[key])
    assert abs(epoch(job["run_at"]) - time.time()) < 30


def test_enqueue_json_prints_the_created_jobs_as_show_json_does(ok, workdir):
    """Issue 12: the created job objects (the keys of `show --json`), an array for a bulk enqueue."""
    job = ok("enqueue", "--json", "true").json()
    assert job.pop("existing") is False  # (enqueue --unique may return a job that was there already)
    assert job == ok("show", job["id"], "--json").json()
    assert job["state"] == "pending" and job["runs"] == []
    assert ok("enqueue", "--json", '{"command": "x", "id": "inline"}').json()["id"] == "inline"
    assert ok("enqueue", "--json", "--command", "y").json()["command"] == "y"
    bulk = ok("enqueue", "-", "--json", input='{"command": "a", "id": "b1"}\n{"command": "b", "id": "b2"}\n').json()
    assert [j["id"] for j in bulk] == ["b1", "b2"] and bulk[1].pop("existing") is False
    assert bulk[1] == ok("show", "b2", "--json").json()
    one = ok("enqueue", "-", "--json", input='{"command": "a", "id": "b3"}\n').json()
    assert isinstance(one, list) and [j["id"] for j in one] == ["b3"]  # from stdin or a file: always an array
    (workdir / "one.json").write_text('[{"command": "z", "id": "b4"}]')
    assert [j["id"] for j in ok("enqueue", "one.json", "--json").json()] == ["b4"]


def test_generated_ids_are_unique(ok):
    ids = ok("enqueue", "-", input="\n".join('{"command":"true"}' for _ in range(200))).out.split()
    assert len(ids) == 200 and len(set(ids)) == 200


def test_enqueue_json_object_with_every_field(ok, workdir):
    (workdir / "sub").mkdir()
    spec = {
        "id": "build-1.a:b_c", "command": "make test", "max_retries": 2, "priority": -7,
        "run_at": "2030-01-02T03:04:05Z", "timeout": 12.5, "cwd": "sub", "env": {"B": "2", "A": "1"},
        "queue": "builds",
    }
    assert ok("enqueue", json.dumps(spec)).out == "build-1.a:b_c\n"
    job = show(ok, "build-1.a:b_c")
    assert job["command"] == "make test"
    assert job["max_retries"] == 2 and job["priority"] == -7 and job["timeout"] == 12.5
    assert job["run_at"] == "2030-01-02T03:04:05.000Z"
    assert job["cwd"] == str(workdir / "sub")
    assert job["env"] == ["A", "B"]
    assert job["queue"] == "builds" and job["state"] == "pending"


def test_enqueue_json_null_fields_mean_the_defaults(ok, workdir):
    job_id = ok("enqueue", '{"command":"true","id":null,"priority":null,"queue":null,"cwd":null}').out.strip()
    job = show(ok, job_id)
    assert job["priority"] == 0 and job["queue"] == "default" and job["cwd"] == str(workdir)


@pytest.mark.parametrize(
    "run_at, expected",
    [
        ("2030-01-01T00:00:00", "2030-01-01T00:00:00.000Z"),  # no offset = UTC
        ("2030-01-01T02:00:00+02:00", "2030-01-01T00:00:00.000Z"),
        ("2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000Z"),
        (1893456000, "2030-01-01T00:00:00.000Z"),  # epoch seconds
        (1893456000.5, "2030-01-01T00:00:00.500Z"),
        (1893456000000, "2030-01-01T00:00:00.000Z"),  # above 10^11: milliseconds
        ("1893456000", "2030-01-01T00:00:00.000Z"),
    ],
    ids=["iso-no-offset", "iso-offset", "iso-z", "epoch-s", "epoch-s-fraction", "epoch-ms", "epoch-s-string"],
)
def test_enqueue_run_at_forms(ok, run_at, expected):
    job_id = ok("enqueue", json.dumps({"command": "true", "run_at": run_at})).out.strip()
    assert show(ok, job_id)["run_at"] == expected


def test_enqueue_json_array_prints_one_id_per_line_in_order(ok):
    out = ok("enqueue", '[{"id":"a","command":"echo a"},{"command":"echo b"},{"id":"c","command":"echo c"}]').out
    ids = out.splitlines()
    assert len(ids) == 3 and ids[0] == "a" and ids[2] == "c"
    assert show(ok, ids[1])["command"] == "echo b"
    assert list_ids(ok) == ids[::-1]


def test_enqueue_ndjson_file(ok, workdir):
    (workdir / "jobs.ndjson").write_text('{"id":"n1","command":"echo 1"}\n\n{"id":"n2","command":"echo 2"}\n')
    assert ok("enqueue", "jobs.ndjson").out.splitlines() == ["n1", "n2"]
    assert show(ok, "n2")["command"] == "echo 2"


def test_enqueue_json_file_with_one_object(ok, workdir):
    (workdir / "job.json").write_text('{"id":"j1","command":"echo one"}')
    assert ok("enqueue", "job.json").out == "j1\n"


def test_enqueue_at_file_of_any_name(ok, workdir):
    (workdir / "batch.txt").write_text('[{"id":"f1","command":"echo 1"},{"id":"f2","command":"echo 2"}]')
    assert ok("enqueue", "@batch.txt").out.splitlines() == ["f1", "f2"]


def test_enqueue_existing_file_without_json_extension_is_a_command(ok, workdir):
    """Only @FILE or a .json/.jsonl/.ndjson name is a job file; any other path is a command to run."""
    (workdir / "batch").write_text('{"id":"g1","command":"echo 1"}\n{"id":"g2","command":"echo 2"}\n')
    job_id = ok("enqueue", str(workdir / "batch")).out.strip()
    assert show(ok, job_id)["command"] == str(workdir / "batch")
    assert ok("enqueue", "@" + str(workdir / "batch")).out.splitlines() == ["g1", "g2"]


def test_enqueue_file_with_bom_and_crlf(ok, workdir):
    bom_crlf = b'\xef\xbb\xbf{"id":"w1","command":"echo 1"}\r\n{"id":"w2","command":"echo 2"}\r\n'
    (workdir / "w.ndjson").write_bytes(bom_crlf)
    assert ok("enqueue", "w.ndjson").out.splitlines() == ["w1", "w2"]


@pytest.mark.parametrize(
    "text",
    ['{"id":"s1","command":"echo 1"}\n{"id":"s2","command":"echo 2"}\n',
     '[{"id":"s1","command":"echo 1"}, {"id":"s2","command":"echo 2"}]'],
    ids=["ndjson", "array"],
)
def test_enqueue_from_stdin(ok, text):
    assert ok("enqueue", "-", input=text).out.splitlines() == ["s1", "s2"]
    assert list_ids(ok) == ["s2", "s1"]


def test_enqueue_with_flags(ok, workdir):
    (workdir / "sub").mkdir()
    out = ok("enqueue", "--command", "backup.sh --full", "--id", "bk-1", "--max-retries", "0", "--priority", "9",
             "--run-at", "2031-05-06T07:08:09Z", "--timeout", "5m", "--queue", "nightly", "--cwd", "sub",
             "-e", "TOKEN=s3cret", "--env", "MODE=a=b").out
    assert out == "bk-1\n"
    job = show(ok, "bk-1")
    assert job["command"] == "backup.sh --full"
    assert job["max_retries"] == 0 and job["priority"] == 9 and job["timeout"] == 300
    assert job["run_at"] == "2031-05-06T07:08:09.000Z"
    assert job["queue"] == "nightly" and job["cwd"] == str(workdir / "sub")
    assert job["env"] == ["MODE", "TOKEN"]


def test_enqueue_short_flags_with_raw_command(ok):
    job_id = ok("enqueue", "-p", "3", "-q", "fast", "echo hi").out.strip()
    job = show(ok, job_id)
    assert (job["priority"], job["queue"], job["command"]) == (3, "fast", "echo hi")


def test_enqueue_command_flag_short_form(ok):
    job_id = ok("enqueue", "-C", "echo short").out.strip()
    assert show(ok, job_id)["command"] == "echo short"


def test_flags_fill_the_fields_json_jobs_leave_unset(ok, workdir):
    jobs = [{"id": "u1", "command": "a"},
            {"id": "u2", "command": "b", "priority": 2, "queue": "own", "max_retries": 5, "timeout": 7,
             "env": {"X": "1"}}]
    ok("enqueue", "--priority", "7", "--queue", "q2", "--max-retries", "1", "--timeout", "30", "--env", "Y=2",
       json.dumps(jobs))
    u1, u2 = show(ok, "u1"), show(ok, "u2")
    assert (u1["priority"], u1["queue"], u1["max_retries"], u1["timeout"], u1["env"]) == (7, "q2", 1, 30, ["Y"])
    assert (u2["priority"], u2["queue"], u2["max_retries"], u2["timeout"], u2["env"]) == (2, "own", 5, 7, ["X"])


def test_flags_do_not_override_values_a_json_job_sets_explicitly(ok):
    """A JSON job that says priority 0 / queue default has set them: the flags fill only unset fields."""
    ok("enqueue", "--priority", "7", "--queue", "q2",
       '[{"id":"e1","command":"a","priority":0,"queue":"default"},{"id":"e2","command":"b"}]')
    e1, e2 = show(ok, "e1"), show(ok, "e2")
    assert (e2["priority"], e2["queue"]) == (7, "q2")
    assert (e1["priority"], e1["queue"]) == (0, "default")


def test_id_flag_names_the_single_json_job(ok):
    assert ok("enqueue", "--id", "named", '{"command":"true"}').out == "named\n"


@pytest.mark.parametrize("delay, seconds", [("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_delay_puts_run_at_in_the_future(ok, delay, seconds):
    before = time.time()
    job_id = ok("enqueue", "--delay", delay, "true").out.strip()
    after = time.time()
    run_at = epoch(show(ok, job_id)["run_at"])
    assert before + seconds - 0.01 <= run_at <= after + seconds + 0.01


def test_delay_with_json_job(ok):
    job_id = ok("enqueue", "--delay", "10m", '{"command":"true"}').out.strip()
    assert epoch(show(ok, job_id)["run_at"]) > time.time() + 500


def test_cwd_defaults_to_the_current_directory(ok, workdir, tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    raw = ok("enqueue", "pwd").out.strip()
    from_json = ok("enqueue", '{"command":"pwd"}').out.strip()
    from_flag = ok("enqueue", "--command", "pwd").out.strip()
    for job_id in (raw, from_json, from_flag):
        assert show(ok, job_id)["cwd"] == str(other)


def test_absolute_cwd_is_kept(ok, tmp_path):
    job_id = ok("enqueue", json.dumps({"command": "pwd", "cwd": str(tmp_path)})).out.strip()
    assert show(ok, job_id)["cwd"] == str(tmp_path)


def test_config_defaults_apply_to_new_jobs_only(ok):
    old = ok("enqueue", "true").out.strip()
    ok("config", "set", "max_retries", "7")
    ok("config", "set", "job_timeout", "45")
    new = ok("enqueue", "true").out.strip()
    explicit = ok("enqueue", '{"command":"true","max_retries":0,"timeout":0}').out.strip()
    assert (show(ok, new)["max_retries"], show(ok, new)["timeout"]) == (7, 45)
    assert (show(ok, old)["max_retries"], show(ok, old)["timeout"]) == (3, 0)
    assert (show(ok, explicit)["max_retries"], show(ok, explicit)["timeout"]) == (0, 0)


def test_env_values_are_never_shown(ok, core):
    secret = "hunter2-Very-Secret"
    ok("enqueue", "--id", "sec", "--env", f"PASSWORD={secret}", "--env", "USER=me", "echo $USER")
    ok("enqueue", json.dumps({"id": "sec2", "command": "true", "env": {"API_KEY": secret}}))
    job = show(ok, "sec")
    assert job["env"] == ["PASSWORD", "USER"]
    outputs = [ok("show", "sec", "--json").out, ok("show", "sec").out, ok("show", "sec2", "--json").out,
               ok("list", "--json").out, ok("list").out, ok("inspect", "sec2").out]
    for text in outputs:
        assert secret not in text
    assert "PASSWORD" in ok("show", "sec").out
    # ...but the worker gets them
    claimed, _ = core.claim("sec")
    assert claimed.env == {"PASSWORD": secret, "USER": "me"}


# ── list, status, stats, show, logs ─────────────────────────────────────────────────────────


def test_list_newest_first_with_filters(ok):
    for n in range(5):
        ok("enqueue", "--id", f"j{n}", "--queue", "even" if n % 2 == 0 else "odd", f"echo {n}")
    assert list_ids(ok) == ["j4", "j3", "j2", "j1", "j0"]
    assert list_ids(ok, "--queue", "even") == ["j4", "j2", "j0"]
    assert list_ids(ok, "-q", "odd") == ["j3", "j1"]
    assert [j["id"] for j in ok("list", "--json", "--limit", "2").json()] == ["j4", "j3"]
    assert [j["id"] for j in ok("list", "--json", "-n", "1").json()] == ["j4"]
    assert list_ids(ok, "--queue", "none") == []


def test_list_json_keys_and_default_limit(ok):
    ok("enqueue", "-", input="\n".join('{"command":"true"}' for _ in range(60)))
    jobs = ok("list", "--json").json()
    assert len(jobs) == 50
    expected = {"id", "command", "state", "attempts", "max_retries", "priority", "queue", "timeout", "cwd", "env",
                "run_at", "created_at", "updated_at", "started_at", "finished_at", "worker_id", "exit_code",
                "last_error"}
    assert expected <= set(jobs[0])


def test_list_by_state(ok, core):
    core.dead("d1")
    core.completed("c1")
    core.failed("f1")
    core.cancelled("x1")
    core.processing("r1")
    core.pending("p1")
    core.dead("d2", queue="other")
    for state, ids in [("pending", ["p1"]), ("processing", ["r1"]), ("completed", ["c1"]), ("failed", ["f1"]),
                       ("dead", ["d2", "d1"]), ("cancelled", ["x1"])]:
        assert list_ids(ok, "--state", state) == ids, state
        assert list_ids(ok, "-s", state.upper()) == ids, state
    assert list_ids(ok, "--state", "dead", "--queue", "other") == ["d2"]
    assert {j["state"] for j in ok("list", "--json").json()} == {
        "pending", "processing", "completed", "failed", "dead", "cancelled"}


def test_list_state_dead_is_the_dlq(ok, core):
    core.dead("d1")
    core.completed("c1")
    core.dead("d2")
    dlq = ok("dlq", "list", "--json").json()
    assert [j["id"] for j in dlq] == ["d2", "d1"]
    assert ok("list", "--state", "dead", "--json").json() == dlq
    assert ok("dlq-list", "--json").json() == dlq


def test_list_table(ok, core):
    assert "no jobs" in ok("list").out
    core.completed("c1", command="echo table-test")
    out = ok("list").out
    header, row = out.splitlines()[:2]
    for column in ("ID", "STATE", "COMMAND"):
        assert column in header
    assert "c1" in row and "completed" in row and "echo table-test" in row
    assert "\x1b[" not in out  # no colour when stdout is not a terminal
    assert "no jobs in state dead" in ok("list", "--state", "dead").out


def test_status_counts(ok, core):
    empty = ok("status", "--json").json()
    assert set(empty) == {"jobs", "total", "workers", "paused"}
    assert empty["jobs"] == {s: 0 for s in ("pending", "processing", "completed", "failed", "dead", "cancelled")}
    assert empty["total"] == 0 and empty["paused"] is False
    assert empty["workers"] == {"running": 0, "busy": 0, "lost": 0, "slots": 0, "slots_busy": 0}
    core.dead("d1")
    core.completed("c1")
    core.completed("c2")
    core.failed("f1")
    core.cancelled("x1")
    core.processing("r1")
    core.pending("p1")
    core.pending("p2")
    core.pending("p3")
    status = ok("status", "--json").json()
    assert status["jobs"] == {"pending": 3, "processing": 1, "completed": 2, "failed": 1, "dead": 1, "cancelled": 1}
    assert status["total"] == 9
    text = ok("status").out
    assert "pending 3" in text and "total 9" in text and "active" in text


def test_pause_and_resume_show_in_status(ok):
    assert ok("pause", "--json").json() == {"paused": True}
    assert ok("status", "--json").json()["paused"] is True
    assert "paused" in ok("status").out
    ok("pause")  # idempotent
    assert ok("resume", "--json").json() == {"paused": False}
    assert ok("status", "--json").json()["paused"] is False
    assert "active" in ok("status").out
    assert "paused" in ok("pause").out
    assert "resumed" in ok("resume").out


def test_pause_stops_claims(ok, core):
    core.pending("p1")
    ok("pause")
    assert core.queue.claim("w-x") is None
    ok("resume")
    assert core.queue.claim("w-x").id == "p1"


def test_stats(ok, core):
    empty = ok("stats", "--json").json()
    assert empty["runs"] == 0 and empty["success_rate"] is None and empty["window"] == 3600
    core.completed("c1")
    core.completed("c2")
    core.dead("d1")
    stats = ok("stats", "--since", "15m", "--json").json()
    assert stats["window"] == 900
    assert (stats["runs"], stats["succeeded"], stats["failed"]) == (3, 2, 1)
    assert stats["success_rate"] == pytest.approx(2 / 3)
    for key in ("finished_per_minute", "failed_per_minute", "run_p50", "run_p95", "run_max",
                "wait_p50", "wait_p95", "wait_max"):
        assert key in stats
    assert "runs" in ok("stats").out


def test_show_and_inspect(ok, core):
    core.completed("c1", output=b"hello\n", command="echo hello")
    job = show(ok, "c1")
    assert job["state"] == "completed" and job["attempts"] == 1 and job["exit_code"] == 0
    assert ISO_Z.fullmatch(job["started_at"]) and ISO_Z.fullmatch(job["finished_at"])
    (run1,) = job["runs"]
    assert run1["number"] == 1 and run1["attempt"] == 1 and run1["exit_code"] == 0
    assert run1["worker_id"] == "w-test" and run1["output_bytes"] == 6 and run1["error"] is None
    assert ISO_Z.fullmatch(run1["started_at"]) and ISO_Z.fullmatch(run1["finished_at"])
    assert isinstance(run1["duration"], float)
    assert ok("inspect", "c1", "--json").json() == job
    text = ok("show", "c1").out
    assert "c1" in text and "completed" in text and "echo hello" in text
    assert ok("inspect", "c1").out.splitlines()[:3] == text.splitlines()[:3]


def test_show_dead_job_has_its_error(ok, core):
    core.dead("d1")
    job = show(ok, "d1")
    assert job["state"] == "dead" and job["exit_code"] == 3 and job["attempts"] == 1


def test_logs_of_a_finished_run(ok, run, core):
    output = b"line one\nline two \xe2\x9c\x93\nno newline at end"
    core.completed("c1", output=output)
    result = run("logs", "c1")
    assert result.code == 0 and result.out.encode() == output
    data = ok("logs", "c1", "--json").json()
    assert data == {"job_id": "c1", "run": 1, "finished": True, "output_bytes": len(output), "truncated": False,
                    "output": output.decode()}


def test_logs_of_each_attempt(ok, core):
    core.settings = Settings(backoff_max=0)  # the retry is due at once
    core.add("flaky", id="fl")
    assert core.finish("fl", 1, b"first try failed\n") == "failed"
    assert core.finish("fl", 0, b"second try ok\n") == "completed"
    assert ok("logs", "fl").out == "second try ok\n"
    assert ok("logs", "fl", "--attempt", "1").out == "first try failed\n"
    assert ok("logs", "fl", "-a", "2").out == "second try ok\n"
    runs = show(ok, "fl")["runs"]
    assert [(r["number"], r["exit_code"]) for r in runs] == [(1, 1), (2, 0)]


def test_logs_of_a_job_that_never_ran(run, core):
    core.pending("p1")
    result = run("logs", "p1")
    assert result.code == 0 and result.out == ""
    assert "not run yet" in result.err


def test_logs_follow_of_a_finished_run_returns(ok, core):
    core.completed("c1", output=b"all done\n")
    assert ok("logs", "c1", "-f").out == "all done\n"


def test_wait(run, core):
    core.completed("c1")
    core.dead("d1")
    core.pending("p1")
    assert run("wait", "c1").code == 0
    result = run("wait", "c1", "--json")
    assert result.code == 0 and result.json() == {"c1": "completed"}
    assert run("wait", "c1", "d1").code == 1
    started = time.monotonic()
    assert run("wait", "d1").code == 3  # one job: its last exit code
    timed_out = run("wait", "p1", "--timeout", "0.3")
    assert timed_out.code == 124 and "p1" in timed_out.err
    assert time.monotonic() - started < 5


# ── changing jobs ───────────────────────────────────────────────────────────────────────────


def test_retry(ok, core):
    core.dead("d1")
    core.failed("f1")
    core.cancelled("x1")
    assert ok("retry", "d1", "f1", "x1", "--json").json() == {"retried": ["d1", "f1", "x1"]}
    for job_id in ("d1", "f1", "x1"):
        job = show(ok, job_id)
        assert job["state"] == "pending" and job["attempts"] == 0, job_id
        assert abs(epoch(job["run_at"]) - time.time()) < 30


def test_retry_text_output(ok, core):
    core.dead("d1")
    assert ok("retry", "d1").out == "retried d1\n"


def test_retry_force_reruns_a_completed_job(ok, core):
    core.completed("c1")
    core.dead("d1")
    assert ok("retry", "--force", "c1", "d1", "--json").json() == {"retried": ["c1", "d1"]}
    c1 = show(ok, "c1")
    assert c1["state"] == "pending" and c1["attempts"] == 0
    assert len(c1["runs"]) == 1  # the history is kept


def test_cancel_a_pending_job(ok, core):
    core.failed("f1")
    core.pending("p1")
    assert ok("cancel", "p1", "--json").json() == {"p1": "cancelled"}
    assert show(ok, "p1")["state"] == "cancelled"
    assert ok("kill", "f1").out == "cancelled f1\n"
    assert show(ok, "f1")["state"] == "cancelled"
    assert core.queue.claim("w-x") is None


def test_cancel_a_running_job_asks_its_worker(ok, core):
    core.processing("r1")
    result = ok("cancel", "r1", "--no-wait", "--json").json()
    assert result == {"r1": "processing"}
    assert show(ok, "r1")["cancel_requested_at"] is not None


def test_delete(ok, core, store_snapshot):
    core.completed("c1")
    core.dead("d1")
    core.pending("p1")
    assert ok("delete", "c1", "p1", "--json").json() == {"deleted": ["c1", "p1"]}
    assert list_ids(ok) == ["d1"]
    assert [r[1] for r in store_snapshot()["run"]] == ["d1"]  # run.job_id: c1's runs went with it
    assert ok("delete", "d1").out == "deleted d1\n"
    assert list_ids(ok) == []
    assert store_snapshot()["run"] == []


def test_purge(ok, core):
    core.completed("c1")
    core.dead("d1")
    core.cancelled("x1")
    core.failed("f1")
    core.pending("p1")
    assert ok("purge", "--state", "completed", "--json").json() == {"purged": 1}
    assert sorted(list_ids(ok)) == ["d1", "f1", "p1", "x1"]
    core.completed("c2", queue="other")
    # issue 12: without --state, completed and cancelled only; the DLQ stays to be looked at
    assert ok("purge", "--json").json() == {"purged": 2}
    assert sorted(list_ids(ok)) == ["d1", "f1", "p1"]
    assert "purged 0" in ok("purge").out
    assert ok("purge", "--state", "dead", "--json").json() == {"purged": 1}
    assert sorted(list_ids(ok)) == ["f1", "p1"]


def test_purge_several_states(ok, core):
    core.completed("c1")
    core.dead("d1")
    core.cancelled("x1")
    assert ok("purge", "-s", "dead", "-s", "cancelled", "--json").json() == {"purged": 2}
    assert list_ids(ok) == ["c1"]


def test_purge_older_than(ok, core):
    core.clock = FrozenClock(time.time() - 3 * 86400)
    core.completed("old-c")
    core.dead("old-d")
    core.clock = SYSTEM_CLOCK
    core.completed("new-c")
    assert ok("purge", "--older-than", "2d", "--json").json() == {"purged": 1}  # not the dead one
    assert sorted(list_ids(ok)) == ["new-c", "old-d"]
    assert ok("purge", "--state", "completed", "--older-than", "1h", "--json").json() == {"purged": 0}


def test_dlq(ok, core):
    assert "empty" in ok("dlq", "list").out
    assert ok("dlq", "list", "--json").json() == []
    core.dead("d1", command="exit 3")
    core.dead("d2")
    core.dead("d3")
    core.dead("d4")
    core.completed("c1")
    text = ok("dlq", "list").out
    assert "d1" in text and "exit 3" in text and "c1" not in text
    assert [j["id"] for j in ok("dlq", "list", "--json", "-n", "2").json()] == ["d4", "d3"]

    assert ok("dlq", "retry", "d1", "--json").json() == {"retried": ["d1"]}
    assert show(ok, "d1")["state"] == "pending"
    assert ok("dlq-retry", "d2").out == "retried d2\n"
    assert show(ok, "d2")["attempts"] == 0

    assert ok("dlq", "delete", "d3", "--json").json() == {"deleted": ["d3"]}
    assert [j["id"] for j in ok("dlq", "list", "--json").json()] == ["d4"]

    assert ok("dlq", "purge", "--json").json() == {"purged": 1}
    assert ok("dlq", "list", "--json").json() == []
    assert sorted(list_ids(ok)) == ["c1", "d1", "d2"]


def test_dlq_retry_all(ok, core):
    core.dead("d1")
    core.dead("d2")
    core.failed("f1")
    assert ok("dlq", "retry", "--all", "--json").json() == {"retried": 2}
    assert {show(ok, i)["state"] for i in ("d1", "d2")} == {"pending"}
    assert show(ok, "f1")["state"] == "failed"
    assert "retried 0" in ok("dlq", "retry", "--all").out


# ── config ──────────────────────────────────────────────────────────────────────────────────

DEFAULTS = {"max_retries": 3, "backoff_base": 2.0, "backoff_max": 3600.0, "job_timeout": 0.0, "poll_interval": 1.0,
            "worker_timeout": 30.0, "kill_grace": 5.0, "log_max_bytes": 1048576, "keep_completed": 0.0,
            "keep_dead": 0.0, "keep_cancelled": 0.0, "keep_runs": 0}


def test_config_list(ok):
    assert ok("config", "list", "--json").json() == DEFAULTS
    assert list(ok("config", "list", "--json").json()) == list(SETTINGS)
    assert ok("config", "show", "--json").json() == DEFAULTS
    assert ok("config", "get-all", "--json").json() == DEFAULTS
    text = ok("config", "list").out
    for key in DEFAULTS:
        assert key in text
    assert ok("config", "show").out == text


@pytest.mark.parametrize("key", ["max_retries", "max-retries", "MAX-RETRIES", " max_retries "])
def test_config_keys_with_dash_or_underscore(ok, key):
    assert ok("config", "set", key, "5", "--json").json() == {"max_retries": 5}
    assert ok("config", "get", key, "--json").json() == {"max_retries": 5}
    assert ok("config", "get", key).out == "5\n"


def test_config_set_get_reset(ok):
    assert ok("config", "get", "max_retries").out == "3\n"
    assert ok("config", "set", "max-retries", "5").out == "max_retries = 5\n"
    assert ok("config", "set", "backoff-base", "2.5", "--json").json() == {"backoff_base": 2.5}
    assert ok("config", "set", "poll_interval", "0.25", "--json").json() == {"poll_interval": 0.25}
    assert ok("config", "set", "job_timeout", "0", "--json").json() == {"job_timeout": 0.0}
    assert ok("config", "set", "log_max_bytes", "2048", "--json").json() == {"log_max_bytes": 2048}
    listed = ok("config", "list", "--json").json()
    assert listed == {**DEFAULTS, "max_retries": 5, "backoff_base": 2.5, "poll_interval": 0.25,
                      "log_max_bytes": 2048}
    assert ok("config", "get", "backoff_base").out == "2.5\n"
    assert ok("config", "reset", "max-retries", "--json").json() == {"max_retries": 3}
    assert "(default)" in ok("config", "reset", "backoff_base").out
    assert ok("config", "reset", "kill_grace", "--json").json() == {"kill_grace": 5.0}  # never set: fine
    assert ok("config", "list", "--json").json() == {**DEFAULTS, "poll_interval": 0.25, "log_max_bytes": 2048}


def test_config_aliases(ok):
    assert ok("config-set", "max-retries", "9", "--json").json() == {"max_retries": 9}
    assert ok("config-get", "max_retries").out == "9\n"
    assert ok("config-get", "max-retries", "--json").json() == {"max_retries": 9}


def test_config_is_stored_not_per_process(ok, core):
    ok("config", "set", "max_retries", "4")
    assert core.config.settings().max_retries == 4


# ── global behaviour ────────────────────────────────────────────────────────────────────────


@pytest.mark.no_store
def test_bare_queuectl_prints_help(run):
    result = run()
    assert result.code == 0 and result.err == ""
    assert "Usage:" in result.out and "Commands:" in result.out and "enqueue" in result.out
    assert "Also accepted:" in result.out and "dlq-retry" in " ".join(result.out.split())


@pytest.mark.no_store
def test_help_hides_the_aliases(run):
    out = run("--help").out
    commands = out.split("Commands:")[1].split("Also accepted:")[0]
    listed = {line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line.strip()}
    assert {"enqueue", "list", "status", "dlq", "worker", "config"} <= listed
    assert not listed & {"inspect", "kill", "worker-start", "worker-stop", "dlq-list", "dlq-retry", "config-get",
                         "config-set"}


@pytest.mark.no_store
@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(run, flag):
    result = run(flag)
    assert result.code == 0 and __version__ in result.out and "queuectl" in result.out


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # through list_commands/get_command: the root group loads its commands lazily (`group.commands` is partial)
    ctx = click.Context(group)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        paths.append(prefix + (name,))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, prefix + (name,)))
    return paths


COMMAND_PATHS = _command_paths(cli)


@pytest.mark.no_store
def test_every_documented_command_exists():
    names = {" ".join(p) for p in COMMAND_PATHS}
    for expected in ("enqueue", "list", "status", "stats", "show", "logs", "wait", "retry", "cancel", "delete",
                     "purge", "dlq list", "dlq retry", "dlq delete", "dlq purge", "pause", "resume", "worker start",
                     "worker run", "worker stop", "worker list", "config list", "config get", "config set",
                     "config reset", "tui", "worker-start", "worker-stop", "dlq-list", "dlq-retry", "config-get",
                     "config-set", "config get-all", "inspect", "config show", "kill"):
        assert expected in names, expected


@pytest.mark.no_store
def test_top_level_help_has_examples(run):
    out = run("--help").out
    assert "queuectl enqueue '" in out and "queuectl worker start" in out


@pytest.mark.no_store
@pytest.mark.parametrize("path", COMMAND_PATHS, ids=[" ".join(p) for p in COMMAND_PATHS])
def test_every_command_help_has_an_example(run, path):
    result = run(*path, "--help")
    assert result.code == 0 and result.err == ""
    assert "Usage: queuectl" in result.out
    assert "Example" in result.out, f"`queuectl {' '.join(path)} --help` shows no example"


@pytest.mark.no_store
@pytest.mark.parametrize("group", ["dlq", "worker", "config"])
def test_bare_group_prints_its_help(run, group):
    """Like bare `queuectl`: the group's help, readable, on stdout, exit 0 (not crushed into one error line)."""
    result = run(group)
    assert result.code == 0, f"exit {result.code}: {result.err!r}"
    assert "Usage: queuectl " + group in result.out and "Commands:" in result.out
    assert "list" in result.out.split("Commands:")[1]


def test_db_option_and_env_select_the_store(ok, tmp_path, monkeypatch, store_under_test):
    """--db, then QUEUECTL_DB, select a store other than the home's queue.db: another SQLite file, or
    the test's PostgreSQL database."""
    other = tmp_path / "other" / "q.db"
    other.parent.mkdir()  # an explicit store's folder must exist
    url = store_under_test or f"sqlite:///{other}"
    monkeypatch.delenv("QUEUECTL_DB", raising=False)  # the default store is the home's queue.db again
    ok("--db", url, "enqueue", "--id", "elsewhere", "true")
    assert other.exists() == (store_under_test is None)
    assert list_ids(ok) == []
    assert [j["id"] for j in ok("--db", url, "list", "--json").json()] == ["elsewhere"]
    monkeypatch.setenv("QUEUECTL_DB", url)
    assert list_ids(ok) == ["elsewhere"]


def test_fresh_home_is_private(ok, home, store_under_test):
    assert not home.exists()
    ok("status")
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700  # worker logs live here whatever the store
    if store_under_test is None:
        assert stat.S_IMODE(os.stat(home / "queue.db").st_mode) == 0o600
    else:  # the store is the PostgreSQL database: no SQLite file appears beside it
        assert not (home / "queue.db").exists()


def test_worker_list_with_no_workers(ok):
    assert ok("worker", "list", "--json").json() == []
    assert "no workers" in ok("worker", "list").out


def test_worker_stop_with_no_workers(ok):
    assert ok("worker", "stop", "--json").json() == {"stopping": [], "still_running": []}
    assert "no running workers" in ok("worker-stop").out


def test_status_and_worker_list_show_registered_workers(ok, core):
    """Worker rows written through the registry (no processes): one live and busy, one silent (lost)."""
    from queuectl.core.registry import WorkerRegistry

    core.processing("r1")  # held by w-test
    WorkerRegistry(core.store).register("w-test", "test-host", os.getpid(), 0.0, None, None)
    WorkerRegistry(core.store, FrozenClock(time.time() - 600)).register("w-gone", "test-host", 1, 0.0, ["q1"], None)
    status = ok("status", "--json").json()
    assert status["workers"] == {"running": 1, "busy": 1, "lost": 1, "slots": 1, "slots_busy": 1}
    assert "1 running, 1 busy, 1 lost" in ok("status").out
    workers = {w["id"]: w for w in ok("worker", "list", "--json").json()}
    assert set(workers) == {"w-test", "w-gone"}
    assert workers["w-test"]["state"] == "running" and workers["w-test"]["current_job_id"] == "r1"
    assert workers["w-test"]["pid"] == os.getpid() and workers["w-test"]["heartbeat_age"] < 60
    assert workers["w-gone"]["state"] == "lost" and workers["w-gone"]["queues"] == ["q1"]
    assert ISO_Z.fullmatch(workers["w-test"]["started_at"])
    text = ok("worker", "list").out
    assert "w-test" in text and "r1" in text and "w-gone" in text


def test_worker_list_all_stops_a_stopped_workers_uptime(ok, core):
    """Issue 14: a stopped worker's uptime ends when it stopped (as in the TUI), it does not keep growing."""
    from queuectl.core.registry import WorkerRegistry

    clock = FrozenClock(time.time() - 3 * 3600)
    registry = WorkerRegistry(core.store, clock)
    registry.register("w-old", "test-host", 1, 0.0, None, None)
    clock.advance(3600)  # up one hour, stopped two hours ago
    registry.mark_stopped("w-old")
    row = next(line for line in ok("worker", "list", "--all").out.splitlines() if line.startswith("w-old"))
    assert " 1h00m " in row and "3h00m" not in row


def test_list_shows_how_long_an_interrupted_run_took(ok, core):
    """Issue 14: a job whose run was interrupted (pending again) shows that run's length, as the TUI does."""
    from queuectl.core.results import Interrupted

    core.clock = FrozenClock(time.time() - 600)
    core.add("sleep 100", id="cut")
    claimed, number = core.claim("cut")
    core.clock.advance(42)
    core.queue = core.queue.__class__(core.store, core.clock)
    core.queue.finish(claimed, "w-test", number, Interrupted(), core.settings)
    assert core.state("cut") == "pending"
    row = next(line for line in ok("list").out.splitlines() if line.startswith("cut"))
    assert " 42s " in row


@pytest.mark.no_store
def test_every_command_a_module_defines_is_named_in_the_lazy_root():
    from queuectl.cli import COMMANDS, enqueue, jobs, status, waiting

    for command in [enqueue.enqueue, status.status, *jobs.COMMANDS, *waiting.COMMANDS]:
        module, _, attr = COMMANDS[command.name].partition(":")
        assert getattr(sys.modules[module], attr) is command, command.name
