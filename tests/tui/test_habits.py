"""k9s and lazygit habits (issue 17): moving, marks that actions apply to (all or nothing), sorting by
column, filtering as you type, the preview pane, the DLQ's reason, output search and save, the
pulse, themes and remapped keys — each asserted on the store or on what the screen shows."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Input, Label

from queuectl.core.records import RunStart
from queuectl.core.results import exited
from queuectl.core.specs import JobSpec
from queuectl.tui.app import make_app
from queuectl.tui.screens.confirm import ConfirmScreen
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.viewmodel import QUEUE_COLUMNS, SCHEDULE_COLUMNS
from queuectl.tui.widgets.job_preview import JobPreview
from queuectl.tui.widgets.output_view import OutputView
from queuectl.tui.widgets.pulse_strip import PulseStrip
from tui_support import (
    CWD,
    HOST,
    SEEDED_JOBS,
    W_BUSY,
    loaded,
    refreshed,
    row_keys,
    screen_text,
    select,
    shown_text,
    table,
    wait_until,
)

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)
NEWEST_FIRST = list(SEEDED_JOBS)


def caption(app) -> str:
    return shown_text(app.query_one("#jobs-caption", Label))


async def confirm(pilot, app, expect: str) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    assert expect in app.screen.question, app.screen.question
    await pilot.press("y")
    await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))


# ── moving ──────────────────────────────────────────────────────────────────────────────────


async def test_j_k_g_G_home_end_pages_move_the_cursor(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        jobs = table(app, "jobs")
        await pilot.press("j", "j")
        assert jobs.selected_key == NEWEST_FIRST[2]
        await pilot.press("k")
        assert jobs.selected_key == NEWEST_FIRST[1]
        await pilot.press("G")
        assert jobs.selected_key == NEWEST_FIRST[-1]
        await pilot.press("g")
        assert jobs.selected_key == NEWEST_FIRST[0]
        await pilot.press("end")
        assert jobs.selected_key == NEWEST_FIRST[-1]
        await pilot.press("home")
        assert jobs.selected_key == NEWEST_FIRST[0]
        await pilot.press("pagedown")
        assert jobs.selected_key == NEWEST_FIRST[-1]
        await pilot.press("pageup")
        assert jobs.selected_key == NEWEST_FIRST[0]


# ── marks ───────────────────────────────────────────────────────────────────────────────────


async def test_space_marks_and_retry_applies_to_the_marks_after_one_confirm(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.action_show_tab("dlq")
        await refreshed(pilot)
        await refreshed(pilot)
        dlq = table(app, "dlq")
        await pilot.press("space", "space")  # marks and moves down: both dead jobs
        assert dlq.marks == {"import-feed", "flaky-sync"}
        assert str(dlq.get_row("import-feed")[0]) == "●"
        await pilot.press("r")
        await confirm(pilot, app, "Retry 2 marked jobs?")
        await wait_until(pilot, lambda: seeded.state("import-feed") == seeded.state("flaky-sync") == "pending")
        assert dlq.marks == set()


async def test_hold_release_and_start_apply_to_the_marks_after_one_confirm(app, seeded, clock):
    held = lambda job_id: seeded.queue.get(job_id).held  # noqa: E731
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")  # pending only: send-digest (due in 5m) and resize-images
        await wait_until(pilot, lambda: set(row_keys(app, "jobs")) == {"send-digest", "resize-images"})
        await pilot.press("a", "h")
        await confirm(pilot, app, "Hold 2 marked jobs?")
        await wait_until(pilot, lambda: held("send-digest") and held("resize-images"))
        await refreshed(pilot)
        await pilot.press("a", "u")
        await confirm(pilot, app, "Release 2 marked jobs?")
        await wait_until(pilot, lambda: not held("send-digest") and not held("resize-images"))
        select(app, "jobs", "send-digest")
        await pilot.press("t")  # the selected job alone: no confirm
        await wait_until(pilot, lambda: seeded.queue.get("send-digest").run_at == clock.now())


async def test_a_marks_all_shown_and_delete_removes_them(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("6")  # dead only
        await wait_until(pilot, lambda: set(row_keys(app, "jobs")) == {"import-feed", "flaky-sync"})
        await pilot.press("a")
        assert "2 marked" in caption(app)
        await pilot.press("D")
        await confirm(pilot, app, "Delete 2 marked jobs and their runs?")
        await wait_until(pilot, lambda: not {"import-feed", "flaky-sync"} & seeded.job_ids())
        assert seeded.job_ids() == set(SEEDED_JOBS) - {"import-feed", "flaky-sync"}


async def test_kill_is_x_and_applies_to_the_marks(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "send-digest")
        await pilot.press("space", "space")  # send-digest, resize-images (both pending)
        await pilot.press("k")  # k moves up now; it kills nothing
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("x")
        await confirm(pilot, app, "Kill 2 marked jobs?")
        await wait_until(pilot, lambda: seeded.state("send-digest") == seeded.state("resize-images") == "cancelled")


async def test_a_mark_that_cannot_take_the_action_disables_it_and_nothing_changes(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for job_id in ("flaky-sync", "backup-db"):  # dead (retryable) and completed (not)
            select(app, "jobs", job_id)
            await pilot.press("space")
        assert table(app, "jobs").marks == {"flaky-sync", "backup-db"}
        assert app.refusal("retry_job") == "marked job backup-db is completed: only failed, dead or cancelled jobs " \
                                         "can be retried"
        await pilot.press("r")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        assert (seeded.state("flaky-sync"), seeded.state("backup-db")) == ("dead", "completed")


async def test_the_core_refuses_a_mixed_retry_all_or_nothing(app, seeded):
    """What the marks call: one transaction, so one job that cannot be retried changes none."""
    from queuectl.core.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        app.service.retry(["flaky-sync", "backup-db"])
    assert (seeded.state("flaky-sync"), seeded.state("backup-db")) == ("dead", "completed")


# ── sorting ─────────────────────────────────────────────────────────────────────────────────


async def test_o_sorts_by_the_next_column_shown_in_the_caption_and_kept_across_refreshes(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "newest first" in caption(app)
        await pilot.press("o")  # by ID, descending
        await wait_until(pilot, lambda: row_keys(app, "jobs") == sorted(SEEDED_JOBS, reverse=True))
        await refreshed(pilot)
        assert row_keys(app, "jobs") == sorted(SEEDED_JOBS, reverse=True)
        assert "by ID ↓" in caption(app)
        assert table(app, "jobs").columns["ID"].label.plain == "ID ▼"
        await pilot.press("O")
        await wait_until(pilot, lambda: row_keys(app, "jobs") == sorted(SEEDED_JOBS))
        assert "by ID ↑" in caption(app)


async def test_a_click_on_a_header_sorts_by_its_column(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        jobs = table(app, "jobs")
        x = sum(c.get_render_width(jobs) for key, c in jobs.columns.items() if key in ("mark", "ID", "State", "Runs"))
        await pilot.click("#jobs-table", offset=(x + 1, 0))  # the Pri header
        await wait_until(pilot, lambda: app.job_filter.sort == "priority")
        await wait_until(pilot, lambda: row_keys(app, "jobs")[:2] == ["deploy-web", "resize-images"])
        assert "by Pri ↓" in caption(app)


# ── filtering ───────────────────────────────────────────────────────────────────────────────


async def test_slash_filters_as_you_type_and_escape_clears(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"sync")  # no Enter: each key filters
        await wait_until(pilot, lambda: row_keys(app, "jobs") == ["flaky-sync"])
        assert "matching 'sync': 1–1 of 1 " in caption(app)
        assert "page" not in caption(app)
        await pilot.press("ctrl+u", *"media")  # the queue matches too
        await wait_until(pilot, lambda: row_keys(app, "jobs") == ["resize-images"])
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(row_keys(app, "jobs")) == len(SEEDED_JOBS))
        assert not app.query_one("#search", Input).display
        assert "all: 1–8 of 8 " in caption(app)


# ── seeing more ─────────────────────────────────────────────────────────────────────────────


async def test_preview_shows_the_selected_job_on_a_wide_terminal_and_v_hides_it(app, seeded):
    async with app.run_test(size=(200, 60)) as pilot:
        await loaded(pilot)
        preview = app.query_one("#preview", JobPreview)
        assert preview.display
        select(app, "jobs", "flaky-sync")
        await wait_until(pilot, lambda: preview.job_id == "flaky-sync")
        await wait_until(pilot, lambda: "rsync error: error in socket IO" in "\n".join(screen_text(app)))
        right = "\n".join(line[118:] for line in screen_text(app))  # the preview's side of the screen
        assert "last error exit code 10" in " ".join(right.split()) and "flaky-sync" in right, right
        await pilot.press("v")
        assert not preview.display


async def test_no_preview_at_80_columns(app, seeded):
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert not app.query_one("#preview", JobPreview).display
        assert "Took" not in table(app, "jobs").columns  # the command gets the room


async def test_the_preview_follows_the_terminal_when_it_is_resized(app, seeded):
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        preview = app.query_one("#preview", JobPreview)
        await pilot.resize_terminal(200, 60)
        await wait_until(pilot, lambda: preview.display, message="the preview after widening to 200 columns")
        await wait_until(pilot, lambda: preview.job_id == table(app, "jobs").selected_key is not None,
                         message="the selected job in the preview")
        await pilot.resize_terminal(120, 40)
        await wait_until(pilot, lambda: not preview.display, message="no preview after narrowing to 120 columns")


async def test_pri_and_queue_hide_when_every_row_shows_the_default(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "Pri" in table(app, "jobs").columns
        await pilot.press("4")  # completed: only backup-db, default priority and queue
        await wait_until(pilot, lambda: row_keys(app, "jobs") == ["backup-db"])
        assert "Pri" not in table(app, "jobs").columns and "Queue" not in table(app, "jobs").columns


async def test_dlq_shows_the_last_output_line_beside_the_exit_code(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.action_show_tab("dlq")
        await refreshed(pilot)
        await refreshed(pilot)
        why = str(table(app, "dlq").get_row("flaky-sync")[-1])
        assert why.startswith("exit code 10 · rsync error: error in socket IO (code 10)"), why


async def test_output_search_n_and_save(app, seeded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "flaky-sync")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        view = app.screen.query_one("#output", OutputView)
        await wait_until(pilot, lambda: view.line_count >= 3, message="the output")
        await pilot.press("slash", *"rsync", "enter")
        assert view.matches == [1, 2] and view.match_index == 0
        await pilot.press("n")
        assert view.match_index == 1
        await pilot.press("N")
        assert view.match_index == 0
        assert "search 'rsync': 1 of 2" in shown_text(app.screen.query_one("#output-title"))
        await pilot.press("S")
        saved = tmp_path / "queuectl-flaky-sync-run2.log"
        await wait_until(pilot, saved.exists)
        assert saved.read_text().splitlines() == view.plain_lines
        assert any(str(saved) in n.message for n in app._notifications)


# ── the pulse ───────────────────────────────────────────────────────────────────────────────


async def test_pulse_counts_the_seeded_runs_of_the_last_half_hour(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert sum(app.snapshot.pulse.failed) == 0  # the first refresh reads the current minute only
        await refreshed(pilot)
        pulse = app.snapshot.pulse
        assert sum(pulse.completed) == 1 and sum(pulse.failed) == 4  # backup-db; flaky ×2, import, nightly
        assert pulse.waiting[-1] == 3 and (pulse.slots_busy, pulse.slots_total) == (1, 1)
        strip = app.query_one(PulseStrip)
        assert shown_text(strip.query_one("#pulse-failed-label", Label)) == "fail 4"


# ── themes and keys ─────────────────────────────────────────────────────────────────────────


async def test_theme_is_remembered_in_tui_toml(seeded, store_url, clock, home):
    app = make_app(store_url, clock=clock, poll_interval=0, process_stats=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
    assert 'theme = "textual-light"' in (home / "tui.toml").read_text()
    again = make_app(store_url, clock=clock, poll_interval=0, process_stats=False)
    async with again.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert again.theme == "textual-light"


async def test_keys_are_remapped_from_tui_toml(seeded, store_url, clock, home):
    os.makedirs(home, exist_ok=True)
    (home / "tui.toml").write_text('[keys]\nkill-job = "K"\ncursor-down = "j,ctrl+n"\n')
    app = make_app(store_url, clock=clock, poll_interval=0, process_stats=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+n")
        assert table(app, "jobs").selected_key == NEWEST_FIRST[1]  # resize-images, pending
        await pilot.press("K")
        await confirm(pilot, app, "Kill job resize-images?")
        await wait_until(pilot, lambda: seeded.state("resize-images") == "cancelled")





# ── the Queues tab ──────────────────────────────────────────────────────────────────────────


async def test_queues_tab_sets_a_limit_and_pauses_a_queue(app, seeded):
    from queuectl.core.queues import QueueTable
    from queuectl.tui.screens.prompt import PromptScreen

    queues = QueueTable(seeded.store)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.pane == "queues")
        await wait_until(pilot, lambda: "media" in row_keys(app, "queues"))
        select(app, "queues", "media")
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("ctrl+u", "2", "enter")
        await wait_until(pilot, lambda: (row := queues.get("media")) is not None and row.limit == 2)
        await pilot.press("P")
        await wait_until(pilot, lambda: queues.get("media").paused)
        await refreshed(pilot)
        assert str(table(app, "queues").get_row("media")[2]) == "paused"
        await pilot.press("P")
        await wait_until(pilot, lambda: not queues.get("media").paused)


# ── the Schedules tab ───────────────────────────────────────────────────────────────────────


async def test_schedules_tab_runs_now_pauses_and_removes_a_schedule(app, seeded, store_url, clock):
    from queuectl.core.api import Api
    from queuectl.core.specs import JobSpec

    api = Api.open(store_url, clock)
    try:
        api.add_schedule("nightly", JobSpec(command="echo backup", queue="io"), every="1h")
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("f5")
            await wait_until(pilot, lambda: app.pane == "schedules")
            await wait_until(pilot, lambda: "nightly" in row_keys(app, "schedules"))
            select(app, "schedules", "nightly")
            await pilot.press("r")
            await wait_until(pilot, lambda: api.schedule("nightly").last_job_id is not None)
            job = api.job(api.schedule("nightly").last_job_id)
            assert (job.command, job.queue, job.run_at) == ("echo backup", "io", clock.now())
            await pilot.press("P")
            await wait_until(pilot, lambda: api.schedule("nightly").paused)
            await refreshed(pilot)
            assert str(table(app, "schedules").get_row("nightly")[SCHEDULE_COLUMNS.index("Next run")]) == "paused"
            await pilot.press("P")
            await wait_until(pilot, lambda: not api.schedule("nightly").paused)
            await pilot.press("D")
            await confirm(pilot, app, "Remove schedule nightly?")
            await wait_until(pilot, lambda: api.schedules() == [])
            assert job.id in seeded.job_ids()  # its jobs stay
    finally:
        api.close()


async def test_queues_tab_shows_whole_queue_names(app, seeded):
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec

    seeded.queue.enqueue([JobSpec(command="true", queue="nightly-reports-eu-west-1")], Settings())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: "nightly-reports-eu-west-1" in row_keys(app, "queues"))
        await refreshed(pilot)
        text = "\n".join(screen_text(app))
        assert "nightly-reports-eu-west-1 " in text and "default " in text, text


# ── the Queues tab's throughput ─────────────────────────────────────────────────────────────


async def test_queues_tab_shows_runs_per_minute_of_the_last_whole_minutes(app, seeded, clock):
    """Done/min and Failed/min: the runs the store holds for each queue over the last 5 ended
    minutes; a minute is read once it ended, so a run of the minute under way shows a minute later."""
    from queuectl.tui.pulse import THROUGHPUT_MINUTES

    now = clock.now()
    start = (now // 60 - THROUGHPUT_MINUTES) * 60
    expected: dict[str, list[int]] = {}
    for queue, _, completed, failed in seeded.queue.finished_per_queue_minute(start, now // 60 * 60):
        done = expected.setdefault(queue, [0, 0])
        done[0] += completed
        done[1] += failed
    assert expected, "the seeded store has runs in the last minutes"
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.action_show_tab("queues")
        await wait_until(pilot, lambda: app.snapshot.queues)
        for queue, (completed, failed) in expected.items():
            row = app.query_one("#queues-table").get_row(queue)
            done, failed_rate = (QUEUE_COLUMNS.index("Done/min"), QUEUE_COLUMNS.index("Failed/min"))
            assert (str(row[done]), str(row[failed_rate])) == (f"{completed / THROUGHPUT_MINUTES:.1f}",
                                                      f"{failed / THROUGHPUT_MINUTES:.1f}")
        # a run that ends now counts once its minute has ended
        seeded.queue.enqueue([JobSpec("true", id="late", queue="reports", priority=100, cwd=CWD, max_retries=0)],
                             seeded.config.settings())
        claimed = seeded.queue.claim(W_BUSY)
        assert claimed is not None and claimed.id == "late"
        seeded.queue.finish(claimed, W_BUSY, RunStart(HOST, 1, None, clock.now()), exited(0, None),
                            seeded.config.settings())
        clock.advance(60)
        await refreshed(pilot)
        await wait_until(pilot, lambda: app.snapshot.queue_rates.get("reports", (0, 0))[0] > 0)
