"""queue list/set/pause/resume, enqueue --after/--unique/--label/--hold, hold, release, start, edit,
list --label and show's waiting line, read back through --json on both stores (no workers)."""

from __future__ import annotations

import pytest


@pytest.fixture
def ok(run):
    def _ok(*args: str, input: str | None = None):
        result = run(*args, input=input)
        assert result.code == 0, f"queuectl {' '.join(args)} -> {result.code}: {result.err}"
        return result

    return _ok


def test_queue_set_pause_resume_and_list(ok, core):
    assert ok("queue", "set", "gpu", "--limit", "2", "--json").json() == {
        "name": "gpu", "limit": 2, "paused": False, "running": 0, "on_success": None, "on_failure": None,
        "on_dead": None}
    assert ok("queue", "pause", "media", "--json").json()["paused"] is True
    core.processing("g2", queue="gpu")  # (claims the next due job: the first one added)
    core.pending("p1")
    core.pending("g1", queue="gpu")
    listed = {q["name"]: q for q in ok("queue", "list", "--json").json()}
    assert set(listed) == {"default", "gpu", "media"}
    assert (listed["gpu"]["limit"], listed["gpu"]["running"], listed["gpu"]["counts"]["pending"]) == (2, 1, 1)
    assert listed["media"]["paused"] is True and listed["default"]["limit"] is None
    table = ok("queue", "list").out.splitlines()
    assert table[0].split()[:3] == ["QUEUE", "RUNNING", "PAUSED"]
    assert [line.split()[:3] for line in table[1:]] == [["default", "0", "-"], ["gpu", "1/2", "-"],
                                                        ["media", "0", "paused"]]
    assert ok("queue", "resume", "media", "--json").json()["paused"] is False
    assert ok("queue", "set", "gpu", "--limit", "none", "--json").json()["limit"] is None


def test_enqueue_after_and_show_say_what_it_waits_for(ok, core):
    core.pending("a")
    ok("enqueue", "--id", "b", "--after", "a", "--label", "step two", "--", "echo", "b")
    shown = ok("show", "b", "--json").json()
    assert shown["after"] == [{"id": "a", "state": "pending"}]
    assert (shown["waiting_code"], shown["waiting_reason"]) == ("dependencies", "waiting for a (pending)")
    assert shown["label"] == "step two"
    text = ok("show", "b").out
    assert "waiting     waiting for a (pending)" in text and "after       a (pending)" in text
    assert [j["id"] for j in ok("list", "--label", "step two", "--json").json()] == ["b"]
    assert "step two · echo b" in ok("list").out


def test_enqueue_unique_returns_the_existing_job(ok):
    first = ok("enqueue", "--unique", "k", "--json", "true").json()
    again = ok("enqueue", "--unique", "k", "--json", "echo other").json()
    assert (first["existing"], again["existing"], again["id"]) == (False, True, first["id"])
    assert ok("enqueue", "--unique", "k", "true").out.strip() == first["id"]


def test_hold_release_start_and_edit(ok, core):
    ok("enqueue", "--id", "h", "--hold", "true")
    assert ok("show", "h", "--json").json()["waiting_code"] == "held"
    assert ok("release", "h", "--json").json() == {"released": ["h"]}
    assert ok("hold", "h", "--json").json() == {"held": ["h"]}
    ok("enqueue", "--id", "later", "--delay", "1h", "true")
    assert ok("show", "later", "--json").json()["waiting_code"] == "due_later"
    assert ok("start", "later", "h", "--json").json() == {"started": ["later", "h"]}
    shown = ok("show", "later", "--json").json()
    assert shown["waiting_code"] == "no_worker" and ok("show", "h", "--json").json()["held"] is False
    edited = ok("edit", "later", "--command", "echo new", "--priority", "4", "--queue", "gpu", "--timeout", "5m",
                "--max-retries", "1", "--env", "A=1", "--label", "moved", "--json").json()
    assert (edited["command"], edited["priority"], edited["queue"], edited["timeout"], edited["max_retries"],
            edited["env"], edited["label"]) == ("echo new", 4, "gpu", 300.0, 1, ["A"], "moved")
    assert core.queue.get("later").env == {"A": "1"}
    ok("edit", "later", "--env", "A=")
    assert core.queue.get("later").env is None
