"""Snapshots of each pane, the job detail, the dialogs and a small terminal, on the seeded store.

Frozen clock, fixed ids, fake worker rows on "host-a", no cursor blink: the SVGs must not change
between runs. After `--snapshot-update`, open the changed SVGs and look at them before committing.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Label

from queuectl.core.specs import JobSpec
from queuectl.tui.app import make_app
from queuectl.tui.screens.confirm import ConfirmScreen
from queuectl.tui.screens.enqueue import EnqueueScreen
from queuectl.tui.screens.help import HelpScreen
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.widgets.output_view import OutputView
from tui_support import (
    CWD,
    HOSTILE_LINES,
    HOSTILE_OUTPUT,
    W_BUSY,
    add_finished_job,
    loaded,
    refreshed,
    select,
    wait_until,
)

SIZE = (120, 40)


async def show_tab(pilot: Pilot, tab: str) -> None:
    app = await loaded(pilot)
    app.action_show_tab(tab)
    await wait_until(pilot, lambda: app.pane == tab and app.focused is not None and app.focused.id == f"{tab}-table")
    # Only the tab on screen is loaded: wait for a snapshot that began after the switch (a poll in
    # flight at the switch may still carry the previous tab's rows only).
    await refreshed(pilot)
    await refreshed(pilot)
    # the flex column is fitted after the other columns are measured, a refresh or two later
    for _ in range(3):
        await pilot.pause()


def test_jobs_tab_shows_a_job_in_every_state(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_jobs_tab_at_80x24(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_labelled_job_at_80x24(snap_compare, app, seeded):
    """A label before the command: a command cut by the column still ends in "…"."""
    seeded.queue.enqueue([JobSpec("rsync -a --delete /srv/photos/2026/ backup-host:/srv/photos/2026/",
                                  id="photo-sync", label="nightly photos", cwd=CWD)], seeded.config.settings())

    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_dlq_tab(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "dlq")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_workers_tab(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "workers")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_settings_tab_marks_the_overridden_setting(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "settings")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_job_detail_shows_runs_and_output(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")
        select(app, "jobs", "flaky-sync")
        await pilot.press("enter")

        def shown() -> bool:
            screen = app.screen
            return (isinstance(screen, JobDetailScreen) and screen.query_one("#runs", DataTable).row_count == 2
                    and screen.query_one("#output", OutputView).line_count >= 3)

        await wait_until(pilot, shown, message="the detail of flaky-sync")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_enqueue_form_shows_a_validation_error(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"make test", "tab", "tab", *"high", "ctrl+s")
        await wait_until(pilot, lambda: str(app.screen.query_one("#error", Label).content), message="the error")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_lists_every_key(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_confirm_dialog_before_a_delete(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")
        select(app, "jobs", "cleanup-tmp")
        await pilot.press("D")
        # settled: the dialog has focused its Cancel button, and a refresh has landed beneath it
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.focused is not None
                         and app.focused.id == "no", message="the confirm dialog with Cancel focused")
        await refreshed(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def _open_detail(pilot: Pilot, job_id: str, lines: int) -> None:
    await show_tab(pilot, "jobs")
    app = pilot.app
    select(app, "jobs", job_id)
    await pilot.press("enter")

    def shown() -> bool:
        screen = app.screen
        return isinstance(screen, JobDetailScreen) and screen.query_one("#output", OutputView).line_count == lines

    await wait_until(pilot, shown, message=f"the detail of {job_id}")
    await pilot.pause()


def test_job_detail_renders_hostile_output_safely(snap_compare, app, seeded, clock):
    """Colours show as colours; clears, cursor moves, titles and the rest leave no mark."""
    add_finished_job(seeded, clock, "hostile", "sh ./hostile.sh", HOSTILE_OUTPUT)

    async def run_before(pilot: Pilot) -> None:
        await _open_detail(pilot, "hostile", len(HOSTILE_LINES))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_job_detail_renders_hostile_output_safely_at_80x24(snap_compare, app, seeded, clock):
    add_finished_job(seeded, clock, "hostile", "sh ./hostile.sh", HOSTILE_OUTPUT)

    async def run_before(pilot: Pilot) -> None:
        await _open_detail(pilot, "hostile", len(HOSTILE_LINES))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _paused_follow(app, seeded):
    lines = b"".join(b"step %d: compiling module_%03d.py\n" % (i, i) for i in range(1, 201))
    seeded.queue.save_output("deploy-web", 1, lines, len(lines), W_BUSY)

    async def run_before(pilot: Pilot) -> None:
        await _open_detail(pilot, "deploy-web", 200)
        view = app.screen.query_one("#output", OutputView)
        await wait_until(pilot, lambda: view.scroll_y == view.max_scroll_y > 0, message="the view at the end")
        await pilot.press("pageup")
        await wait_until(pilot, lambda: not view.following)
        await pilot.pause()

    return run_before


def test_job_detail_with_following_paused(snap_compare, app, seeded):
    assert snap_compare(app, terminal_size=SIZE, run_before=_paused_follow(app, seeded))


def test_job_detail_with_following_paused_at_80x24(snap_compare, app, seeded):
    assert snap_compare(app, terminal_size=(80, 24), run_before=_paused_follow(app, seeded))


def _first_use_app(core, store_url, clock):
    """A new user's store: three jobs enqueued, no worker ever started."""
    for i, command in enumerate(("make test", "./build.sh", "python -m pytest --color=yes tests/")):
        clock.advance(1)
        core.queue.enqueue([JobSpec(command, id=f"job-{i + 1}", cwd=CWD)], core.config.settings())
    return make_app(store_url, clock=clock, poll_interval=0, process_stats=False)


def test_no_workers_hint(snap_compare, core, store_url, clock):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")

    assert snap_compare(_first_use_app(core, store_url, clock), terminal_size=SIZE, run_before=run_before)


def test_no_workers_hint_at_80x24(snap_compare, core, store_url, clock):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")

    assert snap_compare(_first_use_app(core, store_url, clock), terminal_size=(80, 24), run_before=run_before)


# ── issue 17: the pulse, the preview, marks, sort and filter ────────────────────────────────


def test_wide_jobs_tab_with_preview_marks_sort_and_pulse(snap_compare, app):
    """200×60: the preview of the selected job beside the table, two marks, sorted by Pri, and the
    pulse strip over the seeded half hour."""
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")
        for job_id in ("send-digest", "resize-images"):
            select(pilot.app, "jobs", job_id)
            await pilot.press("space")
        await pilot.press("o", "o", "o")  # created → id → state → priority
        await wait_until(pilot, lambda: pilot.app.job_filter.sort == "priority")
        await refreshed(pilot)
        select(pilot.app, "jobs", "flaky-sync")
        preview = pilot.app.query_one("#preview")
        await wait_until(pilot, lambda: preview.job_id == "flaky-sync")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(200, 60), run_before=run_before)


def test_filtered_caption_with_marks(snap_compare, app):
    """120×40: filtering as you type, the caption's truthful count and a mark."""
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "jobs")
        await pilot.press("slash", *"re")
        await wait_until(pilot, lambda: pilot.app.snapshot.job_filter.search == "re")
        await pilot.press("enter", "space")
        await refreshed(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dlq_with_reasons_at_80x24(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "dlq")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_queues_tab(snap_compare, app, seeded):
    """The Queues tab with a limit and a paused queue."""
    from queuectl.core.queues import QueueTable

    queues = QueueTable(seeded.store)
    queues.set_limit("media", 1)
    queues.pause("reports")

    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "queues")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_schedules_tab(snap_compare, app, seeded, store_url, clock, monkeypatch):
    """The Schedules tab: a cron schedule in a time zone, a paused one, one that ran (its job's state),
    one overdue (no worker enqueued its slot: "overdue 3m00s", not "3m ago")."""
    from queuectl.core import schedules
    from queuectl.core.api import Api

    monkeypatch.setattr(schedules, "new_job_ids", lambda n: ["ping-run-now"][:n])  # a fixed id on screen

    api = Api.open(store_url, clock)
    try:
        api.add_schedule("sweep", JobSpec(command="./sweep.sh"), every="5m")
        clock.advance(480)  # its slot came 3 minutes ago
        api.add_schedule("nightly-backup", JobSpec(command="./backup.sh --full /srv", queue="io"),
                         cron="0 2 * * *", tz="Europe/Berlin")
        api.add_schedule("ping", JobSpec(command="curl -fsS https://example.org/health"), every="30s")
        api.add_schedule("reports", JobSpec(command="make reports\x1b[31m", queue="reports"), every="15m")
        api.pause_schedule("reports")
        api.run_schedule_now("ping")
    finally:
        api.close()

    async def run_before(pilot: Pilot) -> None:
        await show_tab(pilot, "schedules")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
