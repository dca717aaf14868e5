"""The TUI says why a waiting job waits: a Waiting column in the Jobs table, and the detail view's
waiting line, with what the job runs after and its label."""

from __future__ import annotations

import pytest

from queuectl.core.queues import QueueTable
from queuectl.core.specs import JobSpec
from tui_support import loaded, screen_text, select, wait_until

pytestmark = pytest.mark.asyncio


async def test_the_jobs_table_and_the_detail_say_why_a_job_waits(app, seeded, clock):
    settings = seeded.config.settings()
    seeded.queue.enqueue([JobSpec("sleep 1", id="gate", hold=True)], settings)
    seeded.queue.enqueue([JobSpec("make render", id="render", after=("gate",), label="nightly render")], settings)
    QueueTable(seeded.store, clock).pause("media")
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot)
        table = app.query_one("#jobs-table")
        await wait_until(pilot, lambda: "render" in [str(r.key.value) for r in table.ordered_rows])
        # columns that every row shows the default of are hidden: find them by name
        column = {str(c.label).split(" ")[0]: i for i, c in enumerate(table.ordered_columns)}
        waiting = {str(r.key.value): str(table.get_row(r.key)[column["Waiting"]]) for r in table.ordered_rows}
        assert (waiting["gate"], waiting["render"], waiting["resize-images"]) == ("held", "after gate", "queue paused")
        assert "nightly render · make render" in str(table.get_row("render")[column["Command"]])
        select(app, "jobs", "render")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("waiting for gate (pending)" in line for line in screen_text(app)),
                         message="the detail's waiting line")
        text = "\n".join(screen_text(app))
        assert "label" in text and "nightly render" in text and "after" in text
