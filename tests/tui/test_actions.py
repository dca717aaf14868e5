"""Every action of the TUI, driven by keys, checked in the store through the core (a connection of
its own), not only on the screen. Real worker processes where the action is about processes."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Input, Label

from queuectl.core.errors import JobNotFound
from queuectl.core.specs import JobSpec
from queuectl.core.states import JobState
from queuectl.core.supervisor import start_workers
from queuectl.tui.actions import MAIN, help_rows
from queuectl.tui.screens.confirm import ConfirmScreen
from queuectl.tui.screens.enqueue import EnqueueScreen
from queuectl.tui.screens.help import HelpScreen
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.screens.prompt import PromptScreen
from queuectl.tui.widgets.output_view import OutputView
from tui_support import (
    BACKUP_OUTPUT,
    CWD,
    SEEDED_JOBS,
    alive,
    loaded,
    processes_of_home,
    refreshed,
    row_keys,
    screen_text,
    select,
    shown_text,
    start_one_worker,
    table,
    wait_for,
    wait_until,
)

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)


# ── jobs ────────────────────────────────────────────────────────────────────────────────────


async def test_retry_puts_a_dead_job_back_to_pending(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "flaky-sync")
        await pilot.press("r")
        await wait_until(pilot, lambda: seeded.state("flaky-sync") == "pending", message="flaky-sync pending")
        job = seeded.queue.get("flaky-sync")
        assert job.attempts == 0
        await wait_until(pilot, lambda: {j.id: j.state for j in app.snapshot.jobs}["flaky-sync"] == "pending")
        app.action_show_tab("dlq")
        await wait_until(pilot, lambda: app.pane == "dlq" and row_keys(app, "dlq") == ["import-feed"])


async def test_kill_cancels_a_running_job_and_kills_its_process(reaper, live_app_factory, home, tmp_path):
    core = reaper
    start_workers(core.store, 1)
    core.queue.enqueue([JobSpec("sleep 30", id="sleepy", cwd=str(tmp_path))], core.config.settings())
    run = wait_for(lambda: next((r for r in core.queue.runs("sleepy") if r.pid), None), timeout=15,
                   message="the run of sleepy")
    assert alive(run.pid)

    app = live_app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "sleepy")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: core.state("sleepy") == "cancelled", timeout=15, message="sleepy cancelled")

    assert not alive(run.pid)
    job_processes = [p for p in processes_of_home(home) if p.environ().get("QUEUECTL_JOB_ID") == "sleepy"]
    assert not job_processes
    assert core.queue.get("sleepy").last_error == "cancelled by user"


async def test_delete_after_yes_removes_the_job(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "cleanup-tmp")
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: "cleanup-tmp" not in seeded.job_ids(), message="cleanup-tmp deleted")
        with pytest.raises(JobNotFound):
            seeded.queue.get("cleanup-tmp")
        await wait_until(pilot, lambda: "cleanup-tmp" not in row_keys(app, "jobs"))


async def test_delete_answered_no_keeps_the_job(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "cleanup-tmp")
        await pilot.press("D")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await refreshed(pilot)
        assert seeded.state("cleanup-tmp") == "cancelled"
        assert seeded.job_ids() == set(SEEDED_JOBS)
        assert "cleanup-tmp" in row_keys(app, "jobs")


async def test_enqueue_form_adds_a_pending_job(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"echo hello", "ctrl+s")
        new = await wait_until(pilot, lambda: seeded.job_ids() - set(SEEDED_JOBS), message="a new job")
        await wait_until(pilot, lambda: not isinstance(app.screen, EnqueueScreen), message="the form closed")
        [job_id] = new
        job = seeded.queue.get(job_id)
        assert (job.command, job.state, job.priority, job.queue) == ("echo hello", "pending", 0, "default")
        await wait_until(pilot, lambda: row_keys(app, "jobs")[0] == job_id, message="the new job on top")


async def test_enqueue_form_with_an_invalid_id_shows_the_error_and_saves_nothing(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"echo hello", "tab", *"bad id!", "ctrl+s")
        error = app.screen.query_one("#error", Label)
        await wait_until(pilot, lambda: str(error.content), message="an error in the form")
        assert str(error.content) == "id: must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
        assert isinstance(app.screen, EnqueueScreen)
        assert app.screen.query_one("#field-command", Input).value == "echo hello"
        assert seeded.job_ids() == set(SEEDED_JOBS)
        # What the user reads must be the message itself: the rule's brackets are not markup.
        assert shown_text(error) == "id: must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}"


async def test_enqueue_form_error_that_echoes_markup_like_input_does_not_crash(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"echo hello", "tab", "tab", *"[/b]", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, EnqueueScreen)
        assert shown_text(app.screen.query_one("#error", Label)) == "priority: must be a whole number, got '[/b]'"
        assert seeded.job_ids() == set(SEEDED_JOBS)



async def test_a_long_form_error_is_shown_in_full(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EnqueueScreen))
        await pilot.press(*"make test", "tab", "tab", "tab", "tab", *"soon", "ctrl+s")
        error = app.screen.query_one("#error", Label)
        await wait_until(pilot, lambda: str(error.content), message="an error in the form")
        assert str(error.content).endswith("(e.g. 90, 30s, 5m, 2h, 1d)")
        await pilot.pause()
        screen = "\n".join(screen_text(app))
        assert "delay: invalid duration 'soon'" in screen
        assert "1d)" in screen, "the end of the error is cut off"

# ── the queue ───────────────────────────────────────────────────────────────────────────────


async def test_pause_toggles_the_queue(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert not seeded.config.is_paused()
        await pilot.press("p")
        await wait_until(pilot, seeded.config.is_paused, message="paused")
        await wait_until(pilot, lambda: app.snapshot.paused and "PAUSED" in screen_text(app)[0])
        await pilot.press("p")
        await wait_until(pilot, lambda: not seeded.config.is_paused(), message="resumed")
        await wait_until(pilot, lambda: not app.snapshot.paused)


async def test_paused_shows_in_the_status_bar_at_80_columns(app, seeded):
    seeded.config.set_paused(True)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert app.snapshot.paused
        status = screen_text(app)[0]
        assert "PAUSED" in status, status


# ── workers ─────────────────────────────────────────────────────────────────────────────────


async def test_start_a_worker_from_the_workers_tab_then_stop_it(reaper, live_app_factory):
    core = reaper
    app = live_app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        live = await start_one_worker(pilot, app, core)
        assert len(live) == 1
        worker_id = live[0].id
        await wait_until(pilot, lambda: row_keys(app, "workers") == [worker_id], message="the worker's row")
        assert not isinstance(app.screen, PromptScreen)

        select(app, "workers", worker_id)
        await pilot.press("x")
        await wait_until(pilot, lambda: core.registry.states([worker_id])[worker_id] == "stopped", timeout=10,
                         message="the worker stopped")
        await refreshed(pilot)
        assert worker_id not in row_keys(app, "workers")


# ── settings ────────────────────────────────────────────────────────────────────────────────


async def _edit_setting(pilot, app, key: str, text: str) -> None:
    app.action_show_tab("settings")
    await wait_until(pilot, lambda: app.pane == "settings")
    select(app, "settings", key)
    await pilot.press("e")
    await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
    await pilot.press("ctrl+u", *text, "enter")


async def test_edit_a_setting(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await _edit_setting(pilot, app, "max_retries", "7")
        await wait_until(pilot, lambda: seeded.config.settings().max_retries == 7, message="max_retries = 7")
        await wait_until(pilot, lambda: not isinstance(app.screen, PromptScreen))
        await wait_until(pilot, lambda: table(app, "settings").get_row("max_retries")[1] == "7 *")


async def test_an_invalid_setting_shows_the_error_and_changes_nothing(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await _edit_setting(pilot, app, "max_retries", "abc")
        error = app.screen.query_one("#error", Label)
        await wait_until(pilot, lambda: str(error.content), message="an error in the prompt")
        assert str(error.content) == "max_retries: must be an integer between 0 and 10000, got 'abc'"
        assert isinstance(app.screen, PromptScreen)
        assert seeded.config.settings().max_retries == 3
        assert "max_retries" not in seeded.config.overridden()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, PromptScreen))


async def test_reset_puts_a_setting_back_to_its_default(app, seeded):
    assert seeded.config.settings().backoff_base == 10.0
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.action_show_tab("settings")
        await wait_until(pilot, lambda: app.pane == "settings")
        select(app, "settings", "backoff_base")
        await pilot.press("backspace")
        await wait_until(pilot, lambda: "backoff_base" not in seeded.config.overridden(), message="reset")
        assert seeded.config.settings().backoff_base == 2.0
        await wait_until(pilot, lambda: table(app, "settings").get_row("backoff_base")[1] == "2")


# ── filtering, searching, the cursor ────────────────────────────────────────────────────────


async def test_jobs_tab_lists_every_job_newest_first_with_its_state(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert row_keys(app, "jobs") == list(SEEDED_JOBS)
        assert {j.id: j.state for j in app.snapshot.jobs} == SEEDED_JOBS
        assert {k: seeded.state(k) for k in SEEDED_JOBS} == SEEDED_JOBS
        assert row_keys(app, "dlq") == [], "a tab not on screen is not refreshed"
        app.action_show_tab("dlq")
        await wait_until(pilot, lambda: row_keys(app, "dlq") == ["import-feed", "flaky-sync"], message="the DLQ shown")
        await refreshed(pilot)
        before = table(app, "jobs").get_row("send-digest")
        seeded.queue.cancel(["send-digest"])  # changes a row of the Jobs tab, not of the DLQ
        await refreshed(pilot)
        assert table(app, "jobs").get_row("send-digest") == before, "the hidden Jobs tab was redrawn"


async def test_state_filter_shows_only_dead_jobs(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("6")
        await wait_until(pilot, lambda: app.snapshot.job_filter.state == JobState.DEAD)
        await pilot.pause()
        assert row_keys(app, "jobs") == ["import-feed", "flaky-sync"]
        assert {seeded.state(k) for k in row_keys(app, "jobs")} == {"dead"}
        await pilot.press("1")
        await wait_until(pilot, lambda: len(row_keys(app, "jobs")) == len(SEEDED_JOBS))


async def test_search_shows_only_matching_jobs_and_escape_clears_it(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash")
        search = app.query_one("#search", Input)
        await wait_until(pilot, lambda: search.display and search.has_focus)
        await pilot.press(*"sync", "enter")
        await wait_until(pilot, lambda: app.snapshot.job_filter.search == "sync")
        await pilot.pause()
        assert row_keys(app, "jobs") == ["flaky-sync"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(row_keys(app, "jobs")) == len(SEEDED_JOBS))
        assert not search.display


async def test_cursor_stays_on_the_same_job_when_a_new_one_arrives_on_top(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "deploy-web")
        row_before = table(app, "jobs").cursor_row
        seeded.queue.enqueue([JobSpec("echo newer", id="newer-job", cwd=CWD)], seeded.config.settings())
        await refreshed(pilot)
        assert row_keys(app, "jobs")[0] == "newer-job"
        assert table(app, "jobs").selected_key == "deploy-web"
        assert table(app, "jobs").cursor_row == row_before + 1


# ── commands with shell syntax ──────────────────────────────────────────────────────────────


async def test_a_command_with_brackets_is_shown_as_typed(app, seeded):
    seeded.queue.enqueue([JobSpec("echo [done] && echo ok", id="brackets", cwd=CWD)], seeded.config.settings())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        row = next(line for line in screen_text(app) if "brackets" in line)
        assert "echo [done] && echo ok" in row, row


async def test_a_command_with_a_closing_tag_does_not_crash_the_app(app, seeded):
    seeded.queue.enqueue([JobSpec("printf '[/b]\\n'", id="closing-tag", cwd=CWD)], seeded.config.settings())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.pause()
        assert "closing-tag" in row_keys(app, "jobs")
    assert app.return_code in (None, 0)


# ── detail, help, palette ───────────────────────────────────────────────────────────────────


async def test_detail_shows_the_job_and_its_output(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "backup-db")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        log = app.screen.query_one("#output", OutputView)
        await wait_until(pilot, lambda: log.line_count >= 3, message="the output")
        assert [line for line in log.plain_lines if line] == BACKUP_OUTPUT.decode().splitlines()
        assert app.screen.query_one("#runs", DataTable).row_count == 1
        assert "Output of run 1 (finished)" in shown_text(app.screen.query_one("#output-title"))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobDetailScreen))


async def test_detail_footer_offers_only_what_applies_to_a_job(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "backup-db")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await pilot.pause()
        offered = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        elsewhere = {"start_workers", "stop_worker", "force_stop_worker", "search", "cycle_filter", "retry_all_dead",
                     "edit_setting", "reset_setting"}
        assert not offered & elsewhere, sorted(offered & elsewhere)


async def test_help_opens_and_closes(app):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_table = app.screen.query_one("#help-table", DataTable)
        assert help_table.row_count == len(help_rows(MAIN))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_command_palette_lists_actions(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"retry")
        hits = app.screen.query_one(CommandList)

        def prompts() -> list[str]:
            return [str(getattr(o.prompt, "plain", o.prompt)) for o in hits._options]

        await wait_until(pilot, lambda: hits.option_count >= 2, message="palette hits")
        assert any(p.startswith("Retry: ") for p in prompts()), prompts()
        assert any(p.startswith("Retry all: ") for p in prompts()), prompts()
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_command_palette_runs_an_action(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"pause or resume all work")
        hits = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: hits.option_count >= 1 and hits.highlighted is not None, message="a hit")
        await pilot.press("enter")
        await wait_until(pilot, seeded.config.is_paused, message="paused from the palette")

