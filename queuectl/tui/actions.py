"""One registry of user actions: it feeds the key bindings, the footer, the command palette and help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

ANY = "*"


@dataclass(frozen=True, slots=True)
class Action:
    name: str          # the App's action_<name>
    key: str
    label: str         # short, for the footer
    help: str          # a sentence, for help and the palette
    panes: tuple[str, ...] = (ANY,)  # tabs where it applies
    footer: bool = True


ACTIONS: tuple[Action, ...] = (
    Action("show_detail", "enter", "Detail", "Open the selected job: fields, runs and live output", ("jobs", "dlq")),
    Action("retry_job", "r", "Retry", "Retry the selected failed, dead or cancelled job", ("jobs", "dlq")),
    Action("kill_job", "k", "Kill", "Cancel the selected job; a running one has its process group killed", ("jobs",)),
    Action("delete_job", "d", "Delete", "Delete the selected job and its runs", ("jobs", "dlq")),
    Action("new_job", "n", "New", "Enqueue a new job", ("jobs", "dlq")),
    Action("retry_all_dead", "R", "Retry all", "Retry every job in the DLQ", ("dlq",)),
    Action("search", "slash", "Search", "Search job ids and commands", ("jobs",)),
    Action("cycle_filter", "s", "State", "Cycle the state filter (or press 1-7)", ("jobs",)),
    Action("next_page", "right_square_bracket", "Page→", "Next page of jobs", ("jobs",), footer=False),
    Action("prev_page", "left_square_bracket", "←Page", "Previous page of jobs", ("jobs",), footer=False),
    Action("start_workers", "plus", "Start", "Start worker processes (detached)", ("workers",)),
    Action("stop_worker", "x", "Stop", "Stop the selected worker gracefully (its job finishes)", ("workers",)),
    Action("force_stop_worker", "X", "Force stop", "Stop the selected worker now; its job goes back to pending",
           ("workers",)),
    Action("edit_setting", "e", "Edit", "Change the selected setting", ("settings",)),
    Action("reset_setting", "backspace", "Reset", "Put the selected setting back to its default", ("settings",)),
    Action("toggle_pause", "p", "Pause", "Pause or resume the queue: workers claim nothing while paused"),
    Action("refresh", "ctrl+r", "Refresh", "Reload now", footer=False),
    Action("help", "question_mark", "Help", "Show every key"),
    Action("quit", "q", "Quit", "Quit (workers keep running)"),
)

TABS = ("jobs", "dlq", "workers", "settings")


def bindings() -> list[Binding]:
    result = [Binding(a.key, a.name, a.label, show=a.footer) for a in ACTIONS]
    result += [Binding(str(i), f"filter_state({i - 1})", f"filter {i}", show=False) for i in range(1, 8)]
    result += [Binding(f"f{i}", f"show_tab('{tab}')", tab, show=False) for i, tab in enumerate(TABS, start=1)]
    return result


def applies(action: Action, pane: str) -> bool:
    return ANY in action.panes or pane in action.panes


BY_NAME = {a.name: a for a in ACTIONS}

# What each job or worker action needs of the selected row's state: (allowed states, why not).
_RETRYABLE = ("failed", "dead", "cancelled")
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "retry_job": (_RETRYABLE, "only failed, dead or cancelled jobs can be retried"),
    "kill_job": (("pending", "failed", "processing"), "only waiting or running jobs can be killed"),
    "delete_job": (("pending", "failed", "completed", "dead", "cancelled"), "kill it first"),
    "stop_worker": (("running",), "only a running worker can be stopped"),
    "force_stop_worker": (("running", "stopping"), "only a running or stopping worker can be stopped"),
}


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
    "slash": "/", "question_mark": "?", "plus": "+", "backspace": "⌫", "enter": "⏎",
    "right_square_bracket": "]", "left_square_bracket": "[",
}


def key_label(key: str) -> str:
    return KEY_NAMES.get(key, key)
