"""`schedule …` and the hook options of `enqueue`, through the CLI, read back with --json."""

from __future__ import annotations

import os


def test_schedule_add_list_show_pause_resume_remove(run):
    added = run("schedule", "add", "nightly", "--cron", "0 2 * * *", "--tz", "Europe/Berlin", "-q", "io",
                "--priority", "3", "--timeout", "1h", "--on-failure", "notify", "--json", "--", "./backup.sh", "--full")
    assert added.code == 0, added.err
    data = added.json()
    assert (data["name"], data["cron"], data["tz"], data["command"], data["queue"], data["priority"],
            data["timeout"], data["on_failure"], data["cwd"]) == (
        "nightly", "0 2 * * *", "Europe/Berlin", "./backup.sh --full", "io", 3, 3600.0, "notify", os.getcwd())
    assert data["next_run_at"].endswith(("01:00:00.000Z", "00:00:00.000Z"))  # 02:00 in Berlin, CET or CEST
    assert run("schedule", "add", "tick", "--every", "30s", "true").code == 0
    listed = run("schedule", "list")
    assert listed.out.splitlines()[0].split() == ["NAME", "WHEN", "NEXT", "LAST", "QUEUE", "COMMAND"]
    assert "every 30s" in listed.out and "0 2 * * * (Europe/Berlin)" in listed.out
    assert [s["name"] for s in run("schedule", "list", "--json").json()] == ["nightly", "tick"]
    assert run("schedule", "pause", "tick", "--json").json()["paused"] is True
    assert "paused" in run("schedule", "list").out
    assert run("schedule", "resume", "tick", "--json").json()["paused"] is False
    assert "on failure   notify" in run("schedule", "show", "nightly").out
    now = run("schedule", "run", "tick", "--json").json()  # paused or not, one job now
    assert run("show", now["job_id"], "--json").json()["state"] == "pending"
    assert run("schedule", "run", "tick").out.strip() != now["job_id"]
    assert run("schedule", "remove", "nightly", "tick").code == 0
    assert run("schedule", "list", "--json").json() == []


def test_bad_schedules_are_refused_with_one_line_and_change_nothing(run):
    assert run("schedule", "add", "tick", "--every", "30s", "true").code == 0
    for args, message in [
        (("tick", "--every", "1m", "true"), "already exists"),
        (("x", "--cron", "61 * * * *", "true"), "--cron: invalid expression"),
        (("x", "--cron", "* * * * *", "--tz", "Nowhere/Land", "true"), "unknown time zone"),
        (("x", "true"), "exactly one of --cron EXPR and --every DURATION"),
        (("x", "--every", "0s", "true"), "--every: must be between"),
        (("bad name", "--every", "1m", "true"), "schedule name"),
        (("x", "--every", "1m", "--on-success", "", "true"), "on_success: must not be empty"),
    ]:
        result = run("schedule", "add", *args)
        assert result.code == 2, (args, result)
        assert len(result.err_lines) == 1 and message in result.err, (args, result.err)
    assert [s["name"] for s in run("schedule", "list", "--json").json()] == ["tick"]
    for command in (("show", "nope"), ("pause", "nope"), ("resume", "nope"), ("run", "nope"),
                    ("remove", "tick", "nope")):
        result = run("schedule", *command)
        assert result.code == 1 and result.err_lines == ["queuectl: error: no such schedule: nope"], result
    assert [s["name"] for s in run("schedule", "list", "--json").json()] == ["tick"]


def test_enqueue_takes_hooks_and_show_names_them(run):
    job = run("enqueue", "--on-success", "echo ok", "--on-failure", "echo failed", "--on-dead", "page-me",
              "--json", "false").json()
    assert (job["on_success"], job["on_failure"], job["on_dead"], job["parent_id"]) == (
        "echo ok", "echo failed", "page-me", None)
    out = run("show", job["id"]).out
    assert "on success  echo ok" in out and "on dead     page-me" in out
    from_json = run("enqueue", "--json", '{"command": "x", "on_dead": "page-me"}').json()
    assert from_json["on_dead"] == "page-me"


def test_queue_set_takes_hooks_and_clears_them(run):
    result = run("queue", "set", "nightly", "--on-dead", "page-me", "--json")
    assert result.code == 0, result.err
    assert (result.json()["on_dead"], result.json()["limit"]) == ("page-me", None)
    both = run("queue", "set", "nightly", "--limit", "2", "--on-failure", "log-it", "--json").json()
    assert (both["limit"], both["on_failure"], both["on_dead"]) == (2, "log-it", "page-me")
    assert "on dead: page-me" in run("queue", "set", "nightly", "--on-failure", "none").out
    cleared = run("queue", "set", "nightly", "--on-dead", "", "--json").json()
    assert (cleared["on_failure"], cleared["on_dead"], cleared["limit"]) == (None, None, 2)
    nothing = run("queue", "set", "nightly")
    assert nothing.code == 2 and "nothing to set" in nothing.err
    assert run("queue", "set", "bad name", "--on-dead", "x").code == 2
