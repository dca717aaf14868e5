"""One job: every field, its runs, and the output of the selected run, followed live while it runs."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, Static

from queuectl import render
from queuectl.core.errors import QueuectlError
from queuectl.core.records import iso
from queuectl.tui.viewmodel import styled_state

REFRESH_S = 0.5


class JobDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("r", "app.retry_job", "Retry"),
        Binding("k", "app.kill_job", "Kill"),
        Binding("d", "app.delete_job", "Delete"),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.run_number: int | None = None  # None follows the latest run
        self._shown: tuple[int, int] | None = None  # (run number, bytes shown)
        self._run_keys: list[int] = []

    @property
    def selected_job_id(self) -> str:
        return self.job_id

    def compose(self) -> ComposeResult:
        with Vertical(id="detail"):
            with Horizontal(id="detail-top"):
                yield Static(id="fields")
                yield DataTable(id="runs", cursor_type="row")
            yield Static("Output", id="output-title")
            yield Log(id="output", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns("Run", "Attempt", "Worker", "Host", "Started", "Took", "Exit", "Error")
        self.load()

    @work(thread=True, exclusive=True, group="detail")
    def load(self) -> None:
        try:
            detail = self.app.service.detail(self.job_id, self.run_number)
        except QueuectlError as exc:
            self.app.call_from_thread(self._gone, str(exc))
            return
        self.app.call_from_thread(self._show, detail)

    def _gone(self, message: str) -> None:
        self.notify(message, severity="warning")
        self.dismiss(None)

    def _show(self, detail) -> None:
        if not self.is_attached:
            return
        job, now = detail.job, self.app.clock.now()
        fields = [
            ("id", job.id), ("state", styled_state(job.state)), ("command", job.command),
            ("attempts", f"{job.attempts} of {job.max_retries + 1}"), ("priority", str(job.priority)),
            ("queue", job.queue), ("timeout", "none" if not job.timeout else render.duration(job.timeout)),
            ("cwd", job.cwd or "-"), ("env", ", ".join(sorted(job.env)) if job.env else "-"),
            ("created", f"{iso(job.created_at)} ({render.age(job.created_at, now)})"),
            ("run at", f"{iso(job.run_at)} ({render.age(job.run_at, now)})"),
            ("worker", job.worker_id or "-"), ("exit code", "-" if job.exit_code is None else str(job.exit_code)),
            ("last error", job.last_error or "-"),
        ]
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold")
        grid.add_column()
        for name, value in fields:
            grid.add_row(name, value if isinstance(value, Text) else Text(value))
        self.query_one("#fields", Static).update(grid)
        runs = self.query_one("#runs", DataTable)
        keys = [r.number for r in detail.runs]
        if keys != self._run_keys:
            runs.clear()
            for r in detail.runs:
                runs.add_row(
                    str(r.number), str(r.attempt), r.worker_id, Text(r.host), render.age(r.started_at, now),
                    render.duration(r.duration) if r.finished_at else "running",
                    "-" if r.exit_code is None else str(r.exit_code), Text(r.error or "-"), key=str(r.number),
                )
            self._run_keys = keys
            if keys and self.run_number is None:
                runs.move_cursor(row=len(keys) - 1)
        self._show_output(detail.output)
        running = detail.output is not None and not detail.output.finished
        if running or job.state in ("pending", "processing", "failed"):
            self.set_timer(REFRESH_S, self.load)

    def _show_output(self, out) -> None:
        log = self.query_one("#output", Log)
        title = self.query_one("#output-title", Static)
        if out is None:
            title.update("Output: no run yet")
            log.clear()
            self._shown = None
            return
        state = "running" if not out.finished else "finished"
        truncated = f", last {render.size(len(out.output))} of {render.size(out.output_bytes)}" if out.output_bytes > len(out.output) else ""
        title.update(f"Output of run {out.number} ({state}{truncated})")
        shown_run, shown_bytes = self._shown or (None, 0)
        if shown_run == out.number and out.output_bytes >= shown_bytes:
            new = out.output_bytes - shown_bytes
            if new and new <= len(out.output):
                log.write(out.output[-new:].decode("utf-8", "replace"))
        else:
            log.clear()
            log.write(out.output.decode("utf-8", "replace"))
        self._shown = (out.number, out.output_bytes)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.run_number = int(event.row_key.value)
        self._shown = None
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)
