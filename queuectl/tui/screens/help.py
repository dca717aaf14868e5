"""Every key, from the action registry."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from queuectl.tui.actions import ACTIONS, key_label


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help"):
            yield Label("Keys", classes="dialog-title")
            table: DataTable = DataTable(id="help-table", cursor_type="none", show_cursor=False)
            table.add_columns("Key", "Where", "What")
            for action in ACTIONS:
                where = "everywhere" if "*" in action.panes else ", ".join(action.panes)
                table.add_row(key_label(action.key), where, action.help)
            table.add_row("1-7", "jobs", "Filter: all, pending, processing, completed, failed, dead, cancelled")
            table.add_row("f1-f4", "everywhere", "Jobs, DLQ, Workers, Settings tabs")
            table.add_row("ctrl+p", "everywhere", "Command palette: every action by name")
            table.add_row("home/end", "tables", "First / last row")
            table.add_row("f, end", "job view", "Follow the output again (scrolling up pauses following)")
            table.add_row("w", "job view", "Wrap long output lines, or not")
            table.add_row("ctrl+c", "everywhere", "Quit, as q")
            yield table
            yield Label("Esc to close", classes="hint")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
