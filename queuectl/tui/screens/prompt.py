"""Ask for one value, validated by a callback; the error shows in the dialog and nothing is changed."""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from queuectl.core.errors import QueuectlError
from queuectl.safe_text import one_line


class PromptScreen(ModalScreen[object | None]):
    """`submit(text)` runs in a thread: it returns the result to dismiss with, or raises QueuectlError."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, submit: Callable[[str], object], *, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.submit = submit
        self.initial = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.hint:
                yield Label(self.hint, classes="hint")
            yield Input(value=self.initial, id="value")
            yield Label("", id="error", classes="error", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.run_submit(event.value)

    @work(thread=True, exclusive=True)
    def run_submit(self, text: str) -> None:
        try:
            result = self.submit(text)
        except QueuectlError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self.dismiss, result)

    def _show_error(self, message: str) -> None:
        self.query_one("#error", Label).update(one_line(message))

    def action_cancel(self) -> None:
        self.dismiss(None)
