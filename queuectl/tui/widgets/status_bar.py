"""The one-line status bar: counts per state, workers, throughput, paused or not."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from queuectl.tui.viewmodel import QueueSnapshot, status_line


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $boost; }
    """

    _snapshot: QueueSnapshot | None = None
    _shown: Text | None = None

    def show_snapshot(self, snapshot: QueueSnapshot) -> None:
        self._snapshot = snapshot
        self._show(status_line(snapshot, self.size.width or 120))

    def on_resize(self) -> None:
        if self._snapshot is not None:
            self._show(status_line(self._snapshot, self.size.width))

    def _show(self, line: Text) -> None:
        if line != self._shown:  # an update lays the screen out again: only when it changed
            self._shown = line
            self.update(line)
