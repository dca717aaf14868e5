"""Job output in the detail view: styled text, never control sequences passed to the terminal.

The fixture job prints every hostile sequence of issue 11 (clear, cursor moves, OSC title and
clipboard, DCS/APC/PM/SOS, bell, backspace, C1) among colours, a progress bar, invalid UTF-8, tabs
and a 10,000-character line. What the app shows is checked line by line and style by style; the
snapshots are in test_snapshots.py, the real terminal in test_terminal.py.
"""

from __future__ import annotations

import re

import pytest
from rich.color import Color

from queuectl.core.records import RunOutput, RunStart
from queuectl.core.results import exited
from queuectl.core.specs import JobSpec
from queuectl.tui.output_feed import OutputFeed
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.widgets.output_view import OutputView
from tui_support import (
    CWD,
    HOST,
    HOSTILE_LINES,
    HOSTILE_OUTPUT,
    W_BUSY,
    add_finished_job,
    loaded,
    select,
    table,
    wait_until,
)

SIZE = (120, 40)
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _feed_in_chunks(data: bytes, size: int) -> list[str]:
    """The lines a viewer shows after taking `data` in as a running job prints it, `size` bytes at a time."""
    feed, lines, partial = OutputFeed(), [], []
    for end in [*range(size, len(data), size), len(data)]:
        update = feed.feed(RunOutput("j", 1, end == len(data), data[:end], end))
        if update.reset:
            lines = []
        lines += [t.plain for t in update.lines]
        partial = [t.plain for t in update.partial]
    return lines + partial


def test_the_feed_drops_every_control_and_keeps_the_text():
    assert _feed_in_chunks(HOSTILE_OUTPUT, len(HOSTILE_OUTPUT)) == HOSTILE_LINES


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 4096])
def test_chunk_boundaries_inside_escapes_and_utf8_change_nothing(size):
    """A poll may end inside an escape sequence, a UTF-8 character or a `\\r` redraw."""
    data = HOSTILE_OUTPUT + "café ✓ ünïcödé\n".encode() + b"\x1b]0;split-title\x07\x1bPmulti\nline\npayload\x1b\\tail\n"
    expected = _feed_in_chunks(data, len(data))
    assert expected[-2:] == ["café ✓ ünïcödé", "tail"]
    assert _feed_in_chunks(data, size) == expected


def test_the_feed_keeps_colours_across_lines_and_drops_default_colours():
    feed = OutputFeed()
    update = feed.feed(RunOutput("j", 1, True, b"\x1b[31mred\nstill red\x1b[39m default\n", 40))
    first, second = update.lines
    assert first.spans[0].style.color == Color.parse("color(1)")
    assert second.spans[0].style.color == Color.parse("color(1)")
    # SGR 39 ("the terminal's default") must not paint over the app's own colours
    assert all(not (s.style.color and s.style.color.is_default) for s in second.spans if not isinstance(s.style, str))


async def _open_hostile(app, seeded, clock, pilot) -> OutputView:
    await loaded(pilot)
    select(app, "jobs", "hostile")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
    view = app.screen.query_one("#output", OutputView)
    await wait_until(pilot, lambda: view.line_count == len(HOSTILE_LINES), message="the output")
    await pilot.pause()
    return view


@pytest.mark.asyncio
async def test_detail_shows_hostile_output_as_styled_text(app, seeded, clock):
    add_finished_job(seeded, clock, "hostile", "sh ./hostile.sh", HOSTILE_OUTPUT)
    async with app.run_test(size=SIZE) as pilot:
        view = await _open_hostile(app, seeded, clock, pilot)
        assert view.plain_lines == HOSTILE_LINES
        for line in view._lines:
            assert not CONTROLS.search(line.plain), repr(line.plain)
        styled = view._lines[3]
        colours = {styled.plain[s.start:s.end]: s.style for s in styled.spans}
        assert colours["red"].color == Color.parse("color(1)")
        assert colours["bold green"].bold and colours["bold green"].color == Color.parse("color(2)")
        assert colours["on blue"].bgcolor == Color.parse("color(4)")
        assert colours["reverse"].reverse
        # the screen shows what it holds: every rendered cell is text, no control reaches a strip
        for y in range(view.size.height):
            assert not CONTROLS.search(view.render_line(y).text)


@pytest.mark.asyncio
async def test_a_10000_character_line_scrolls_sideways_and_wraps(app, seeded, clock):
    add_finished_job(seeded, clock, "hostile", "sh ./hostile.sh", HOSTILE_OUTPUT)
    async with app.run_test(size=SIZE) as pilot:
        view = await _open_hostile(app, seeded, clock, pilot)
        assert view.virtual_size.width >= 10_005
        await pilot.press("w")
        await wait_until(pilot, lambda: view.wrap and view.virtual_size.width == view.scrollable_content_region.width)
        width = view.scrollable_content_region.width
        assert view.virtual_size.height == len(HOSTILE_LINES) - 1 + -(-10_005 // width)
        await pilot.press("w")
        await wait_until(pilot, lambda: not view.wrap and view.virtual_size.width >= 10_005)


HOSTILE_COMMAND = "printf '\\033]0;pwned-title\\007'\x1b[2J\x1b]52;c;cHduZWQ=\x07\nrm -rf\r\t/tmp/x\x08\x9b1m"
HOSTILE_ERROR = "exit code 3: \x1b[2J\x1b[5;40Hcleared\x07\nsecond line\x1b]0;pwned-title\x07"


@pytest.mark.asyncio
async def test_tables_show_job_controlled_text_without_controls(app, seeded, clock):
    """The Jobs and DLQ tables and the notifications show commands and errors as one line of text."""
    add_finished_job(seeded, clock, "hostile", HOSTILE_COMMAND, b"", exit_code=3)
    seeded.queue.enqueue([JobSpec(HOSTILE_COMMAND, id="hostile-dead", cwd=CWD, max_retries=0, priority=100)],
                         seeded.config.settings())
    claimed = seeded.queue.claim(W_BUSY)
    assert claimed.id == "hostile-dead"
    seeded.queue.finish(claimed, W_BUSY, RunStart(HOST, 5301, None, clock.now()), exited(3, HOSTILE_ERROR),
                        seeded.config.settings())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.action_show_tab("dlq")
        await pilot.pause()
        rows = (("jobs", "hostile"), ("dlq", "hostile-dead"))
        cells = [str(c) for pane, key in rows for c in table(app, pane).get_row(key)]
        for cell in cells:
            assert not CONTROLS.search(cell), repr(cell)
        command = str(table(app, "jobs").get_row("hostile")[-1])
        assert command == "printf '\\033]0;pwned-title\\007' rm -rf /tmp/x"
        assert "cleared second line" in str(table(app, "dlq").get_row("hostile-dead")[-1])
        app.notify(HOSTILE_ERROR, title="\x1b]0;t\x07x")
        await pilot.pause()
        for toast in app._notifications:
            assert not CONTROLS.search(toast.message + toast.title), repr(toast.message)


def test_table_ages_tick_by_the_minute_past_a_minute():
    """A hundred rows' ages must not all change (and redraw) every second: the idle cost."""
    from queuectl.tui.viewmodel import coarse_age

    assert coarse_age(100.0, 142.0) == "42s ago"
    assert [coarse_age(0.0, t) for t in (185.0, 186.0, 239.0)] == ["3m ago"] * 3
    assert coarse_age(400.0, 100.0) == "in 5m"
    assert coarse_age(0.0, 7300.0) == "2h01m ago"
    # never backwards: past 59s comes 1m, even when the 15 s step is behind
    assert [coarse_age(10.0, t) for t in (69.0, 71.0, 74.0)] == ["59s ago", "1m ago", "1m ago"]
