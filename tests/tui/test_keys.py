"""Keys and dialogs that do what they say: disabled where they cannot apply, refused with a reason
in the palette, nothing behind the detail screen, the kill dialog's words."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, Label

from queuectl.core.states import JobState
from queuectl.tui.screens.confirm import ConfirmScreen
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.screens.prompt import PromptScreen
from tui_support import loaded, select, shown_text, wait_until

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)


def enabled(app, key: str) -> bool | None:
    """Whether the footer offers `key` enabled (True), disabled (False), or not at all (None)."""
    binding = app.screen.active_bindings.get(key)
    return None if binding is None else binding.enabled


@pytest.mark.parametrize("job_id,kill,retry,delete", [
    ("backup-db", False, False, True),       # completed
    ("deploy-web", True, False, False),      # processing
    ("send-digest", True, False, True),      # pending
    ("flaky-sync", False, True, True),       # dead
])
async def test_footer_disables_what_cannot_apply_to_the_selected_job(app, seeded, job_id, kill, retry, delete):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", job_id)
        await pilot.pause()
        assert (enabled(app, "x"), enabled(app, "r"), enabled(app, "D")) == (kill, retry, delete)


async def test_a_disabled_key_does_nothing(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "backup-db")
        await pilot.press("x")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)


async def test_detail_footer_follows_the_jobs_state(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "backup-db")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job_state)
        await pilot.pause()
        assert (enabled(app, "x"), enabled(app, "r"), enabled(app, "D")) == (False, False, True)


async def _palette(pilot, app, text: str) -> None:
    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*text)
    hits = app.screen.query_one(CommandList)
    await wait_until(pilot, lambda: hits.option_count >= 1 and hits.highlighted is not None, message="a hit")
    await pilot.press("enter")
    await wait_until(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_palette_refuses_an_action_with_a_reason(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "backup-db")
        await _palette(pilot, app, "Cancel the selected job")
        await wait_until(pilot, lambda: app._notifications, message="a notification")
        messages = [n.message for n in app._notifications]
        assert "job backup-db is completed: only waiting or running jobs can be killed" in messages
        assert not isinstance(app.screen, ConfirmScreen)
        assert seeded.state("backup-db") == "completed"


async def test_palette_action_of_another_tab_switches_to_it(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.pane == "jobs"
        await _palette(pilot, app, "Start worker processes")
        await wait_until(pilot, lambda: app.pane == "workers", message="the Workers tab")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), message="the start prompt")


async def test_main_screen_keys_do_nothing_behind_the_detail_screen(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "backup-db")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        await pilot.press("6", "3", "f3", "f2", "s")
        await pilot.pause(0.2)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, JobDetailScreen))
        assert app.job_filter.state is None
        assert app.pane == "jobs"


async def test_kill_dialog_says_kill_and_keep_running(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        select(app, "jobs", "deploy-web")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert shown_text(app.screen.query_one("#question", Label)) == "Kill job deploy-web?"
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert labels == ["Kill (y)", "Keep running (n)"]
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert seeded.state("deploy-web") == JobState.PROCESSING


async def test_ctrl_c_quits(app, seeded):
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: app.return_code is not None, message="the app to exit")
    assert app.return_code == 0


async def test_palette_screenshot_saves_in_the_current_directory(app, seeded, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("HOME", str(tmp_path / "no-downloads"))  # no ~/Downloads to save into
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await _palette(pilot, app, "Screenshot")
        saved = await wait_until(pilot, lambda: list(here.glob("*.svg")), message="the screenshot file")
        await wait_until(pilot, lambda: any("screenshot saved to" in n.message for n in app._notifications))
        [message] = [n.message for n in app._notifications if "screenshot" in n.message]
        assert message == f"screenshot saved to {saved[0]}"
        assert "<svg" in saved[0].read_text()
