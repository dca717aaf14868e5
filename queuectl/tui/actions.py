"""One registry of user actions: it feeds the key bindings of every screen, the footer, the command
palette and help. Each binding carries an id (kebab-case, what a user's keymap file names) and a
tooltip (the help sentence), as posting does; the same id on two screens is one key to remap.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

ANY = "*"

# Where an action's binding lives: the main screen (App), the job detail screen, every table, the
# output view. Help and the palette show the actions of the screen the user is on.
MAIN, DETAIL, TABLE, OUTPUT = "main", "detail", "table", "output"


@dataclass(frozen=True, slots=True)
class Action:
    id: str            # binding id: kebab-case, what a keymap names
    name: str          # the action the binding runs (action_<name> of its scope, or "app.<name>")
    key: str
    label: str         # short, for the footer
    help: str          # a sentence, for help, the palette and the tooltip
    panes: tuple[str, ...] = (ANY,)  # main screen: tabs where it applies
    footer: bool = True
    scope: str = MAIN
    palette: bool = True  # offered in the command palette (movement keys are not)

    @property
    def method(self) -> str:
        return self.name.removeprefix("app.")


JOB_PANES = ("jobs", "dlq")

ACTIONS: tuple[Action, ...] = (
    # ── main screen ──
    Action("show-detail", "show_detail", "enter", "Detail", "Open the selected job: fields, runs and live output",
           JOB_PANES),
    Action("retry-job", "retry_job", "r", "Retry",
           "Retry the marked jobs, or the selected one (failed, dead or cancelled)", JOB_PANES),
    Action("kill-job", "kill_job", "x", "Kill",
           "Cancel the marked jobs, or the selected one; a running one has its process group killed", ("jobs",)),
    Action("delete-job", "delete_job", "D", "Delete", "Delete the marked jobs, or the selected one, with their runs",
           JOB_PANES),
    Action("hold-job", "hold_job", "h", "Hold",
           "Hold the marked jobs, or the selected one: a held job waits until released", ("jobs",), footer=False),
    Action("release-job", "release_job", "u", "Release",
           "Release the marked held jobs, or the selected one: they may run again", ("jobs",), footer=False),
    Action("start-job", "start_job", "t", "Start now",
           "Make the marked waiting jobs, or the selected one, due now (skips a back-off, a later run "
           "time and a hold)", ("jobs",), footer=False),
    Action("mark-row", "mark_row", "space", "Mark", "Mark or unmark the selected job (actions apply to the marks)",
           JOB_PANES, footer=False),
    Action("mark-all", "mark_all", "a", "Mark all", "Mark every job shown, or clear the marks when all are marked",
           JOB_PANES, footer=False),
    Action("new-job", "new_job", "n", "New", "Enqueue a new job", JOB_PANES),
    Action("retry-all-dead", "retry_all_dead", "R", "Retry all", "Retry every job in the DLQ", ("dlq",)),
    Action("search", "search", "slash", "Filter", "Filter as you type: id, command, queue or label (Esc clears)",
           ("jobs",)),
    Action("cycle-filter", "cycle_filter", "s", "State", "Cycle the state filter (or press 1-7)", ("jobs",)),
    Action("cycle-sort", "cycle_sort", "o", "Sort", "Sort by the next column (or click a column's header)",
           ("jobs",)),
    Action("reverse-sort", "reverse_sort", "O", "Reverse", "Reverse the sort order", ("jobs",), footer=False),
    Action("toggle-preview", "toggle_preview", "v", "Preview",
           "Show or hide the preview of the selected job beside the table (160 columns or more)", ("jobs",),
           footer=False),
    Action("next-page", "next_page", "right_square_bracket", "Page→", "Next page of jobs", ("jobs",), footer=False),
    Action("prev-page", "prev_page", "left_square_bracket", "←Page", "Previous page of jobs", ("jobs",),
           footer=False),
    Action("start-workers", "start_workers", "plus", "Start", "Start worker processes (detached)", ("workers",)),
    Action("stop-worker", "stop_worker", "x", "Stop", "Stop the selected worker gracefully (its job finishes)",
           ("workers",)),
    Action("force-stop-worker", "force_stop_worker", "X", "Force stop",
           "Stop the selected worker now; its job goes back to pending", ("workers",)),
    Action("set-queue-limit", "set_queue_limit", "l", "Limit",
           "Set how many of the selected queue's jobs run at once (0: no limit)", ("queues",)),
    Action("toggle-queue-pause", "toggle_queue_pause", "P", "Pause queue",
           "Pause or resume the selected queue: its jobs wait, the others run", ("queues",)),
    Action("run-schedule-now", "run_schedule_now", "r", "Run now",
           "Enqueue one job of the selected schedule now (its next run stays as it is)", ("schedules",)),
    Action("toggle-schedule-pause", "toggle_schedule_pause", "P", "Pause schedule",
           "Pause or resume the selected schedule: no run is enqueued while paused", ("schedules",)),
    Action("remove-schedule", "remove_schedule", "D", "Remove",
           "Remove the selected schedule (the jobs it enqueued stay)", ("schedules",)),
    Action("edit-setting", "edit_setting", "e", "Edit", "Change the selected setting", ("settings",)),
    Action("reset-setting", "reset_setting", "backspace", "Reset", "Put the selected setting back to its default",
           ("settings",)),
    Action("toggle-pause", "toggle_pause", "p", "Pause",
           "Pause or resume all work: workers claim no job of any queue while paused"),
    Action("toggle-theme", "toggle_theme", "ctrl+t", "Theme",
           "Switch between the dark and the light theme (remembered)", footer=False),
    Action("refresh", "refresh", "ctrl+r", "Refresh", "Reload now", footer=False),
    Action("help", "help", "question_mark", "Help", "Show every key of this screen"),
    Action("quit", "quit", "q", "Quit", "Quit (workers keep running)"),
    # ── the job detail screen ──
    Action("close-detail", "close", "escape", "Back", "Back to the list (also q)", scope=DETAIL),
    Action("retry-job", "app.retry_job", "r", "Retry", "Retry this job (failed, dead or cancelled)", scope=DETAIL),
    Action("kill-job", "app.kill_job", "x", "Kill", "Cancel this job; if running, its process group is killed",
           scope=DETAIL),
    Action("delete-job", "app.delete_job", "D", "Delete", "Delete this job and its runs", scope=DETAIL),
    Action("toggle-follow", "toggle_follow", "f", "Follow", "Follow the output's end, or stop following",
           scope=DETAIL),
    Action("toggle-wrap", "toggle_wrap", "w", "Wrap", "Wrap long output lines, or not", scope=DETAIL),
    Action("search-output", "search_output", "slash", "Search", "Search the output (n next, N previous)",
           scope=DETAIL),
    Action("save-output", "save_output", "S", "Save", "Save the output shown to a file (it says where)",
           scope=DETAIL),
    Action("detail-help", "help", "question_mark", "Help", "Show every key of this screen", scope=DETAIL),
    # ── the output view (in the detail screen) ──
    Action("next-match", "next_match", "n", "Next", "Next match of the search", scope=OUTPUT, footer=False),
    Action("prev-match", "prev_match", "N", "Previous", "Previous match of the search", scope=OUTPUT, footer=False),
    Action("follow-output", "follow", "end", "Follow", "Go to the end and follow it", scope=OUTPUT, footer=False),
    # ── every table ──
    Action("cursor-down", "cursor_down", "j", "Down", "Next row (also ↓)", scope=TABLE, footer=False, palette=False),
    Action("cursor-up", "cursor_up", "k", "Up", "Previous row (also ↑)", scope=TABLE, footer=False, palette=False),
    Action("first-row", "scroll_top", "g,home", "First", "First row", scope=TABLE, footer=False, palette=False),
    Action("last-row", "scroll_bottom", "G,end", "Last", "Last row", scope=TABLE, footer=False, palette=False),
    Action("page-down", "page_down", "pagedown", "Page down", "One screen down", scope=TABLE, footer=False,
           palette=False),
    Action("page-up", "page_up", "pageup", "Page up", "One screen up", scope=TABLE, footer=False, palette=False),
)

TABS = ("jobs", "dlq", "workers", "queues", "schedules", "settings")  # F1-F6


def of(scope: str) -> tuple[Action, ...]:
    return tuple(a for a in ACTIONS if a.scope == scope)


def _binding(a: Action, *, priority: bool = False) -> Binding:
    return Binding(a.key, a.name, a.label, show=a.footer, id=a.id, tooltip=a.help, priority=priority)


def bindings(scope: str = MAIN) -> list[Binding]:
    """The bindings of one scope, with ids and tooltips; the main screen adds 1-7 and F1-F6."""
    result = [_binding(a) for a in of(scope)]
    if scope == MAIN:
        result += [Binding(str(i), f"filter_state({i - 1})", f"filter {i}", show=False, id=f"filter-{i}")
                   for i in range(1, 8)]
        result += [Binding(f"f{i}", f"show_tab('{tab}')", tab, show=False, id=f"tab-{tab}")
                   for i, tab in enumerate(TABS, start=1)]
    return result


# Rows of help that are not actions of their own (shown with the scope's actions)
EXTRA_HELP: dict[str, tuple[tuple[str, str, str], ...]] = {
    MAIN: (
        ("1-7", "jobs", "Filter: all, pending, processing, completed, failed, dead, cancelled"),
        ("f1-f6", "everywhere", "Jobs, DLQ, Workers, Queues, Schedules, Settings tabs"),
        ("ctrl+p", "everywhere", "Command palette: every action by name"),
        ("ctrl+c", "everywhere", "Quit, as q"),
    ),
    DETAIL: (("enter", "runs", "Show the output of the selected run"),),
}


def help_rows(screen: str, pane: str | None = None) -> list[tuple[str, str, str]]:
    """(key, where, what) for every key of `screen` (MAIN or DETAIL), the movement keys included."""
    rows: list[tuple[str, str, str]] = []
    for a in of(screen):
        where = "everywhere" if ANY in a.panes else ", ".join(a.panes)
        if screen == DETAIL:
            where = "job view"
        rows.append((key_label(a.key), where, a.help))
    if screen == DETAIL:
        rows += [(key_label(a.key), "output", a.help) for a in of(OUTPUT)]
    rows += list(EXTRA_HELP.get(screen, ()))
    rows += [(key_label(a.key), "tables", a.help) for a in of(TABLE)]
    return rows


def applies(action: Action, pane: str) -> bool:
    return ANY in action.panes or pane in action.panes


BY_NAME = {a.name: a for a in ACTIONS if a.scope == MAIN}
DETAIL_ACTIONS = tuple(a.method for a in of(DETAIL) if a.name.startswith("app."))  # job actions it offers

# What each job or worker action needs of the selected row's state: (allowed states, why not).
_RETRYABLE = ("failed", "dead", "cancelled")
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "retry_job": (_RETRYABLE, "only failed, dead or cancelled jobs can be retried"),
    "kill_job": (("pending", "failed", "processing"), "only waiting or running jobs can be killed"),
    "delete_job": (("pending", "failed", "completed", "dead", "cancelled"), "kill it first"),
    "hold_job": (("pending", "failed"), "only waiting jobs can be held"),
    "release_job": (("pending", "failed"), "only waiting (held) jobs can be released"),
    "start_job": (("pending", "failed"), "only waiting jobs can be started"),
    "stop_worker": (("running",), "only a running worker can be stopped"),
    "force_stop_worker": (("running", "stopping"), "only a running or stopping worker can be stopped"),
}
# act on the marks when there are any
MARK_ACTIONS = ("retry_job", "kill_job", "delete_job", "hold_job", "release_job", "start_job")


def refusal(action: str, what: str, key: str, state: str | None) -> str | None:
    """Why `action` cannot apply to the selected `what` (job, worker) `key` in `state`; None if it can."""
    if action not in _NEEDS or state is None:
        return None
    allowed, why = _NEEDS[action]
    if state in allowed:
        return None
    shown = "running" if state == "processing" else state
    return f"{what} {key} is {shown}: {why}"


KEY_NAMES = {
    "slash": "/", "question_mark": "?", "plus": "+", "backspace": "⌫", "enter": "⏎", "space": "␣",
    "right_square_bracket": "]", "left_square_bracket": "[", "escape": "esc",
}


def key_label(key: str) -> str:
    return ", ".join(KEY_NAMES.get(k, k) for k in key.split(","))
