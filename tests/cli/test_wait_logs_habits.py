"""Habits of pueue users: `wait` with no ids and its exit statuses, `logs --tail`, `logs -f --json`,
`list`'s footer, `--db` after the subcommand."""

from __future__ import annotations

import json


def test_wait_without_ids_waits_for_everything_waiting_or_running(run, core):
    core.completed("c1")
    core.dead("d1")
    core.pending("p1", queue="io")
    core.pending("p2")
    timed_out = run("wait", "--timeout", "0.2", "--json")
    assert timed_out.code == 124 and timed_out.json() == {"p1": "pending", "p2": "pending"}
    assert run("wait", "--queue", "io", "--timeout", "0.2", "--json").json() == {"p1": "pending"}
    core.finish("p1", 0)
    core.finish("p2", 0)
    nothing = run("wait")
    assert nothing.code == 0 and nothing.err_lines == ["nothing to wait for"]
    assert run("wait", "p1", "--queue", "io").code == 2


def test_wait_for_one_job_exits_with_its_last_exit_code(run, core):
    core.dead("d1")  # exit 3
    core.cancelled("x1")
    assert run("wait", "d1").code == 3
    assert run("wait", "x1").code == 1  # no exit code of its own
    assert run("wait", "d1", "x1").code == 1
    unknown = run("wait", "d1", "nope")
    assert unknown.code == 2 and unknown.err_lines == ["queuectl: error: no such job: nope"]


def test_logs_tail_and_follow_as_ndjson(run, core):
    core.dead("d1", output=b"a\nb\nc\n")
    assert run("logs", "d1", "--tail", "2").out == "b\nc\n"
    assert run("logs", "d1", "--tail", "2", "--json").json()["output"] == "b\nc\n"
    followed = run("logs", "d1", "-f", "--json")
    assert followed.code == 3
    lines = [json.loads(line) for line in followed.out.splitlines()]
    assert lines == [
        {"job_id": "d1", "run": 1, "output": "a\nb\nc\n"},
        {"job_id": "d1", "run": 1, "end": "run 1: exit 3; dead", "exit_code": 3, "error": lines[1]["error"],
         "state": "dead", "status": 3},
    ]
    plain = run("logs", "d1", "-f")
    assert plain.out == "a\nb\nc\n" and plain.err_lines == ["run 1: exit 3; dead"] and plain.code == 3
    assert run("logs", "d1", "--no-retries").code == 2  # only with -f


def test_db_works_after_the_subcommand_too(run, tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    url = f"sqlite:///{other / 'q.db'}"
    job = run("enqueue", "--db", url, "true").out.strip()
    assert [j["id"] for j in run("list", "--db", url, "--json").json()] == [job]
    assert run("schedule", "list", "--json", "--db", url).json() == []
    assert run("list", "--json").json() == []  # the default store is untouched
    argv_job = run("enqueue", "--db", url, "--", "echo", "--db", "x").out.strip()
    assert run("show", argv_job, "--db", url, "--json").json()["command"] == "echo --db x"  # the command's own
