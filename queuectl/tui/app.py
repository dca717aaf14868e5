"""QueuectlApp: live jobs, DLQ, workers and settings, with a key for every action.

One poll loop: a thread worker loads a QueueSnapshot through the core and posts SnapshotLoaded;
the handler applies it as keyed diffs; the next poll is scheduled only after that. Actions run
in thread workers that call the core, then notify and refresh at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, TabbedContent, TabPane

from queuectl.core import paths
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.errors import QueuectlError
from queuectl.core.records import RunOutput
from queuectl.core.settings import SETTINGS
from queuectl.safe_text import one_line
from queuectl.tui import actions, tui_config
from queuectl.tui.commands import ActionCommands
from queuectl.tui.messages import SnapshotFailed, SnapshotLoaded
from queuectl.tui.pulse import THROUGHPUT_MINUTES
from queuectl.tui.screens.confirm import ConfirmScreen
from queuectl.tui.screens.enqueue import EnqueueScreen
from queuectl.tui.screens.help import HelpScreen
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.screens.prompt import PromptScreen
from queuectl.tui.service import JobDetail, QueueService, parse_count
from queuectl.tui.viewmodel import (
    DLQ_COLUMNS,
    JOB_COLUMNS,
    QUEUE_COLUMNS,
    SCHEDULE_COLUMNS,
    SETTING_COLUMNS,
    SORT_OF_COLUMN,
    SORTS,
    STATE_FILTERS,
    WORKER_COLUMNS,
    JobFilter,
    QueueSnapshot,
    default_columns,
    dlq_cells,
    job_cells,
    queue_cells,
    schedule_cells,
    worker_cells,
)
from queuectl.tui.widgets.job_preview import JobPreview
from queuectl.tui.widgets.keyed_table import KeyedTable
from queuectl.tui.widgets.pulse_strip import PulseStrip
from queuectl.tui.widgets.status_bar import StatusBar

TYPING_PAUSE = 0.2  # seconds without a key before the search typed is applied
SLOW_LOAD_SPACING = 5  # the next poll waits at least this many times the last load's duration

JOB_ACTIONS = actions.DETAIL_ACTIONS  # what the job detail screen offers
PREVIEW_MIN_WIDTH = 160  # the preview pane shows beside the Jobs table from this many columns
DARK, LIGHT = "textual-dark", "textual-light"


class QueuectlApp(App[None]):
    CSS_PATH = Path(__file__).with_name("queuectl.tcss")
    TITLE = "queuectl"
    # Ctrl+C quits, as in htop and k9s (Textual's default only says "press ctrl+q")
    BINDINGS = [*actions.bindings(actions.MAIN),
                Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit-ctrl-c")]
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(
        self, service: QueueService, *, clock: Clock = SYSTEM_CLOCK, poll_interval: float = 1.0, page_size: int = 100,
        config: tui_config.TuiConfig | None = None, config_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.config = config or tui_config.TuiConfig()
        self.config_path = config_path  # where a changed theme is remembered (None: nowhere)
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme
        self.preview_on = True  # shown when the terminal is wide enough; v hides it
        self._preview_output: tuple[str | None, tuple[int, int] | None, RunOutput | None] = (None, None, None)
        self.service = service
        self.clock = clock
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.job_filter = JobFilter()
        self.snapshot: QueueSnapshot | None = None
        self._row_states: dict[tuple[str, str], str] = {}  # ("job"|"worker", id) → state, for check_action
        self._screenshot_dir: str | None = None
        self._pane_for_poll = "jobs"
        self._select_after_poll: str | None = None  # a job just enqueued here, selected once listed
        self._load_seconds = 0.0  # how long the last snapshot took to load (spaces the next poll)
        self._typed: Timer | None = None  # the search typed, applied once typing pauses

    # ── layout ──────────────────────────────────────────────────────────────────────────────

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield PulseStrip(id="pulse")
        yield Label("", id="hint", markup=False)
        with TabbedContent(id="tabs", initial="jobs"):
            with TabPane("Jobs", id="jobs"):
                yield Label("", id="jobs-caption", classes="caption")
                yield Input(placeholder="filter: id, command, queue or label (as you type; Enter: to the list; "
                                        "Esc clears)", id="search")
                with Horizontal(id="jobs-body"):
                    yield KeyedTable(JOB_COLUMNS, id="jobs-table", markable=True, flex="Command")
                    yield JobPreview(id="preview")
            with TabPane("DLQ", id="dlq"):
                yield Label("", id="dlq-caption", classes="caption")
                yield KeyedTable(DLQ_COLUMNS, id="dlq-table", markable=True, flex=DLQ_COLUMNS[-1])
            with TabPane("Workers", id="workers"):
                yield Label("", id="workers-caption", classes="caption")
                yield KeyedTable(WORKER_COLUMNS, id="workers-table")
            with TabPane("Queues", id="queues"):
                yield Label("", id="queues-caption", classes="caption")
                yield KeyedTable(QUEUE_COLUMNS, id="queues-table", fit=("Queue",))
            with TabPane("Schedules", id="schedules"):
                yield Label("", id="schedules-caption", classes="caption")
                yield KeyedTable(SCHEDULE_COLUMNS, id="schedules-table", flex="Command", fit=("Schedule",))
            with TabPane("Settings", id="settings"):
                yield Label("Stored settings (* = changed from the default); "
                            "running workers pick them up within a second.",
                            id="settings-caption", classes="caption")
                yield KeyedTable(SETTING_COLUMNS, id="settings-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.query_one("#hint", Label).display = False
        if self.config.keys:
            self.set_keymap(self.config.keys)
        for problem in self.config.problems:
            self.notify(problem, title="tui.toml", severity="warning", timeout=8)
        self._show_preview()
        self.poll()

    def on_resize(self, event: events.Resize) -> None:
        # the event's size: the app's own may still be the old one while its handlers run
        self._show_preview(event.size.width)
        if self.snapshot is not None:
            self._sync_table(self.snapshot)

    def watch_theme(self, theme: str) -> None:
        """A theme chosen here (ctrl+t or the palette) is remembered in tui.toml."""
        if self.config_path is None or theme == self.config.theme:
            return
        try:
            tui_config.save_theme(theme, self.config_path)
        except OSError as exc:
            self.notify(f"could not remember the theme in {self.config_path}: {exc.strerror}", severity="warning")
            return
        self.config = tui_config.TuiConfig(theme, self.config.keys)

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    @property
    def pane(self) -> str:
        return self.query_one("#tabs", TabbedContent).active or "jobs"

    @property
    def _shown_pane(self) -> str:
        """The tab whose rows a poll loads (read from the poll's thread: a plain attribute)."""
        return self._pane_for_poll

    def _pane_changed(self) -> None:
        if self.pane != self._pane_for_poll:
            self._pane_for_poll = self.pane
            self.poll()  # its rows were not loaded while it was hidden

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._pane_changed()
        if self.snapshot is not None:
            self._sync_table(self.snapshot)
        self.refresh_bindings()
        table = self.query_one(f"#{self.pane}-table", KeyedTable)
        table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """False hides a key (not for this tab or screen); None shows it disabled (not for this row)."""
        if not self.is_mounted or not self.screen_stack:
            return True
        known = actions.BY_NAME.get(action)
        screen = self.screen
        if isinstance(screen, ModalScreen) and not isinstance(screen, CommandPalette):
            # a dialog answers its own keys: no job, worker, filter or tab action runs behind it
            if known is not None:
                return action == "quit"
            return action not in ("filter_state", "show_tab")
        if isinstance(screen, JobDetailScreen):
            if known is None:  # 1-7 and F1-F4 would change the hidden Jobs tab
                return action not in ("filter_state", "show_tab")
            if not (actions.ANY in known.panes or action in JOB_ACTIONS):
                return False
        elif known is not None and not actions.applies(known, self.pane):
            return False
        return None if self.refusal(action) else True

    def refusal(self, action: str) -> str | None:
        """Why `action` cannot apply to the selection shown, or to one of the marks (None: it can)."""
        if action == "retry_all_dead":
            return "the DLQ is empty" if self.snapshot and not self.snapshot.counts["dead"] else None
        what = "worker" if action in ("stop_worker", "force_stop_worker") else "job"
        marks = self._marks() if action in actions.MARK_ACTIONS else []
        for job_id in marks:
            why = actions.refusal(action, "marked job", job_id, self._row_states.get(("job", job_id)))
            if why:
                return why
        if marks:
            return None
        key = self._selected()
        if key is None:
            return None
        if isinstance(self.screen, JobDetailScreen):
            state = self.screen.job_state
        else:
            state = self._row_states.get((what, key))
        return actions.refusal(action, what, key, state)

    def run_palette_action(self, action: actions.Action) -> None:
        """An action picked in the palette: on its tab (switching to it), or a message saying why not."""
        name = action.method
        if action.scope == actions.DETAIL:
            if isinstance(self.screen, JobDetailScreen):
                why = self.refusal(name) if action.name.startswith("app.") else None
                if why:
                    self.notify(why, severity="warning", timeout=3)
                else:
                    self.call_later(self.screen.run_action, action.name)
            return
        if isinstance(self.screen, JobDetailScreen) and not (actions.ANY in action.panes or name in JOB_ACTIONS):
            self.screen.dismiss(None)
        if not isinstance(self.screen, JobDetailScreen) and not actions.applies(action, self.pane):
            self.action_show_tab(action.panes[0])
            self.call_after_refresh(self.run_palette_action, action)
            return
        why = self.refusal(name)
        if why:
            self.notify(why, severity="warning", timeout=3)
            return
        self.call_later(self.run_action, name)

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if not self.screen_stack:  # a table cleared as the app closes
            return
        self.refresh_bindings()  # what r, x, D can do follows the selected row
        if event.data_table.id == "jobs-table":
            self.load_preview()

    def notify(self, message: str, *, title: str = "", severity: str = "information",  # type: ignore[override]
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification may quote job-controlled text (ids, errors): shown as text, one line."""
        super().notify(one_line(message), title=one_line(title), severity=severity, timeout=timeout,  # type: ignore[arg-type]
                       markup=False)

    # ── the preview pane ────────────────────────────────────────────────────────────────────

    def _preview_shown(self, width: int | None = None) -> bool:
        return self.preview_on and (self.size.width if width is None else width) >= PREVIEW_MIN_WIDTH

    def _show_preview(self, width: int | None = None) -> None:
        preview = self.query_one("#preview", JobPreview)
        shown = self._preview_shown(width)
        if preview.display != shown:
            preview.display = shown
            if shown:
                self.call_after_refresh(self.load_preview)  # once the app's size is the new one

    def action_toggle_preview(self) -> None:
        if self.size.width < PREVIEW_MIN_WIDTH:
            self.notify(f"the preview needs a terminal of {PREVIEW_MIN_WIDTH} columns or more "
                        f"(this one has {self.size.width})", severity="warning", timeout=3)
            return
        self.preview_on = not self.preview_on
        self._show_preview()

    def load_preview(self) -> None:
        if not self._preview_shown() or not self.screen_stack:
            return
        job_id = self.query_one("#jobs-table", KeyedTable).selected_key
        if job_id is None:
            self.query_one("#preview", JobPreview).show_nothing()
            return
        self._load_preview(job_id)

    @work(thread=True, exclusive=True, group="preview")
    def _load_preview(self, job_id: str) -> None:
        # The output is read again only when its run or size changed (as the job view does).
        seen_id, seen, kept = self._preview_output
        try:
            detail = self.service.detail(job_id, seen=seen if seen_id == job_id else None)
        except QueuectlError:
            return  # gone meanwhile: the next refresh moves the cursor
        except Exception as exc:
            self.post_message(SnapshotFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.call_from_thread(self._preview_loaded, detail)

    def _preview_loaded(self, detail: JobDetail) -> None:
        if not self.screen_stack:
            return
        if detail.output_unchanged:
            detail = detail._replace(output=self._preview_output[2])
        out = detail.output
        self._preview_output = (detail.job.id, (out.number, out.output_bytes) if out else None, out)
        self.query_one("#preview", JobPreview).show_job(
            detail.job, detail.output, self.clock.now(), detail.waiting, detail.job.label)

    # ── polling ─────────────────────────────────────────────────────────────────────────────

    @work(thread=True, exclusive=True, group="poll")
    def poll(self) -> None:
        started = time.monotonic()
        try:
            snapshot = self.service.snapshot(self.job_filter, self.page_size, frozenset({self._shown_pane}))
            self._load_seconds = time.monotonic() - started
        except QueuectlError as exc:
            self.post_message(SnapshotFailed(str(exc)))
            return
        except Exception as exc:  # the store went away or is busy: say so, keep polling
            self.post_message(SnapshotFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SnapshotLoaded(snapshot))

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        self.apply_snapshot(message.snapshot)
        self._schedule_poll()

    def on_snapshot_failed(self, message: SnapshotFailed) -> None:
        self.notify(message.error, title="store", severity="error", timeout=3)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if self.poll_interval > 0:
            # A slow load (a search that matches little at a million jobs reads every row) is not
            # repeated back to back: the TUI spends at most a sixth of a core on it.
            self.set_timer(max(self.poll_interval, SLOW_LOAD_SPACING * self._load_seconds), self.poll, name="poll")

    def apply_snapshot(self, snap: QueueSnapshot) -> None:
        self.snapshot = snap
        states = {("job", j.id): str(j.state) for j in (*snap.jobs, *snap.dlq)}
        states.update({("worker", w.id): w.state for w in snap.workers})
        if states != self._row_states:
            self._row_states = states
            self.refresh_bindings()
        self.query_one(StatusBar).show_snapshot(snap)
        self.query_one(PulseStrip).show(snap.pulse)
        self._sync_table(snap)
        if self.pane == "jobs" and self._preview_shown():
            self.load_preview()
        self._captions(snap)
        hint = self.query_one("#hint", Label)
        hint.display = snap.no_worker_hint is not None
        if snap.no_worker_hint:
            _update(hint, snap.no_worker_hint)
        if self._select_after_poll is not None:
            if self.query_one("#jobs-table", KeyedTable).select_key(self._select_after_poll):
                self._select_after_poll = None

    def _sync_table(self, snap: QueueSnapshot) -> None:
        """Only the table on screen is brought up to date (a tab is synced when it is shown):
        behind the job view, or on another tab, nothing is redrawn for nobody."""
        if not self.screen_stack or isinstance(self.screen, JobDetailScreen):
            return
        pane, now = self.pane, snap.now
        if snap.panes is not None and pane in ("jobs", "dlq", "queues", "schedules") and pane not in snap.panes:
            return  # loaded while another tab was shown: the next poll brings this one's rows
        table = self.query_one(f"#{pane}-table", KeyedTable)
        if pane == "jobs":
            table.show_columns(default_columns(snap.jobs, snap.job_filter, self.size.width, snap.waiting))
            table.sync([(j.id, job_cells(j, now, snap.waiting.get(j.id))) for j in snap.jobs])
            self._sort_labels(table, snap.job_filter)
        elif pane == "dlq":
            table.sync([(j.id, dlq_cells(j, now, snap.dlq_lines.get(j.id))) for j in snap.dlq])
        elif pane == "workers":
            table.sync([(w.id, worker_cells(w, now, snap.worker_stats.get(w.id))) for w in snap.workers])
        elif pane == "queues":
            table.sync([(q.name, queue_cells(q, snap.queue_rates.get(q.name, (0.0, 0.0)))) for q in snap.queues])
        elif pane == "schedules":
            table.sync([(sc.name, schedule_cells(sc, now)) for sc in snap.schedules])
        else:
            values = snap.settings.as_dict()
            table.sync([
                (key, (key, _fmt(values[key]) + (" *" if key in snap.overridden else ""), _fmt(d.default), d.help))
                for key, d in SETTINGS.items()
            ])

    def on_screen_resume(self) -> None:
        if self.snapshot is not None and self.screen_stack and self.screen is self.screen_stack[0]:
            self._sync_table(self.snapshot)

    def _sort_labels(self, table: KeyedTable, f: JobFilter) -> None:
        """The sorted column's header carries ▼ or ▲."""
        for key, column in SORTS:
            arrow = (" ▼" if f.descending else " ▲") if key == f.sort else ""
            table.set_label(column, column + arrow)

    def _captions(self, snap: QueueSnapshot) -> None:
        f = snap.job_filter
        first = f.page * snap.page_size + 1
        last = f.page * snap.page_size + len(snap.jobs)
        span = f"{first:,}–{last:,}" if snap.jobs else "none"
        of = snap.of_total()
        more = snap.searched.more if snap.searched is not None else snap.state_total > (f.page + 1) * snap.page_size
        marked = len(self.query_one("#jobs-table", KeyedTable).marks)
        extra = f" · {f.describe_sort()}" + (f" · [b]{marked:,} marked[/b]" if marked else "")
        filters = " ".join(
            f"[b]{i + 1}[/b]:{'[reverse]' if s == f.state else ''}{s.value if s else 'all'}"
            f"{'[/reverse]' if s == f.state else ''}"
            for i, s in enumerate(STATE_FILTERS)
        )
        paging = "  [dim]\\[ ] page[/dim]" if f.page or more else ""
        _update(self.query_one("#jobs-caption", Label),
                f"{_escape(f.describe())}: {span}{of}{extra}   {filters}{paging}")
        dead = snap.counts["dead"]
        dead_marked = len(self.query_one("#dlq-table", KeyedTable).marks)
        _update(self.query_one("#dlq-caption", Label),
            (f"{dead:,} dead job(s) used up their retries  (R retries all)" if dead
             else "No dead jobs: a job that uses up its retries shows here")
            + (f" · [b]{dead_marked:,} marked[/b]" if dead_marked else "")
        )
        paused_queues = sum(1 for q in snap.queues if q.paused)
        _update(self.query_one("#queues-caption", Label),
                f"{len(snap.queues):,} queue(s)" + (f", {paused_queues} paused" if paused_queues else "")
                + f" · /min over the last {THROUGHPUT_MINUTES} minutes · l sets a limit, P pauses or resumes the"
                + " selected queue")
        paused_schedules = sum(1 for sc in snap.schedules if sc.paused)
        _update(self.query_one("#schedules-caption", Label),
                f"{len(snap.schedules):,} schedule(s)" + (f", {paused_schedules} paused" if paused_schedules else "")
                + ". r runs the selected one now, P pauses or resumes it, D removes it.")
        running = sum(1 for w in snap.workers if w.state == "running")
        stopping = sum(1 for w in snap.workers if w.state == "stopping")
        _update(self.query_one("#workers-caption", Label),
            f"{running} running" + (f", {stopping} stopping" if stopping else "")
            + ". + starts more (detached: they keep running after you quit)."
        )

    def action_refresh(self) -> None:
        self.poll()

    # ── selection ───────────────────────────────────────────────────────────────────────────

    def _selected(self, pane: str | None = None) -> str | None:
        if isinstance(self.screen, JobDetailScreen):
            return self.screen.selected_job_id
        return self.query_one(f"#{pane or self.pane}-table", KeyedTable).selected_key

    def _with_selected(self, what: str, then: Callable[[str], None]) -> None:
        key = self._selected()
        if key is None:
            self.notify(f"no {what} selected", severity="warning", timeout=2)
            return
        then(key)

    # ── job actions ─────────────────────────────────────────────────────────────────────────

    def _detail_screen(self, job_id: str) -> JobDetailScreen:
        return JobDetailScreen(job_id, self.service, self.clock)

    def action_show_detail(self) -> None:
        self._with_selected("job", lambda job_id: self.push_screen(self._detail_screen(job_id)))

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        if event.data_table.id in ("jobs-table", "dlq-table"):
            self.push_screen(self._detail_screen(str(event.row_key.value)))
        elif event.data_table.id == "settings-table":
            self.action_edit_setting()

    # ── marks: actions apply to them when there are any ────────────────────────────────────

    def _marked_table(self) -> KeyedTable | None:
        if isinstance(self.screen, JobDetailScreen) or self.pane not in actions.JOB_PANES:
            return None
        return self.query_one(f"#{self.pane}-table", KeyedTable)

    def _marks(self) -> list[str]:
        """The marked job ids of the table on screen, in its order (none behind the job view)."""
        table = self._marked_table()
        if table is None or not table.marks:
            return []
        return [k for k in table.keys if k in table.marks]

    def action_mark_row(self) -> None:
        table = self._marked_table()
        if table is None or table.selected_key is None:
            return
        table.toggle_mark(table.selected_key)
        table.action_cursor_down()  # mark and move on, as in a file manager
        self._marks_changed()

    def action_mark_all(self) -> None:
        table = self._marked_table()
        if table is not None:
            table.mark_all()
            self._marks_changed()

    def _marks_changed(self) -> None:
        self.refresh_bindings()
        if self.snapshot is not None:
            self._captions(self.snapshot)

    def _targets(self, then: Callable[[list[str], str], None]) -> None:
        """Call `then(ids, what)` with the marked jobs, or else the selected one."""
        marks = self._marks()
        if marks:
            then(marks, f"{len(marks):,} marked job{'s' if len(marks) > 1 else ''}")
            return
        self._with_selected("job", lambda job_id: then([job_id], f"job {job_id}"))

    def _done_with_marks(self) -> None:
        table = self._marked_table()
        if table is not None:
            table.clear_marks()
            self._marks_changed()

    def _run_on(self, ids: list[str], call: Callable[[], object], message: str) -> None:
        if len(ids) > 1:
            self._done_with_marks()
        self.run_core(call, message)

    # ── job actions ─────────────────────────────────────────────────────────────────────────

    def action_retry_job(self) -> None:
        if isinstance(self.screen, JobDetailScreen):
            self.screen.follow_latest_run()  # the new run, once a worker starts it

        def retry(ids: list[str], what: str) -> None:
            go = lambda: self._run_on(ids, lambda: self.service.retry(ids), f"retried {what}")  # noqa: E731
            if len(ids) == 1:
                go()
                return
            self.push_screen(ConfirmScreen(f"Retry {what}?", "Retry", hint="All or none: if one cannot be "
                                           "retried, nothing changes."), lambda yes: go() if yes else None)
        self._targets(retry)

    def action_kill_job(self) -> None:
        def ask(ids: list[str], what: str) -> None:
            def answered(yes: bool | None) -> None:
                if yes:
                    self._run_on(ids, lambda: self.service.cancel(ids), f"cancelling {what}")
            running = len(ids) == 1 and self._job_state(ids[0]) == "processing"
            many = len(ids) > 1
            self.push_screen(ConfirmScreen(
                f"Kill {what}?", "Kill", "Keep running" if running else ("Keep them" if many else "Keep it"),
                hint="Running ones have their processes killed; all are cancelled and do not run again." if many
                else "Its processes are killed; it is cancelled and does not run again." if running
                else "It is cancelled and does not run.",
            ), answered)
        self._targets(ask)

    def _job_state(self, job_id: str) -> str | None:
        if isinstance(self.screen, JobDetailScreen):
            return self.screen.job_state
        return self._row_states.get(("job", job_id))

    def action_delete_job(self) -> None:
        def ask(ids: list[str], what: str) -> None:
            def answered(yes: bool | None) -> None:
                if yes:
                    if isinstance(self.screen, JobDetailScreen):
                        self.screen.dismiss(None)
                    self._run_on(ids, lambda: self.service.delete(ids), f"deleted {what}")
            self.push_screen(ConfirmScreen(f"Delete {what} and {'their' if len(ids) > 1 else 'its'} runs?",
                                           "Delete"), answered)
        self._targets(ask)

    def _waiting_action(self, verb: str, done: str, call: Callable[[list[str]], object], hint: str) -> None:
        """Hold, release or start: the selected job at once; marked jobs after one confirm naming the count."""
        def act(ids: list[str], what: str) -> None:
            go = lambda: self._run_on(ids, lambda: call(ids), f"{done} {what}")  # noqa: E731
            if len(ids) == 1:
                go()
                return
            self.push_screen(ConfirmScreen(f"{verb} {what}?", verb, hint=f"{hint} All or none: if one cannot be, "
                                           "nothing changes."), lambda yes: go() if yes else None)
        self._targets(act)

    def action_hold_job(self) -> None:
        self._waiting_action("Hold", "held", self.service.hold, "They wait until released (u).")

    def action_release_job(self) -> None:
        self._waiting_action("Release", "released", self.service.release, "They may run again.")

    def action_start_job(self) -> None:
        self._waiting_action("Start", "started", self.service.start_now,
                             "They are due now (back-off, run time and hold skipped; dependencies still apply).")

    def action_new_job(self) -> None:
        def done(job_id: str | None) -> None:
            if job_id:
                self.notify(f"enqueued {job_id}", timeout=2)
                self._select_after_poll = job_id
                self.action_show_tab("jobs")
                self.poll()
        self.push_screen(EnqueueScreen(self.service.enqueue, self.clock.now), done)

    def action_retry_all_dead(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_core(self.service.retry_all_dead, "retried the DLQ")
        dead = self.snapshot.counts["dead"] if self.snapshot else 0
        self.push_screen(ConfirmScreen(f"Retry all {dead:,} dead job(s)?", "Retry all"), answered)

    def action_toggle_pause(self) -> None:
        self.run_core(self.service.toggle_pause, None,
                      report=lambda paused: "queue paused" if paused else "queue resumed")

    # ── filtering and paging ───────────────────────────────────────────────────────────────

    def action_filter_state(self, index: int) -> None:
        if self.pane != "jobs" or not 0 <= index < len(STATE_FILTERS):
            return
        self._set_filter(replace(self.job_filter, state=STATE_FILTERS[index], page=0))

    def action_cycle_filter(self) -> None:
        i = STATE_FILTERS.index(self.job_filter.state)
        self._set_filter(replace(self.job_filter, state=STATE_FILTERS[(i + 1) % len(STATE_FILTERS)], page=0))

    def action_next_page(self) -> None:
        snap = self.snapshot
        if snap and len(snap.jobs) == snap.page_size:
            self._set_filter(replace(self.job_filter, page=self.job_filter.page + 1))

    def action_prev_page(self) -> None:
        if self.job_filter.page > 0:
            self._set_filter(replace(self.job_filter, page=self.job_filter.page - 1))

    def _set_filter(self, job_filter: JobFilter) -> None:
        self.job_filter = job_filter
        self.poll()

    def _sort_by(self, sort: str, descending: bool) -> None:
        f = self.job_filter
        self._set_filter(replace(f, sort=sort, descending=descending, page=0))

    def action_cycle_sort(self) -> None:
        keys = [key for key, _ in SORTS]
        self._sort_by(keys[(keys.index(self.job_filter.sort) + 1) % len(keys)], True)

    def action_reverse_sort(self) -> None:
        self._sort_by(self.job_filter.sort, not self.job_filter.descending)

    def on_data_table_header_selected(self, event: KeyedTable.HeaderSelected) -> None:
        """A click on a Jobs column's header sorts by it; a second click reverses the order."""
        if event.data_table.id != "jobs-table":
            return
        sort = SORT_OF_COLUMN.get(str(event.column_key.value))
        if sort is None:
            if event.column_key.value != "mark":
                self.notify(f"cannot sort by {event.column_key.value}", severity="warning", timeout=2)
            return
        f = self.job_filter
        self._sort_by(sort, not f.descending if sort == f.sort else True)

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.value = self.job_filter.search
        search.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """The filter follows what is typed, once typing pauses: a search may read every row at a
        million jobs, and one per key would run them side by side."""
        if event.input.id == "search" and event.input.display:
            if self._typed is not None:
                self._typed.stop()
            self._typed = self.set_timer(TYPING_PAUSE, lambda: self._search_typed(event.input), name="search")

    def _search_typed(self, search: Input) -> None:
        text = search.value.strip()
        if search.display and text != self.job_filter.search:
            self._set_filter(replace(self.job_filter, search=text, page=0))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self._set_filter(replace(self.job_filter, search=event.value.strip(), page=0))
            event.input.display = bool(event.value.strip())
            self.query_one("#jobs-table", KeyedTable).focus()

    def key_escape(self) -> None:
        search = self.query_one("#search", Input)
        if search.display and self.screen is self.screen_stack[0]:
            search.display = False
            search.value = ""
            self._set_filter(replace(self.job_filter, search="", page=0))
            self.query_one("#jobs-table", KeyedTable).focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self._pane_changed()
        if self.snapshot is not None:
            self._sync_table(self.snapshot)

    # ── workers ─────────────────────────────────────────────────────────────────────────────

    def action_start_workers(self) -> None:
        def done(started: object | None) -> None:
            if started:
                self.notify(f"started {len(started)} worker(s)", timeout=2)  # type: ignore[arg-type]
                self.poll()
        self.push_screen(
            PromptScreen("Start how many workers?", lambda text: self.service.start_workers(parse_count(text)),
                         value="1", hint="Detached: they keep running after you quit (queuectl worker stop)."),
            done,
        )

    def action_stop_worker(self) -> None:
        self._with_selected("worker", lambda w: self.run_core(lambda: self.service.stop_worker(w), f"stopping {w}"))

    def action_force_stop_worker(self) -> None:
        def ask(worker_id: str) -> None:
            def answered(yes: bool | None) -> None:
                if yes:
                    self.run_core(lambda: self.service.stop_worker(worker_id, force=True),
                                  f"force-stopping {worker_id}")
            self.push_screen(ConfirmScreen(
                f"Force-stop {worker_id}? Its running job is killed and goes back to pending.", "Force stop"), answered)
        self._with_selected("worker", ask)

    # ── queues ──────────────────────────────────────────────────────────────────────────────

    def action_set_queue_limit(self) -> None:
        def edit(name: str) -> None:
            info = next((q for q in self.snapshot.queues if q.name == name), None) if self.snapshot else None
            self.push_screen(
                PromptScreen(f"Limit of queue {name}", lambda text: self.service.set_queue_limit(name, text),
                             value=str(info.limit) if info and info.limit else "0",
                             hint="At most this many of its jobs run at once, on every worker and host (0: no limit)."),
                lambda result: (self.notify(f"queue {result[0]}: " + (f"at most {result[1]} at once" if result[1]
                                                                       else "no limit"), timeout=2), self.poll())
                if result else None,
            )
        self._with_selected("queue", edit)

    def action_toggle_queue_pause(self) -> None:
        self._with_selected("queue", lambda name: self.run_core(
            lambda: self.service.toggle_queue_pause(name), None,
            report=lambda paused: f"queue {name} paused" if paused else f"queue {name} resumed"))

    # ── schedules ───────────────────────────────────────────────────────────────────────────

    def action_run_schedule_now(self) -> None:
        self._with_selected("schedule", lambda name: self.run_core(
            lambda: self.service.run_schedule_now(name), None,
            report=lambda job_id: f"schedule {name}: enqueued {job_id}"))

    def action_toggle_schedule_pause(self) -> None:
        self._with_selected("schedule", lambda name: self.run_core(
            lambda: self.service.toggle_schedule_pause(name), None,
            report=lambda paused: f"schedule {name} paused" if paused else f"schedule {name} resumed"))

    def action_remove_schedule(self) -> None:
        def ask(name: str) -> None:
            def answered(yes: bool | None) -> None:
                if yes:
                    self.run_core(lambda: self.service.remove_schedule(name), f"removed schedule {name}")
            self.push_screen(ConfirmScreen(f"Remove schedule {name}?", "Remove", "Keep it",
                                           hint="No more runs are enqueued; the jobs it enqueued stay."), answered)
        self._with_selected("schedule", ask)

    # ── settings ────────────────────────────────────────────────────────────────────────────

    def action_edit_setting(self) -> None:
        def edit(key: str) -> None:
            current = self.snapshot.settings.as_dict()[key] if self.snapshot else ""
            definition = SETTINGS[key]
            self.push_screen(
                PromptScreen(f"Set {key}", lambda text: self.service.set_setting(key, text), value=_fmt(current),
                             hint=f"{definition.help} (default {_fmt(definition.default)})"),
                lambda result: (self.notify(f"{result[0]} = {_fmt(result[1])}", timeout=2), self.poll())
                if result else None,
            )
        self._with_selected("setting", edit)

    def action_reset_setting(self) -> None:
        self._with_selected("setting",
                            lambda key: self.run_core(lambda: self.service.reset_setting(key), f"{key} reset"))

    # ── help, quit ──────────────────────────────────────────────────────────────────────────

    def action_help(self) -> None:
        if isinstance(self.screen, JobDetailScreen):
            self.push_screen(HelpScreen(actions.help_rows(actions.DETAIL), "Keys of the job view"))
        else:
            self.push_screen(HelpScreen(actions.help_rows(actions.MAIN), "Keys"))

    # ── screenshot (palette) ────────────────────────────────────────────────────────────────

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Saved in the current directory (or $QUEUECTL_HOME when it is not writable), not in
        Textual's ~/Downloads, which may not exist. In a browser (--web) it is downloaded."""
        if path is None:
            path = _screenshot_dir()
        self._screenshot_dir = path
        return super().deliver_screenshot(filename, path, time_format)

    @on(events.DeliveryComplete)
    def _screenshot_saved(self, event: events.DeliveryComplete) -> None:
        if event.name == "screenshot":
            event.prevent_default()  # Textual's own message is markup and does not always say where
            self.notify(f"screenshot saved to {event.path}" if event.path else "screenshot sent to the browser",
                        title="Screenshot", timeout=6)

    @on(events.DeliveryFailed)
    def _screenshot_failed(self, event: events.DeliveryFailed) -> None:
        if event.name == "screenshot":
            event.prevent_default()
            self.notify(f"could not save the screenshot in {self._screenshot_dir}: {event.exception}",
                        title="Screenshot", severity="error", timeout=6)

    # ── running core calls off the UI thread ────────────────────────────────────────────────

    @work(thread=True, group="action")
    def run_core(self, call: Callable[[], object], done: str | None,
                 report: Callable[[object], str] | None = None) -> None:
        try:
            result = call()
        except QueuectlError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=4)
            return
        message = report(result) if report else done
        if message:
            self.call_from_thread(self.notify, message, timeout=2)
        self.call_from_thread(self.poll)


def _screenshot_dir() -> str:
    cwd = os.getcwd()
    if os.access(cwd, os.W_OK):
        return cwd
    return str(paths.ensure_home())


def _update(label: Label, content: str) -> None:
    """Update a label only when its text changes: every update lays the screen out again."""
    if getattr(label, "_queuectl_shown", None) != content:
        label._queuectl_shown = content  # type: ignore[attr-defined]
        label.update(content)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _fmt(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def make_app(
    store_url: str | None = None, *, clock: Clock = SYSTEM_CLOCK, poll_interval: float = 1.0, page_size: int = 100,
    process_stats: bool = True,
) -> QueuectlApp:
    """The app as the CLI, the tests and --web build it."""
    service = QueueService.open(store_url, clock, process_stats=process_stats)
    path = tui_config.config_path()
    return QueuectlApp(service, clock=clock, poll_interval=poll_interval, page_size=page_size,
                       config=tui_config.load(path), config_path=path)
