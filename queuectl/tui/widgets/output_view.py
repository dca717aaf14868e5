"""A job's output as styled lines: follows the end as it grows until the user scrolls up, wraps or not.

A Line API widget: each line is rendered to a Strip only when it comes on screen (and cached), so
a 10,000-character line or a megabyte of output costs nothing until looked at, and an append
touches only the new lines. Wrapping folds lines at the view's width, as a terminal does.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


class OutputView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    OutputView { background: $surface; overflow-y: scroll; }
    OutputView:focus { background-tint: $foreground 5%; }
    """
    BINDINGS = [Binding("end", "follow", "Follow", show=False)]

    following: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
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
