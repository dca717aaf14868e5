"""A first-time user is never left waiting in silence: the no-workers hint, the new job selected,
tabs that open at the newest row, Home/End to the first/last row."""

from __future__ import annotations

import pytest
from textual.widgets import Label

from queuectl.core.records import RunStart
from queuectl.core.results import exited
from queuectl.core.specs import JobSpec
from queuectl.tui.app import make_app
from queuectl.tui.screens.enqueue import EnqueueScreen
from tui_support import CWD, SEEDED_JOBS, loaded, refreshed, row_keys, shown_text, table, wait_until

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)


def hint(app) -> str | None:
    label = app.query_one("#hint", Label)
    return shown_text(label) if label.display else None


async def test_due_jobs_and_no_worker_show_a_hint_until_a_worker_serves_them(core, store_url, clock):
    app = make_app(store_url, clock=clock, poll_interval=0, process_stats=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert hint(app) is None, "no job, no hint"
        core.queue.enqueue([JobSpec("echo later", id="later", run_at=clock.now() + 600, cwd=CWD)],
                           core.config.settings())
        await refreshed(pilot)
        assert hint(app) is None, "nothing is due yet"
        core.queue.enqueue([JobSpec("echo hi", id="first", cwd=CWD)], core.config.settings())
        await refreshed(pilot)
        assert hint(app) == "no workers — F3, then + to start"
        core.registry.register("w-media000", "host-a", 4300, 1.0, ["media"], None)
        await refreshed(pilot)
        assert hint(app) == "no worker takes queue 'default' — F3, then + to start one"
        core.registry.register("w-all00000", "host-a", 4301, 1.0, None, None)
        await refreshed(pilot)
        assert hint(app) is None


async def test_the_job_just_enqueued_is_selected(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert table(app, "jobs").selected_key == "send-digest"
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"echo hello", "tab", *"hello-job", "ctrl+s")
        await wait_until(pilot, lambda: table(app, "jobs").selected_key == "hello-job", message="the new job selected")


async def test_a_tab_not_yet_visited_opens_at_its_newest_row(app, seeded, clock):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        seeded.queue.enqueue([JobSpec("false", id="newly-dead", max_retries=0, priority=100, cwd=CWD)],
                             seeded.config.settings())
        claimed = seeded.queue.claim("w-a1b2c3d4")
        seeded.queue.finish(claimed, "w-a1b2c3d4", RunStart("host-a", 1, None, clock.now()),
                            exited(1, "exit code 1"), seeded.config.settings())
        await refreshed(pilot)
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.pane == "dlq")
        assert row_keys(app, "dlq")[0] == "newly-dead"
        assert table(app, "dlq").selected_key == "newly-dead"


@pytest.mark.parametrize("first,last", [("home", "end"), ("ctrl+home", "ctrl+end")])
async def test_home_and_end_go_to_the_first_and_last_row(app, seeded, first, last):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        jobs = table(app, "jobs")
        await pilot.press(last)
        await wait_until(pilot, lambda: jobs.selected_key == list(SEEDED_JOBS)[-1])
        await pilot.press(first)
        await wait_until(pilot, lambda: jobs.selected_key == list(SEEDED_JOBS)[0])
        assert jobs.scroll_x == 0

