"""The preview beside the Jobs table on wide terminals: the selected job's fields, why it waits,
its last error and the tail of its output (live: reloaded with every refresh)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from queuectl import format as fmt
from queuectl.core.records import JobRecord, RunOutput, WaitingReason
from queuectl.safe_text import one_line, styled_output
from queuectl.tui.viewmodel import styled_state

TAIL_BYTES = 16 * 1024  # enough for a screenful of lines; older output is in the job view


def output_tail(out: RunOutput | None, lines: int) -> list[Text]:
    if out is None or lines <= 0:
        return []
    data = out.output[-TAIL_BYTES:]
    text = styled_output(data.decode("utf-8", "replace"))
    tail = text.rstrip("\n").split("\n")[-lines:]
    return [Text.from_ansi(line.expandtabs(), no_wrap=True, overflow="ellipsis") for line in tail]


class JobPreview(Static):
    DEFAULT_CSS = """
    JobPreview { width: 2fr; height: 1fr; border-left: vkey $foreground 20%; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.job_id: str | None = None

    def show_nothing(self, message: str = "no job selected") -> None:
        self.job_id = None
        self.update(Text(message, style="dim"))

    def show_job(self, job: JobRecord, out: RunOutput | None, now: float, waiting: WaitingReason | None = None,
                 label: str | None = None) -> None:
        self.job_id = job.id
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("job", Text(one_line(job.id)))
        grid.add_row("state", styled_state(job.state))
        if waiting is not None:  # the core's reason, as `queuectl show` and the job view say it
            grid.add_row("waiting", Text(one_line(waiting.text), style="yellow"))
        if label:
            grid.add_row("label", Text(one_line(label)))
        grid.add_row("command", Text(one_line(job.command)))
        grid.add_row("attempts", f"{job.attempts} of {job.max_retries + 1}")
        grid.add_row("queue", Text(f"{one_line(job.queue)}, priority {job.priority}"))
        if job.exit_code is not None:
            grid.add_row("exit code", str(job.exit_code))
        if job.last_error:
            grid.add_row("last error", Text(one_line(job.last_error), style="red"))
        for name, value in fmt.job_times(job, now):
            grid.add_row(name, value)
        title = Text("output", style="bold")
        if out is not None:
            title.append(f" · run {out.number} ({'finished' if out.finished else 'running'}, "
                         f"{fmt.size(out.output_bytes)})", style="dim")
        else:
            title.append(" — no run yet", style="dim")
        room = max(0, self.size.height - grid.row_count - 2)
        self.update(Group(grid, Text(""), title, *output_tail(out, room)))
