"""One job: every field, its runs, and the output of the selected run, kept live while the screen is open.

It polls whatever the job's state (a retry from here starts a new run it must show); the output is
fetched again only when its run or its size changed, and decoded off the UI thread.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from queuectl import format as fmt
from queuectl.core import paths
from queuectl.core.clock import Clock
from queuectl.core.errors import QueuectlError
from queuectl.safe_text import one_line
from queuectl.tui import actions
from queuectl.tui.output_feed import FeedUpdate, OutputFeed
from queuectl.tui.service import JobDetail, QueueService
from queuectl.tui.viewmodel import styled_state
from queuectl.tui.widgets.keyed_table import KeyedTable
from queuectl.tui.widgets.output_view import OutputView

REFRESH_S = 0.5
RUN_COLUMNS = ("Run", "Took", "Exit", "Error", "Started", "Worker", "Host", "Attempt")


class JobDetailScreen(Screen[None]):
    BINDINGS = [*actions.bindings(actions.DETAIL), Binding("q", "close", "Back", show=False, id="close-detail-q")]

    def __init__(self, job_id: str, service: QueueService, clock: Clock) -> None:
        super().__init__()
        self.job_id = job_id
        self.service = service
        self.clock = clock
        self.run_number: int | None = None  # None follows the latest run
        self.job_state: str | None = None
        self._feed = OutputFeed()
        self._feed_lock = threading.Lock()  # a reload may start while the previous one still decodes
        self._seen: tuple[int, int] | None = None  # (run, output bytes) decoded so far
        self._title = "Output"

    @property
    def selected_job_id(self) -> str:
        return self.job_id

    def compose(self) -> ComposeResult:
        with Vertical(id="detail"):
            with Horizontal(id="detail-top"):
                with VerticalScroll(id="fields-box"):
                    yield Static(id="fields")
                yield KeyedTable(RUN_COLUMNS, id="runs")
            yield Static("Output", id="output-title", markup=False)
            yield OutputView(id="output")
            yield Input(placeholder="search the output (Enter: to the output, n/N next/previous, Esc: close)",
                        id="output-search")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#output-search", Input).display = False
        self.query_one("#output", OutputView).focus()
        self.load()

    def follow_latest_run(self) -> None:
        """Show the newest run's output again (after a retry from here)."""
        self.run_number = None
        self.query_one("#output", OutputView).following = True
        self.load()

    # ── loading ─────────────────────────────────────────────────────────────────────────────

    @work(thread=True, exclusive=True, group="detail")
    def load(self) -> None:
        with self._feed_lock:
            try:
                detail = self.service.detail(self.job_id, self.run_number, seen=self._seen)
            except QueuectlError as exc:
                self.app.call_from_thread(self._gone, str(exc))
                return
            except Exception as exc:  # the store is busy or gone: say so, keep polling
                self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
                return
            update: FeedUpdate | None = None
            if detail.output is not None:
                update = self._feed.feed(detail.output)
                self._seen = (detail.output.number, detail.output.output_bytes)
            elif not detail.output_unchanged:
                self._seen = None
            self.app.call_from_thread(self._show, detail, update)

    def _gone(self, message: str) -> None:
        self.notify(one_line(message), severity="warning")
        self.dismiss(None)

    def _failed(self, message: str) -> None:
        self.notify(one_line(message), title="store", severity="error", timeout=3)
        self._schedule()

    def _schedule(self) -> None:
        if self.is_attached:
            self.set_timer(REFRESH_S, self.load, name="detail poll")

    def _show(self, detail: JobDetail, update: FeedUpdate | None) -> None:
        if not self.is_attached:
            return
        now = self.clock.now()
        changed = detail.job.state != self.job_state
        self.job_state = detail.job.state
        try:
            self._show_fields(detail, now)
            self._show_runs(detail, now)
            self._show_output(detail, update)
        except NoMatches:  # the screen is being taken down while this load was under way
            return
        if changed:  # what r, x and D can do follows the job's state (a refresh redraws the footer)
            self.app.refresh_bindings()
        self._schedule()

    def _show_fields(self, detail: JobDetail, now: float) -> None:
        job = detail.job
        # exit code and last error come first: on a small terminal they are what the user came for
        fields: list[tuple[str, str | Text]] = [
            ("id", one_line(job.id)), ("state", styled_state(job.state)),
            ("exit code", "-" if job.exit_code is None else str(job.exit_code)),
            ("last error", one_line(job.last_error or "-")), ("command", one_line(job.command)),
            ("attempts", f"{job.attempts} of {job.max_retries + 1}"), ("priority", str(job.priority)),
            ("queue", one_line(job.queue)), ("timeout", "none" if not job.timeout else fmt.duration(job.timeout)),
            ("cwd", one_line(job.cwd or "-")), ("env", one_line(", ".join(sorted(job.env))) if job.env else "-"),
            *fmt.job_times(job, now),
            ("worker", one_line(job.worker_id or "-")),
        ]
        # what holds a waiting job back comes right after its state; the rest only when set
        if detail.waiting is not None:
            fields.insert(2, ("waiting", Text(one_line(detail.waiting.text), style="yellow")))
        if detail.after:
            fields.append(("after", one_line(", ".join(f"{dep} ({state})" for dep, state in detail.after))))
        if job.label:
            fields.insert(1, ("label", one_line(job.label)))
        if job.unique_key:
            fields.append(("unique", one_line(job.unique_key)))
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for name, value in fields:
            grid.add_row(name, value if isinstance(value, Text) else Text(value))
        self.query_one("#fields", Static).update(grid)

    def _show_runs(self, detail: JobDetail, now: float) -> None:
        runs = self.query_one("#runs", KeyedTable)
        rows = [
            (str(r.number), (
                str(r.number), fmt.duration(r.duration) if r.finished_at else "running",
                "-" if r.exit_code is None else str(r.exit_code), Text(one_line(r.error or "-")),
                fmt.age(r.started_at, now), one_line(r.worker_id), Text(one_line(r.host)), str(r.attempt),
            ))
            for r in detail.runs
        ]
        added = len(rows) > runs.row_count
        runs.sync(rows)
        if rows and self.run_number is None and (added or runs.cursor_row != len(rows) - 1):
            runs.move_cursor(row=len(rows) - 1)

    def _show_output(self, detail: JobDetail, update: FeedUpdate | None) -> None:
        view = self.query_one("#output", OutputView)
        out = detail.output
        if out is None and not detail.output_unchanged:
            self._title = "Output: no run yet"
            view.clear()
        if update is not None and out is not None:
            if update.reset:
                view.clear()
            view.append(update.lines, update.partial)
            state = "running" if not out.finished else "finished"
            cut = len(out.output) < out.output_bytes
            kept = f", last {fmt.size(len(out.output))} of {fmt.size(out.output_bytes)}" if cut else ""
            self._title = f"Output of run {out.number} ({state}{kept})"
        self._show_title()

    def _show_title(self) -> None:
        view = self.query_one("#output", OutputView)
        title = Text(self._title)
        if not view.following:
            title.append("   following paused — End to resume", style="bold yellow")
        if view.wrap:
            title.append("   wrapped", style="dim")
        if view.search_term:
            found = len(view.matches)
            at = f"{view.match_index + 1} of {found}" if found and view.match_index >= 0 else f"{found} found"
            title.append(f"   search '{one_line(view.search_term)}': {at}", style="bold cyan" if found else "bold red")
        self.query_one("#output-title", Static).update(title)

    def on_output_view_follow_changed(self, event: OutputView.FollowChanged) -> None:
        self._show_title()

    # ── keys ────────────────────────────────────────────────────────────────────────────────

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.run_number = int(event.row_key.value)
        self.query_one("#output", OutputView).following = True
        self.load()

    def action_toggle_follow(self) -> None:
        view = self.query_one("#output", OutputView)
        if view.following:
            view.following = False
        else:
            view.action_follow()

    def action_toggle_wrap(self) -> None:
        view = self.query_one("#output", OutputView)
        view.wrap = not view.wrap
        self._show_title()

    def action_close(self) -> None:
        if self.query_one("#output-search", Input).has_focus:
            self._close_search()  # Esc in the search box closes the box, not the screen
            return
        self.dismiss(None)

    # ── search and save ─────────────────────────────────────────────────────────────────────

    def action_search_output(self) -> None:
        search = self.query_one("#output-search", Input)
        search.display = True
        search.value = self.query_one("#output", OutputView).search_term
        search.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "output-search":
            self.query_one("#output", OutputView).search(event.value)
            self._show_title()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "output-search":
            view = self.query_one("#output", OutputView)
            view.search(event.value)
            event.input.display = bool(event.value)
            view.focus()
            self._show_title()

    def _close_search(self) -> None:
        search = self.query_one("#output-search", Input)
        if search.display:
            search.value = ""
            search.display = False
            view = self.query_one("#output", OutputView)
            view.search("")
            view.focus()
            self._show_title()

    def on_output_view_match_moved(self, event: OutputView.MatchMoved) -> None:
        self._show_title()

    def action_save_output(self) -> None:
        view = self.query_one("#output", OutputView)
        lines = view.plain_lines
        if not lines:
            self.notify("nothing to save: the output is empty", severity="warning", timeout=3)
            return
        run = self._seen[0] if self._seen else "none"
        name = f"queuectl-{_safe_name(self.job_id)}-run{run}.log"
        try:
            path = save_lines(lines, name)
        except OSError as exc:
            self.notify(f"could not save the output: {exc.strerror or exc}", severity="error", timeout=6)
            return
        self.notify(f"saved {len(lines):,} lines to {path}", title="Output", timeout=8)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "job"


def save_lines(lines: list[str], name: str) -> Path:
    """Write the output as shown (no escape sequences) to the current directory, or to
    $QUEUECTL_HOME when that is not writable; never over an existing file."""
    folder = Path.cwd() if os.access(Path.cwd(), os.W_OK) else paths.ensure_home()
    path = folder / name
    stem, n = path.stem, 1
    while path.exists():
        path = folder / f"{stem}.{n}.log"
        n += 1
    with open(path, "x", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
