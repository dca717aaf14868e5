"""The job detail view stays live: runs update in place, a retry's new run is followed, times
tick, scrolling up pauses following, and the fields a user opens it for stay visible at 80x24."""

from __future__ import annotations

import pytest

from queuectl.core.specs import JobSpec
from queuectl.core.supervisor import start_workers
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.widgets.keyed_table import KeyedTable
from queuectl.tui.widgets.output_view import OutputView
from tui_support import W_BUSY, loaded, screen_text, select, shown_text, wait_for, wait_until

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)


async def open_detail(pilot, job_id: str) -> JobDetailScreen:
    app = await loaded(pilot)
    await wait_until(pilot, lambda: job_id in [str(r.key.value) for r in app.query_one("#jobs-table").ordered_rows])
    select(app, "jobs", job_id)
    await pilot.press("enter")
    screen = await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen)
    await wait_until(pilot, lambda: screen.query_one("#runs", KeyedTable).row_count or screen.job_state == "pending")
    return screen


def run_row(screen: JobDetailScreen, number: int) -> list[str]:
    return [str(c) for c in screen.query_one("#runs", KeyedTable).get_row(str(number))]


def output_title(screen: JobDetailScreen) -> str:
    return shown_text(screen.query_one("#output-title"))


async def test_a_run_that_ends_updates_its_row_in_place(reaper, live_app_factory, tmp_path):
    core = reaper
    start_workers(core.store, 1)
    # it ends when the test says so: the screen must first have shown it running
    core.queue.enqueue([JobSpec("echo hi; while [ ! -e go ]; do sleep 0.05; done; echo bye", id="short3",
                                cwd=str(tmp_path))], core.config.settings())
    wait_for(lambda: core.state("short3") == "processing" and core.queue.runs("short3"), timeout=20,
             message="short3 running")
    app = live_app_factory()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, "short3")
        await wait_until(pilot, lambda: run_row(screen, 1)[1] == "running", message="the run shown running")
        (tmp_path / "go").touch()
        await wait_until(pilot, lambda: run_row(screen, 1)[1] != "running" and run_row(screen, 1)[2] == "0",
                         timeout=20, message="the run's row updated when it ended")
        await wait_until(pilot, lambda: "finished" in output_title(screen), message="the output title")
        assert screen.query_one("#output", OutputView).plain_lines == ["hi", "bye"]


async def test_retry_from_the_detail_view_shows_and_follows_the_new_run(reaper, live_app_factory, tmp_path):
    core = reaper
    start_workers(core.store, 1)
    core.queue.enqueue([JobSpec('echo "run $QUEUECTL_JOB_ID"; sleep 1; exit 5', id="dead1", max_retries=0,
                                cwd=str(tmp_path))], core.config.settings())
    wait_for(lambda: core.state("dead1") == "dead", timeout=20, message="dead1 dead")
    app = live_app_factory()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, "dead1")
        await wait_until(pilot, lambda: "run 1 (finished)" in output_title(screen), message="run 1's output")
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.query_one("#runs", KeyedTable).row_count == 2, timeout=20,
                         message="the new run in the runs table")
        await wait_until(pilot, lambda: "Output of run 2" in output_title(screen), timeout=10,
                         message="the output following run 2")
        await wait_until(pilot, lambda: run_row(screen, 2)[2] == "5", timeout=20, message="run 2 ended")
        await wait_until(pilot, lambda: screen.job_state == "dead", message="the state field")
        assert screen.query_one("#runs", KeyedTable).cursor_row == 1


async def test_relative_times_tick_on_a_finished_job(app, seeded, clock):
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, "backup-db")

        def created() -> str:
            return next((line for line in screen_text(app) if "created" in line), "")

        await wait_until(pilot, lambda: "ago" in created(), message="the fields")
        assert "10m00s ago (2025-12-31T23:50:00Z)" in created()
        clock.advance(3600)
        await wait_until(pilot, lambda: "1h10m ago" in created(), timeout=5, message="the ages to tick")



async def test_detail_shows_when_the_job_started_and_finished(app, seeded, clock):
    """Issue 14: the detail view lists started and finished, in the same text as `queuectl show`."""
    from queuectl import format as fmt

    job = seeded.queue.get("backup-db")
    assert job.started_at is not None and job.finished_at is not None
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, "backup-db")

        def field(name: str) -> str:
            return next((line for line in screen_text(app) if line.lstrip("│ ").startswith(name + " ")), "")

        await wait_until(pilot, lambda: "ago" in field("finished"), message="the finished field")
        assert fmt.when(job.started_at, clock.now()) in field("started")
        assert fmt.when(job.finished_at, clock.now()) in field("finished")

def _lines(n: int, start: int = 1) -> bytes:
    return b"".join(b"line %d\n" % i for i in range(start, start + n))


async def test_scrolling_up_pauses_following_and_end_resumes(app, seeded):
    seeded.queue.save_output("deploy-web", 1, _lines(200), len(_lines(200)), W_BUSY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, "deploy-web")
        view = screen.query_one("#output", OutputView)
        await wait_until(pilot, lambda: view.line_count == 200, message="200 lines")
        await wait_until(pilot, lambda: view.scroll_y == view.max_scroll_y > 0, message="the view at the end")
        assert view.has_focus
        await pilot.press("pageup", "pageup")
        await wait_until(pilot, lambda: not view.following)
        assert "following paused — End to resume" in output_title(screen)
        top = view.scroll_y
        more = _lines(300)
        seeded.queue.save_output("deploy-web", 1, more, len(more), W_BUSY)
        await wait_until(pilot, lambda: view.line_count == 300, message="the new lines")
        await pilot.pause(0.6)  # a further refresh or two
        assert view.scroll_y == top, "the view jumped while the user read"
        await pilot.press("end")
        await wait_until(pilot, lambda: view.following and view.scroll_y == view.max_scroll_y)
        assert "paused" not in output_title(screen)
        await pilot.press("f")  # f pauses and follows again too
        await wait_until(pilot, lambda: not view.following)
        await pilot.press("f")
        await wait_until(pilot, lambda: view.following)


async def test_w_toggles_wrapping(app, seeded):
    long = b"start " + b"y" * 500 + b" end\n"
    seeded.queue.save_output("deploy-web", 1, long, len(long), W_BUSY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, "deploy-web")
        view = screen.query_one("#output", OutputView)
        await wait_until(pilot, lambda: view.line_count == 1)
        assert view.virtual_size.height == 1
        await pilot.press("w")
        await wait_until(pilot, lambda: view.virtual_size.height > 1)
        assert any(line.rstrip().endswith("end") for line in screen_text(app))
        await pilot.press("w")
        await wait_until(pilot, lambda: view.virtual_size.height == 1)


async def test_exit_code_and_last_error_stay_visible_at_80x24(app, seeded):
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot, "flaky-sync")
        await wait_until(pilot, lambda: screen.query_one("#output", OutputView).line_count >= 3)
        await pilot.pause()
        text = "\n".join(screen_text(app))
        assert "exit code" in text and "10" in text
        assert "last error" in text and "exit code 10" in text
