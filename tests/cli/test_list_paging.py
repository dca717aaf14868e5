"""`list` says when it shows only part of the jobs, `--all` streams them all, and the jobs that wait
to run are listed in the order they will run (issue 12, bug 3)."""

from __future__ import annotations

import json

from queuectl.core.specs import JobSpec


def _bulk(core, n: int, **fields) -> list[str]:
    return core.queue.enqueue([JobSpec(command=f"echo {i}", **fields) for i in range(n)], core.config.settings())


def test_a_partial_page_says_how_many_there_are_and_how_to_see_them(run, core):
    _bulk(core, 60)
    res = run("list")
    assert res.code == 0
    assert len(res.out.strip().splitlines()) == 51  # the header and 50 rows
    assert res.err_lines == ["50 of 60 jobs shown — --limit N or --all for more"]
    assert run("list", "-n", "60").err == ""  # all shown: nothing to say
    assert run("list", "-n", "10", "--state", "pending").err_lines == [
        "10 of 60 jobs shown — --limit N or --all for more"]
    assert run("list", "--queue", "default", "-n", "5").err_lines[0].startswith("5 of 60 ")
    res = run("list", "--json")
    assert res.err == "" and len(res.json()) == 50  # scripts get a plain array, as before


def test_all_lists_every_job_in_the_same_order_as_pages_do(run, core):
    ids = _bulk(core, 2500)  # more than one streamed batch of 1000
    res = run("list", "--all", "--json")
    assert res.code == 0 and res.err == ""
    listed = [j["id"] for j in res.json()]
    assert listed == ids[::-1]  # newest first
    assert res.json()[0] == run("list", "-n", "1", "--json").json()[0]  # the same objects as a page
    table = run("list", "--all")
    lines = table.out.strip().splitlines()
    assert len(lines) == 2501 and lines[0].startswith("ID ") and table.err == ""
    widths = {len(line.split("  pending")[0]) for line in lines[1:]}
    assert widths == {len(lines[1].split("  pending")[0])}, "the streamed chunks' columns line up"
    assert run("list", "--all", "--state", "dead", "--json").json() == []
    assert run("list", "--all", "--state", "dead").out.strip() == "no jobs in state dead"


def test_all_and_a_limit_together_are_refused(run, store_snapshot):
    before = store_snapshot()
    res = run("list", "--all", "-n", "5")
    assert res.code == 2 and res.err_lines == ["queuectl: error: give --limit or --all, not both"]
    assert store_snapshot() == before or before == {}


def test_pending_and_failed_list_in_the_order_they_will_run(run, core):
    now = core.clock.now()
    core.pending("later-high", priority=5, run_at=now + 3600)
    core.pending("low-old", priority=0)
    core.pending("high", priority=5)
    core.pending("low-new", priority=0)
    core.pending("mid-due-earlier", priority=1, run_at=now - 60)
    core.pending("mid", priority=1)
    expected = ["high", "later-high", "mid-due-earlier", "mid", "low-old", "low-new"]
    assert [j["id"] for j in run("list", "--state", "pending", "--json").json()] == expected
    assert [j["id"] for j in run("list", "--state", "pending", "--all", "--json").json()] == expected
    assert [j["id"] for j in run("list", "--state", "pending", "-n", "2", "--json").json()] == expected[:2]
    # any other listing stays newest first
    assert [j["id"] for j in run("list", "--json").json()] == expected_newest_first(core)
    core.failed("f-low", priority=0, queue="f1")
    core.failed("f-high", priority=9, queue="f2")
    assert [j["id"] for j in run("list", "-s", "failed", "--json").json()] == ["f-high", "f-low"]
    core.completed("c1", queue="c")
    core.completed("c2", queue="c")
    assert [j["id"] for j in run("list", "-s", "completed", "--json").json()] == ["c2", "c1"]


def expected_newest_first(core) -> list[str]:
    return ["mid", "mid-due-earlier", "low-new", "high", "low-old", "later-high"]


def test_list_state_all_is_every_state(run, core):
    core.pending("p1")
    core.dead("d1", queue="d")
    assert {j["id"] for j in run("list", "-s", "all", "--json").json()} == {"p1", "d1"}
    assert json.loads(run("list", "--state", "ALL", "--json").out) == run("list", "--json").json()
