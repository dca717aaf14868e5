"""QueuectlApp: live jobs, DLQ, workers and settings, with a key for every action.

One poll loop: a thread worker loads a QueueSnapshot through the core and posts SnapshotLoaded;
the handler applies it as keyed diffs; the next poll is scheduled only after that. Actions run
in thread workers that call the core, then notify and refresh at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import CommandPalette
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, TabbedContent, TabPane

from queuectl.core import paths
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.errors import QueuectlError
from queuectl.core.settings import SETTINGS
from queuectl.safe_text import one_line
from queuectl.tui import actions
from queuectl.tui.commands import ActionCommands
from queuectl.tui.messages import SnapshotFailed, SnapshotLoaded
from queuectl.tui.screens.confirm import ConfirmScreen
from queuectl.tui.screens.enqueue import EnqueueScreen
from queuectl.tui.screens.help import HelpScreen
from queuectl.tui.screens.job_detail import JobDetailScreen
from queuectl.tui.screens.prompt import PromptScreen
from queuectl.tui.service import QueueService, parse_count
from queuectl.tui.viewmodel import (
    DLQ_COLUMNS,
    JOB_COLUMNS,
    SETTING_COLUMNS,
    STATE_FILTERS,
    WORKER_COLUMNS,
    JobFilter,
    QueueSnapshot,
    dlq_cells,
    job_cells,
    worker_cells,
)
from queuectl.tui.widgets.keyed_table import KeyedTable
from queuectl.tui.widgets.status_bar import StatusBar

JOB_ACTIONS = ("retry_job", "kill_job", "delete_job")  # what the job detail screen offers


class QueuectlApp(App[None]):
    CSS_PATH = Path(__file__).with_name("queuectl.tcss")
    TITLE = "queuectl"
    # Ctrl+C quits, as in htop and k9s (Textual's default only says "press ctrl+q")
    BINDINGS = [*actions.bindings(), Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]
    COMMANDS = App.COMMANDS | {ActionCommands}

    def __init__(
        self, service: QueueService, *, clock: Clock = SYSTEM_CLOCK, poll_interval: float = 1.0, page_size: int = 100
    ) -> None:
        super().__init__()
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

    # ── layout ──────────────────────────────────────────────────────────────────────────────

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label("", id="hint", markup=False)
        with TabbedContent(id="tabs", initial="jobs"):
            with TabPane("Jobs", id="jobs"):
                yield Label("", id="jobs-caption", classes="caption")
                yield Input(placeholder="search id or command, Enter to apply, Esc to clear", id="search")
                yield KeyedTable(JOB_COLUMNS, id="jobs-table")
            with TabPane("DLQ", id="dlq"):
                yield Label("", id="dlq-caption", classes="caption")
                yield KeyedTable(DLQ_COLUMNS, id="dlq-table")
            with TabPane("Workers", id="workers"):
                yield Label("", id="workers-caption", classes="caption")
                yield KeyedTable(WORKER_COLUMNS, id="workers-table")
            with TabPane("Settings", id="settings"):
                yield Label("Stored settings (* = changed from the default); "
                            "running workers pick them up within a second.",
                            id="settings-caption", classes="caption")
                yield KeyedTable(SETTING_COLUMNS, id="settings-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        self.query_one("#hint", Label).display = False
        self.poll()

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
        """Why `action` cannot apply to the selection shown (None: it can)."""
        if action == "retry_all_dead":
            return "the DLQ is empty" if self.snapshot and not self.snapshot.counts["dead"] else None
        what = "worker" if action in ("stop_worker", "force_stop_worker") else "job"
        key = self._selected()
        if key is None:
            return None
        if isinstance(self.screen, JobDetailScreen):
            state = self.screen.job_state
        else:
            state = self._row_states.get((what, key))
        return actions.refusal(action, what, key, state)

    def run_palette_action(self, name: str) -> None:
        """An action picked in the palette: on its tab (switching to it), or a message saying why not."""
        action = actions.BY_NAME[name]
        if isinstance(self.screen, JobDetailScreen) and not (actions.ANY in action.panes or name in JOB_ACTIONS):
            self.screen.dismiss(None)
        if not isinstance(self.screen, JobDetailScreen) and not actions.applies(action, self.pane):
            self.action_show_tab(action.panes[0])
            self.call_after_refresh(self.run_palette_action, name)
            return
        why = self.refusal(name)
        if why:
            self.notify(why, severity="warning", timeout=3)
            return
        self.call_later(self.run_action, name)

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self.refresh_bindings()  # what r, k, d, x can do follows the selected row

    def notify(self, message: str, *, title: str = "", severity: str = "information",  # type: ignore[override]
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification may quote job-controlled text (ids, errors): shown as text, one line."""
        super().notify(one_line(message), title=one_line(title), severity=severity, timeout=timeout,  # type: ignore[arg-type]
                       markup=False)

    # ── polling ─────────────────────────────────────────────────────────────────────────────

    @work(thread=True, exclusive=True, group="poll")
    def poll(self) -> None:
        try:
            snapshot = self.service.snapshot(self.job_filter, self.page_size, frozenset({self._shown_pane}))
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
            self.set_timer(self.poll_interval, self.poll, name="poll")

    def apply_snapshot(self, snap: QueueSnapshot) -> None:
        self.snapshot = snap
        states = {("job", j.id): str(j.state) for j in (*snap.jobs, *snap.dlq)}
        states.update({("worker", w.id): w.state for w in snap.workers})
        if states != self._row_states:
            self._row_states = states
            self.refresh_bindings()
        self.query_one(StatusBar).show_snapshot(snap)
        self._sync_table(snap)
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
        if snap.panes is not None and pane in ("jobs", "dlq") and pane not in snap.panes:
            return  # loaded while another tab was shown: the next poll brings this one's rows
        table = self.query_one(f"#{pane}-table", KeyedTable)
        if pane == "jobs":
            table.sync([(j.id, job_cells(j, now, snap.waiting.get(j.id))) for j in snap.jobs])
        elif pane == "dlq":
            table.sync([(j.id, dlq_cells(j, now)) for j in snap.dlq])
        elif pane == "workers":
            table.sync([(w.id, worker_cells(w, now, snap.worker_stats.get(w.id))) for w in snap.workers])
        else:
            values = snap.settings.as_dict()
            table.sync([
                (key, (key, _fmt(values[key]) + (" *" if key in snap.overridden else ""), _fmt(d.default), d.help))
                for key, d in SETTINGS.items()
            ])

    def on_screen_resume(self) -> None:
        if self.snapshot is not None and self.screen_stack and self.screen is self.screen_stack[0]:
            self._sync_table(self.snapshot)

    def _captions(self, snap: QueueSnapshot) -> None:
        f = snap.job_filter
        first = f.page * snap.page_size + 1
        last = f.page * snap.page_size + len(snap.jobs)
        total = snap.matching_total
        span = f"{first:,}–{last:,}" if snap.jobs else "none"
        of = f" of {total:,}" if total is not None else ""
        filters = " ".join(
            f"[b]{i + 1}[/b]:{'[reverse]' if s == f.state else ''}{s.value if s else 'all'}"
            f"{'[/reverse]' if s == f.state else ''}"
            for i, s in enumerate(STATE_FILTERS)
        )
        paging = "  [dim]\\[ ] page[/dim]" if total is None or total > snap.page_size else ""
        _update(self.query_one("#jobs-caption", Label), f"{f.describe()}: {span}{of}   {filters}{paging}")
        dead = snap.counts["dead"]
        _update(self.query_one("#dlq-caption", Label),
            f"{dead:,} dead job(s) used up their retries" + ("  (R retries all)" if dead else "")
        )
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

    def action_show_detail(self) -> None:
        self._with_selected("job", lambda job_id: self.push_screen(JobDetailScreen(job_id)))

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        if event.data_table.id in ("jobs-table", "dlq-table"):
            self.push_screen(JobDetailScreen(str(event.row_key.value)))
        elif event.data_table.id == "settings-table":
            self.action_edit_setting()

    def action_retry_job(self) -> None:
        if isinstance(self.screen, JobDetailScreen):
            self.screen.follow_latest_run()  # the new run, once a worker starts it
        self._with_selected("job", lambda job_id: self.run_core(
            lambda: self.service.retry([job_id]), f"retried {job_id}"))

    def action_kill_job(self) -> None:
        def ask(job_id: str) -> None:
            def answered(yes: bool | None) -> None:
                if yes:
                    self.run_core(lambda: self.service.cancel([job_id]), f"cancelling {job_id}")
            running = self._job_state(job_id) == "processing"
            self.push_screen(ConfirmScreen(
                f"Kill job {job_id}?", "Kill", "Keep running" if running else "Keep it",
                hint="Its processes are killed; it is cancelled and does not run again." if running
                else "It is cancelled and does not run.",
            ), answered)
        self._with_selected("job", ask)

    def _job_state(self, job_id: str) -> str | None:
        if isinstance(self.screen, JobDetailScreen):
            return self.screen.job_state
        return self._row_states.get(("job", job_id))

    def action_delete_job(self) -> None:
        def ask(job_id: str) -> None:
            def answered(yes: bool | None) -> None:
                if yes:
                    if isinstance(self.screen, JobDetailScreen):
                        self.screen.dismiss(None)
                    self.run_core(lambda: self.service.delete([job_id]), f"deleted {job_id}")
            self.push_screen(ConfirmScreen(f"Delete job {job_id} and its runs?", "Delete"), answered)
        self._with_selected("job", ask)

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
        self._set_filter(JobFilter(state=STATE_FILTERS[index], search=self.job_filter.search))

    def action_cycle_filter(self) -> None:
        i = STATE_FILTERS.index(self.job_filter.state)
        self._set_filter(JobFilter(state=STATE_FILTERS[(i + 1) % len(STATE_FILTERS)], search=self.job_filter.search))

    def action_next_page(self) -> None:
        snap = self.snapshot
        if snap and len(snap.jobs) == snap.page_size:
            self._set_filter(JobFilter(self.job_filter.state, self.job_filter.search, self.job_filter.page + 1))

    def action_prev_page(self) -> None:
        if self.job_filter.page > 0:
            self._set_filter(JobFilter(self.job_filter.state, self.job_filter.search, self.job_filter.page - 1))

    def _set_filter(self, job_filter: JobFilter) -> None:
        self.job_filter = job_filter
        self.poll()

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.value = self.job_filter.search
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self._set_filter(JobFilter(self.job_filter.state, event.value.strip()))
            event.input.display = bool(event.value.strip())
            self.query_one("#jobs-table", KeyedTable).focus()

    def key_escape(self) -> None:
        search = self.query_one("#search", Input)
        if search.display and self.screen is self.screen_stack[0]:
            search.value = ""
            search.display = False
            self._set_filter(JobFilter(self.job_filter.state))
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
        self.push_screen(HelpScreen())

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


def _fmt(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def make_app(
    store_url: str | None = None, *, clock: Clock = SYSTEM_CLOCK, poll_interval: float = 1.0, page_size: int = 100,
    process_stats: bool = True,
) -> QueuectlApp:
    """The app as the CLI, the tests and --web build it."""
    service = QueueService.open(store_url, clock, process_stats=process_stats)
    return QueuectlApp(service, clock=clock, poll_interval=poll_interval, page_size=page_size)
