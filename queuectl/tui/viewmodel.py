"""What one poll loads (QueueSnapshot) and how its rows read on screen. No Textual widgets here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rich.text import Text

from queuectl import format as fmt
from queuectl.core.records import Counts, JobRecord, WaitingReason, WorkerCounts, WorkerInfo
from queuectl.core.settings import Settings
from queuectl.core.states import JobState
from queuectl.format import STATE_STYLES
from queuectl.safe_text import one_line

# The Jobs tab's state filter: key 1 = all, 2… = one state each.
STATE_FILTERS: tuple[JobState | None, ...] = (None, *JobState)


# The Jobs tab's sorts, in the order `o` steps through them: (sort key of the store, column shown).
SORTS: tuple[tuple[str, str], ...] = (
    ("created", "Created/due"), ("id", "ID"), ("state", "State"), ("priority", "Pri"), ("queue", "Queue"),
    ("runs", "Runs"), ("exit", "Exit"), ("command", "Command"),
)
SORT_OF_COLUMN = {column: key for key, column in SORTS}
COLUMN_OF_SORT = dict(SORTS)


@dataclass(frozen=True, slots=True)
class JobFilter:
    state: JobState | None = None
    search: str = ""
    page: int = 0
    sort: str = "created"
    descending: bool = True

    def describe(self) -> str:
        parts = [self.state.value if self.state else "all"]
        if self.search:
            parts.append(f"matching '{one_line(self.search)}'")
        return " ".join(parts)

    def describe_sort(self) -> str:
        if self.sort == "created":
            return "newest first" if self.descending else "oldest first"
        return f"by {COLUMN_OF_SORT[self.sort]} {'↓' if self.descending else '↑'}"


class SearchedSoFar(NamedTuple):
    """What a search knows without counting every match: the matches up to the end of this page,
    and whether one more follows (then the caption says "N+")."""

    matches: int
    more: bool


PULSE_MINUTES = 30


@dataclass(frozen=True, slots=True)
class Pulse:
    """The queue's last PULSE_MINUTES, a value per minute (oldest first), and its slots now."""

    completed: tuple[int, ...] = (0,) * PULSE_MINUTES
    failed: tuple[int, ...] = (0,) * PULSE_MINUTES
    waiting: tuple[int, ...] = ()  # sampled by the TUI: from when it opened
    slots_busy: int = 0   # slots of running workers that run a job
    slots_total: int = 0  # slots of running workers


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    now: float
    counts: Counts
    paused: bool
    finished_last_minute: int
    workers: list[WorkerInfo]
    worker_stats: dict = field(default_factory=dict)
    jobs: list[JobRecord] = field(default_factory=list)
    job_filter: JobFilter = JobFilter()
    page_size: int = 100
    dlq: list[JobRecord] = field(default_factory=list)
    settings: Settings = Settings()
    overridden: frozenset[str] = frozenset()
    unserved_queue: str | None = None  # a queue with due jobs that no running worker takes
    waiting: dict[str, WaitingReason] = field(default_factory=dict)  # why each waiting job of `jobs` waits
    panes: frozenset[str] | None = None  # the tabs whose rows were loaded (None: all)
    pulse: Pulse = Pulse()
    searched: SearchedSoFar | None = None  # with a search: matches so far (never a count of all)
    dlq_lines: dict[str, str] = field(default_factory=dict)  # dead job → last non-empty output line
    queues: list[Any] = field(default_factory=list)  # Api.queues()' QueueInfo rows, only when that tab shows
    queue_rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # queue → done, failed per minute
    schedules: list[Any] = field(default_factory=list)  # Api.schedules()' Schedule rows, only when that tab shows

    @property
    def no_worker_hint(self) -> str | None:
        """What to tell a user whose due jobs no worker will run."""
        if self.unserved_queue is None:
            return None
        if not any(w.state == "running" for w in self.workers):
            return "no workers — F3, then + to start"
        return f"no worker takes queue '{one_line(self.unserved_queue)}' — F3, then + to start one"

    @property
    def state_total(self) -> int:
        """Jobs in the filter's state (all jobs without one), from the counts: no scan."""
        return self.counts[self.job_filter.state.value] if self.job_filter.state else self.counts.total

    def of_total(self) -> str:
        """The caption's " of N" after the rows shown: a search says "N+" when more matches follow
        the page and names the jobs it looked through, never counting every match."""
        if self.searched is None:
            return f" of {self.state_total:,}" if self.state_total else ""  # "processing: none", not "none of 0"
        found = f"{self.searched.matches:,}{'+' if self.searched.more else ''}"
        where = f"{self.job_filter.state.value} jobs" if self.job_filter.state else "jobs"
        return f" of {found} matches (of {self.state_total:,} {where})"


def styled_state(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


JOB_COLUMNS = ("ID", "State", "Runs", "Pri", "Queue", "Created/due", "Took", "Exit", "Waiting", "Command")
COMMAND_CELL_MAX = 120


def coarse_age(ts: float, now: float) -> str:
    """An age for a table of many rows: to the second under a minute, then to the minute, so a
    hundred rows do not all change (and redraw) every second."""
    if abs(now - ts) < 60:
        return fmt.age(ts, now)
    # Past a minute, read the clock in 15 s steps: rows whose minute turns over change together,
    # in one redraw every 15 s, rather than one row or two in every poll.
    stepped = now - now % 15
    delta = abs(stepped - ts)
    if delta >= 3600:
        return fmt.age(ts, stepped)
    minutes = f"{max(1, int(delta // 60))}m"
    return f"{minutes} ago" if now >= ts else f"in {minutes}"


def job_cells(job: JobRecord, now: float, waiting: WaitingReason | None = None) -> tuple[object, ...]:
    """A row of the Jobs table; `waiting` says in a few words what holds a waiting job back."""
    if job.state in (JobState.PENDING, JobState.FAILED) and job.run_at > now:
        when = coarse_age(job.run_at, now)
    else:
        when = coarse_age(job.created_at, now)
    return (
        plain(job.id), styled_state(job.state), f"{job.attempts}/{job.max_retries + 1}", str(job.priority),
        plain(job.queue), when, fmt.took(job, now), fmt.exit_code(job),
        plain(waiting.short, 24) if waiting is not None and waiting.short else "",
        labelled_command(job),
    )


def labelled_command(job: JobRecord) -> Text:
    """The command, after the job's label when it has one."""
    command = plain(job.command)
    if not job.label:
        return command
    label = plain(job.label, 40)
    label.stylize("bold")
    # assemble() makes a Text of its own: without these it would be cut at the column's edge, no "…"
    return Text.assemble(label, Text(" · ", style="dim"), command, no_wrap=True, overflow="ellipsis")


def plain(text: str, limit: int = COMMAND_CELL_MAX) -> Text:
    """Job-controlled text shown as typed (never read as markup, no escape sequence or control
    left), on one line, cut with … when long (or when its column is narrower)."""
    line = " ".join(one_line(text).split())
    return Text(line if len(line) <= limit else line[: limit - 1] + "…", no_wrap=True, overflow="ellipsis")


NARROW = 100  # below this many columns the Jobs table leaves out Runs, Took and Exit for the command


def default_columns(jobs: list[JobRecord], job_filter: JobFilter, width: int = 120,
                    waiting: dict[str, WaitingReason] | None = None) -> tuple[str, ...]:
    """The Jobs columns worth showing: Pri and Queue only when some row is not the default
    (or the page is sorted by them), Waiting only when a row waits for something; on a narrow
    terminal, the command before Runs, Took and Exit."""
    hidden = {"Runs", "Took", "Exit"} - {COLUMN_OF_SORT[job_filter.sort]} if width < NARROW else set()
    if all(j.priority == 0 for j in jobs) and job_filter.sort != "priority":
        hidden.add("Pri")
    if all(j.queue == "default" for j in jobs) and job_filter.sort != "queue":
        hidden.add("Queue")
    if waiting is not None and not any(r is not None and r.short for r in waiting.values()):
        hidden.add("Waiting")
    return tuple(c for c in JOB_COLUMNS if c not in hidden)


DLQ_COLUMNS = ("ID", "Runs", "Died", "Exit", "Command", "Why: last error · last output line")


def dlq_cells(job: JobRecord, now: float, last_line: str | None = None) -> tuple[object, ...]:
    """The reason a job died: its last error and, beside it, the last line it printed."""
    reason = plain(job.last_error or "-", 60)
    if last_line:
        reason.append(" · ", style="dim")
        reason.append_text(plain(last_line, 100))
    return (
        plain(job.id), str(job.attempts), coarse_age(job.finished_at, now) if job.finished_at else "-",
        "-" if job.exit_code is None else str(job.exit_code), plain(job.command, 40), reason,
    )


WORKER_COLUMNS = ("ID", "State", "Slots", "Host", "PID", "Job", "Job PID", "Uptime", "Heartbeat", "CPU", "RSS",
                  "Queues")


def worker_cells(worker: WorkerInfo, now: float, stats: object | None) -> tuple[object, ...]:
    cpu = getattr(stats, "cpu_percent", None)
    rss = getattr(stats, "rss_bytes", None)
    job_pid = getattr(stats, "job_pid", None)
    return (
        plain(worker.id), styled_state(worker.state), fmt.slots(worker), plain(worker.host), str(worker.pid),
        plain(fmt.slot_jobs(worker)),
        "-" if job_pid is None or not worker.current_job_id else str(job_pid),
        fmt.worker_uptime(worker, now), fmt.age(worker.heartbeat_at, now),
        "-" if cpu is None else f"{cpu:.0f}%", "-" if rss is None else fmt.size(rss),
        plain(",".join(worker.queues)) if worker.queues else "all",
    )


# What waits, how long and how fast it drains first; Running is the processing count (with the
# limit), so there is no Processing column beside it.
QUEUE_COLUMNS = ("Queue", "Running", "Paused", "Pending", "Failed", "Oldest waiting", "Done/min", "Failed/min",
                 "Completed", "Dead", "Cancelled")


def queue_cells(info: Any, rates: tuple[float, float] = (0.0, 0.0)) -> tuple[object, ...]:  # a QueueInfo
    """A row of the Queues tab: running/limit, paused, jobs per state, its longest wait, and its
    runs completed and failed per minute over the last few whole minutes."""
    def n(state: str) -> Text:
        count = info.counts.get(state, 0)
        return Text(f"{count:,}", style=STATE_STYLES.get(state, "") if count else "dim")

    def rate(per_minute: float, state: str) -> Text:
        return Text(f"{per_minute:,.1f}", style=STATE_STYLES[state] if per_minute else "dim")

    return (
        plain(info.name), f"{info.running}/{info.limit}" if info.limit else str(info.running),
        Text("paused", style="bold yellow") if info.paused else "-",
        n("pending"), n("failed"),
        fmt.duration(info.oldest_wait) if info.oldest_wait is not None else "-",
        rate(rates[0], "completed"), rate(rates[1], "failed"),
        n("completed"), n("dead"), n("cancelled"),
    )


# No Paused column: a paused schedule's Next run says so, and the command keeps the room.
SCHEDULE_COLUMNS = ("Schedule", "When", "Next run", "Last run", "Last job", "Queue", "Command")


def schedule_cells(sched: Any, now: float) -> tuple[object, ...]:  # a Schedule (core.schedules, via the door)
    """A row of the Schedules tab: how it recurs, its next run, its last run and that job's state."""
    if sched.last_run_at is None:
        last_job: object = "-"
    elif sched.last_job_state is None:
        last_job = Text("deleted", style="dim")
    else:
        last_job = Text(" ".join(one_line(sched.last_job_id or "-").split()) + " ", no_wrap=True)
        last_job.append(sched.last_job_state, style=STATE_STYLES.get(sched.last_job_state, ""))
    return (
        plain(sched.name, 64), plain(sched.when, 48),
        Text("paused", style="bold yellow") if sched.paused else next_run(sched.next_run_at, now),
        fmt.age(sched.last_run_at, now) if sched.last_run_at is not None else "-", last_job,
        plain(sched.queue), plain(sched.command),
    )


DUE_GRACE = 60.0  # a worker's maintenance enqueues a due slot within seconds: past this, it is overdue


def next_run(next_run_at: float, now: float) -> Text:
    """A schedule's next run: "in 4m00s"; "due now" while a worker should be enqueuing it; then
    "overdue 3m05s" (no worker runs the maintenance that enqueues it), never "3m ago"."""
    late = now - next_run_at
    if late < 0:
        return Text(fmt.age(next_run_at, now))
    if late < DUE_GRACE:
        return Text("due now", style="bold")
    return Text(f"overdue {fmt.duration(late)}", style="bold yellow")


SETTING_COLUMNS = ("Key", "Value", "Default", "Meaning")


SHORT_STATE = {
    "pending": "pend", "processing": "run", "completed": "done", "failed": "fail", "dead": "dead",
    "cancelled": "canc",
}


def status_line(snapshot: QueueSnapshot, width: int = 120) -> Text:
    """The status bar: counts per state, workers, pause, throughput (short labels when narrow)."""
    short = width < 112
    text = Text()
    text.append("PAUSED" if snapshot.paused else "active", style="bold yellow reverse" if snapshot.paused else "green")
    text.append(" │ " if short else "  │ ", style="dim")
    for state in JobState:
        n = snapshot.counts[state.value]
        text.append(f"{SHORT_STATE[state.value] if short else state.value} ", style="dim")
        text.append(f"{n:,}", style=STATE_STYLES[state.value] if n else "")
        text.append(" " if short else "  ")
    workers = WorkerCounts.of(snapshot.workers)
    text.append("│ ", style="dim")
    text.append(f"{'wrk' if short else 'workers'} {workers.alive}", style="bold" if workers.alive else "dim")
    # slots are named only where a worker has several: one-slot workers read as before
    text.append(f" ({workers.slots_busy} busy)" if workers.slots == workers.alive
                else f" ({workers.slots_busy}/{workers.slots} slots busy)", style="dim")
    if workers.lost:
        text.append(f" {workers.lost} lost", style="bold red")
    sep = " │ " if short else "  │ "
    text.append(sep, style="dim")
    text.append(f"{snapshot.finished_last_minute:,}/min", style="")
    return text
