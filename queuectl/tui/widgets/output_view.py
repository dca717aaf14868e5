"""A job's output as styled lines: follows the end as it grows until the user scrolls up, wraps or not.

A Line API widget: each line is rendered to a Strip only when it comes on screen (and cached), so
a 10,000-character line or a megabyte of output costs nothing until looked at, and an append
touches only the new lines. Wrapping folds lines at the view's width, as a terminal does.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from queuectl.tui import actions

MATCH_STYLE = "reverse bold"


class OutputView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    OutputView { background: $surface; overflow-y: scroll; }
    OutputView:focus { background-tint: $foreground 5%; }
    """
    BINDINGS = actions.bindings(actions.OUTPUT)

    following: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    class MatchMoved(Message):
        """The search found other lines, or the cursor went to another match."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.search_term = ""
        self.matches: list[int] = []  # indexes of the lines holding the term
        self.match_index = -1
        self._lines: list[Text] = []     # complete lines, then the unfinished ones
        self._complete = 0
        self._widths: list[int] = []
        self._widest = 0
        self._row_starts: list[int] = [0]  # wrapped: first screen row of each line (+ the total)
        self._wrap_width = 0
        self._strips: LRUCache[int, Strip] = LRUCache(1024)

    # ── content ─────────────────────────────────────────────────────────────────────────────

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def plain_lines(self) -> list[str]:
        return [line.plain for line in self._lines]

    # ── search ──────────────────────────────────────────────────────────────────────────────

    def search(self, term: str) -> None:
        """Highlight `term` (case-insensitive) and go to its first match from the top of the view."""
        self.search_term = term
        self._strips.clear()
        self._find()
        self.match_index = -1
        if self.matches:
            top = self._line_at(int(self.scroll_y))
            self.match_index = next((i for i, n in enumerate(self.matches) if n >= top), 0)
            self._show_match()
        self.refresh()
        self.post_message(self.MatchMoved())

    def _find(self) -> None:
        needle = self.search_term.lower()
        self.matches = [i for i, line in enumerate(self._lines) if needle and needle in line.plain.lower()]

    def action_next_match(self) -> None:
        self._step(1)

    def action_prev_match(self) -> None:
        self._step(-1)

    def _step(self, by: int) -> None:
        if not self.matches:
            if self.search_term:
                self.app.bell()
            return
        self.match_index = (self.match_index + by) % len(self.matches)
        self._show_match()
        self.post_message(self.MatchMoved())

    def _show_match(self) -> None:
        line = self.matches[self.match_index]
        row = self._row_starts[line] if self.wrap and self._wrap_width and line < len(self._row_starts) else line
        self.following = False
        self.scroll_to(y=max(0, row - self.scrollable_content_region.height // 3), animate=False, immediate=True)

    def _line_at(self, row: int) -> int:
        if self.wrap and self._wrap_width:
            return max(0, bisect_right(self._row_starts, row) - 1)
        return row

    def clear(self) -> None:
        self._lines, self._widths, self._complete, self._widest = [], [], 0, 0
        self._strips.clear()
        self._layout()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def append(self, lines: list[Text], partial: list[Text]) -> None:
        """Add complete `lines`; `partial` replaces the unfinished end shown so far."""
        del self._lines[self._complete:]
        del self._widths[self._complete:]
        for index in range(self._complete, self._complete + len(lines) + len(partial) + 1):
            self._strips.discard(index)
        self._lines += lines
        self._complete = len(self._lines)
        self._lines += partial
        widths = [line.cell_len for line in (*lines, *partial)]
        self._widths += widths
        self._widest = max(self._widest, *widths) if widths else self._widest
        self._layout()
        if self.search_term:
            self._find()
        if self.following:
            self._to_end()
        self.refresh()

    # ── layout ──────────────────────────────────────────────────────────────────────────────

    def _layout(self) -> None:
        width = self.scrollable_content_region.width
        if self.wrap and width > 0:
            starts, row = [0], 0
            for w in self._widths:
                row += max(1, -(-w // width))
                starts.append(row)
            self._row_starts, self._wrap_width = starts, width
            self.virtual_size = Size(width, row)
        else:
            self.virtual_size = Size(self._widest, len(self._lines))

    def on_resize(self) -> None:
        if self.wrap and self.scrollable_content_region.width != self._wrap_width:
            self._layout()
            if self.following:
                self._to_end()

    def watch_wrap(self) -> None:
        self._layout()
        self.scroll_to(x=0, animate=False)
        if self.following:
            self._to_end()
        self.refresh()

    # ── following ───────────────────────────────────────────────────────────────────────────

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        # Only the user scrolls up: appends scroll down, and a shrink clamps to the bottom.
        if new < old and new < self.max_scroll_y and self.following:
            self.following = False

    def watch_following(self, following: bool) -> None:
        if following:
            self._to_end()
        self.post_message(self.FollowChanged(following))

    def action_follow(self) -> None:
        self.following = True
        self._to_end()

    def _to_end(self) -> None:
        """Scroll to the end once the new size is laid out, unless the user scrolled up meanwhile."""
        def end() -> None:
            if self.following:
                self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.call_after_refresh(end)

    # ── rendering ───────────────────────────────────────────────────────────────────────────

    def _strip(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            line = self._lines[index]
            if self.search_term:
                line = line.copy()
                line.highlight_words([self.search_term], MATCH_STYLE, case_sensitive=False)
            strip = Strip(list(line.render(self.app.console)), self._widths[index])
            self._strips[index] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if self.wrap and self._wrap_width:
            index = bisect_right(self._row_starts, row) - 1
            start = (row - self._row_starts[index]) * self._wrap_width if index < len(self._lines) else 0
        else:
            index, start = row, scroll_x
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        return self._strip(index).crop_extend(start, start + width, self.rich_style).apply_style(self.rich_style)
