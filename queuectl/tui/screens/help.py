"""Every key of the screen the user is on, from the action registry (movement keys included)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close", id="close-help")]

    def __init__(self, rows: list[tuple[str, str, str]], title: str = "Keys") -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help"):
            yield Label(self.title_text, classes="dialog-title")
            table: DataTable = DataTable(id="help-table", cursor_type="none", show_cursor=False)
            table.add_columns("Key", "Where", "What")
            for row in self.rows:
                table.add_row(*row)
            yield table
            yield Label("Esc to close · keys can be remapped in $QUEUECTL_HOME/tui.toml (see the README)",
                        classes="hint")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
