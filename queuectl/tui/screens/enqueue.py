"""The new-job form: validated exactly as the CLI validates; errors show in the form, nothing is saved."""

from __future__ import annotations

import os
from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from queuectl.core.errors import InvalidInput, QueuectlError
from queuectl.core.specs import parse_duration
from queuectl.safe_text import one_line

FIELDS = (
    ("command", "Command", "sh -c command, e.g. make test"),
    ("id", "Id", "optional; generated when empty"),
    ("priority", "Priority", "0; higher runs first"),
    ("max_retries", "Max retries", "default from settings"),
    ("delay", "Delay", "e.g. 30s, 5m, 2h; empty = now"),
    ("timeout", "Timeout", "e.g. 10m; empty = default, 0 = none"),
    ("queue", "Queue", "default"),
)


def form_to_fields(values: dict[str, str], now: float) -> dict[str, object]:
    """Form text → job fields (the spec validator checks them further); InvalidInput names the field."""
    fields: dict[str, object] = {"command": values.get("command", "")}
    for name in ("priority", "max_retries"):
        text = values.get(name, "").strip()
        if text:
            try:
                fields[name] = int(text)
            except ValueError:
                raise InvalidInput(f"{name}: must be a whole number, got '{text}'") from None
    for name in ("id", "queue"):
        if values.get(name, "").strip():
            fields[name] = values[name].strip()
    if values.get("delay", "").strip():
        try:
            fields["run_at"] = now + parse_duration(values["delay"].strip())
        except InvalidInput as exc:
            raise InvalidInput(f"delay: {exc}") from None
    if values.get("timeout", "").strip():
        try:
            fields["timeout"] = parse_duration(values["timeout"].strip())
        except InvalidInput as exc:
            raise InvalidInput(f"timeout: {exc}") from None
    return fields


class EnqueueScreen(ModalScreen[str | None]):
    """Dismisses with the new job's id, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Enqueue")]

    def __init__(self, enqueue: Callable[[dict[str, object], str], str], now: Callable[[], float]) -> None:
        super().__init__()
        self.enqueue = enqueue
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog form"):
            yield Label("New job", classes="dialog-title")
            for name, label, placeholder in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(placeholder=placeholder, id=f"field-{name.replace('_', '-')}")
            yield Label("", id="error", classes="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Enqueue (ctrl+s)", variant="primary", id="submit")
                yield Button("Cancel (esc)", id="cancel")

    def _values(self) -> dict[str, str]:
        return {name: self.query_one(f"#field-{name.replace('_', '-')}", Input).value for name, _, _ in FIELDS}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        try:
            fields = form_to_fields(self._values(), self.now())
        except QueuectlError as exc:
            self.show_error(str(exc))
            return
        self.save(fields)

    @work(thread=True, exclusive=True)
    def save(self, fields: dict[str, object]) -> None:
        try:
            job_id = self.enqueue(fields, os.getcwd())
        except QueuectlError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.dismiss, job_id)

    def show_error(self, message: str) -> None:
        self.query_one("#error", Label).update(one_line(message))

    def action_cancel(self) -> None:
        self.dismiss(None)
