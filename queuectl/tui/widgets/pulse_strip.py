"""The header strip: completed, failed and waiting per minute over the last half hour as sparklines,
and the slots in use. Each part is redrawn only when its numbers change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline

from queuectl.tui.viewmodel import PULSE_MINUTES, Pulse


class PulseStrip(Horizontal):
    DEFAULT_CSS = """
    PulseStrip { height: 1; padding: 0 1; background: $boost; }
    PulseStrip Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    PulseStrip Label.slots { padding: 0 0 0 1; }
    PulseStrip Sparkline { width: 1fr; min-width: 6; max-width: 30; margin: 0 1 0 0; }
    PulseStrip #pulse-completed > .sparkline--max-color { color: $success; }
    PulseStrip #pulse-completed > .sparkline--min-color { color: $success 30%; }
    PulseStrip #pulse-failed > .sparkline--max-color { color: $error; }
    PulseStrip #pulse-failed > .sparkline--min-color { color: $error 30%; }
    PulseStrip #pulse-waiting > .sparkline--max-color { color: $warning; }
    PulseStrip #pulse-waiting > .sparkline--min-color { color: $warning 30%; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: Pulse | None = None

    def compose(self) -> ComposeResult:
        yield Label(f"{PULSE_MINUTES}m", classes="span")
        for name in ("completed", "failed", "waiting"):
            yield Label("", id=f"pulse-{name}-label")
            yield Sparkline([0], id=f"pulse-{name}", summary_function=max)
        yield Label("", id="pulse-slots", classes="slots")

    def show(self, pulse: Pulse) -> None:
        if pulse == self._shown:
            return
        before, self._shown = self._shown, pulse
        for name, short in (("completed", "done"), ("failed", "fail"), ("waiting", "wait")):
            values = getattr(pulse, name)
            if before is None or getattr(before, name) != values:
                # runs: how many in the span; waiting: how many now
                shown = (values[-1] if values else 0) if name == "waiting" else sum(values)
                self.query_one(f"#pulse-{name}-label", Label).update(f"{short} {shown:,}")
                padded = [0] * (PULSE_MINUTES - len(values)) + list(values)  # waiting: sampled since opened
                self.query_one(f"#pulse-{name}", Sparkline).data = padded
        self.query_one("#pulse-slots", Label).update(f"slots {pulse.slots_busy}/{pulse.slots_total} busy")
