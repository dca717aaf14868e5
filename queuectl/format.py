"""Plain values as text, the same for the CLI and the TUI: durations, ages, sizes, the state
palette, a job's TOOK and times, a worker's uptime.

One module so the two front ends cannot drift (they did: a stopped worker's uptime, an interrupted
job's TOOK, the detail view's started/finished). Pure and headless: no Rich, no Textual, no store;
the CLI paints with the ANSI code, the TUI with the Rich style name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from queuectl.core.records import JobRecord, WorkerInfo

# state → (ANSI SGR code for the CLI, Rich style for the TUI)
STATE_PALETTE: dict[str, tuple[str, str]] = {
    "pending": ("33", "yellow"),
    "processing": ("36", "bold cyan"),
    "completed": ("32", "green"),
    "failed": ("35", "magenta"),
    "dead": ("31", "bold red"),
    "cancelled": ("90", "dim"),
    "running": ("32", "green"),
    "stopping": ("33", "yellow"),
    "stopped": ("90", "dim"),
    "lost": ("31", "bold red"),
}
STATE_COLOURS = {state: ansi for state, (ansi, _) in STATE_PALETTE.items()}
STATE_STYLES = {state: style for state, (_, style) in STATE_PALETTE.items()}


def duration(seconds: float | None) -> str:
    """1.2s, 45s, 3m05s, 2h04m, 3d02h."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s" if seconds >= 0.1 or seconds == 0 else f"{seconds * 1000:.0f}ms"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def age(ts: float | None, now: float) -> str:
    """'12s ago' or 'in 4m00s'."""
    if ts is None:
        return "-"
    delta = now - ts
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def took(job: JobRecord, now: float) -> str:
    """How long the job's last run took: ticking while it runs; once a run has ended, its length
    whatever the state it left (an interrupted job is pending again but its run did end, as pueue
    shows); '-' for a job that never ran."""
    if job.state == "processing" and job.started_at is not None:
        # a row read just after the caller took `now` may have started after it: never "-25ms"
        return duration(max(0.0, now - job.started_at))
    return duration(job.duration)


def exit_code(job: JobRecord) -> str:
    """The last run's exit code, or '-' while a run is under way (the code would be the previous
    run's, read beside the running one's ticking time)."""
    if job.state == "processing" or job.exit_code is None:
        return "-"
    return str(job.exit_code)


def worker_uptime(worker: WorkerInfo, now: float) -> str:
    """Up until it stopped (or, for a lost worker, its last heartbeat); only a live worker's ticks."""
    if worker.stopped_at is not None:
        end = worker.stopped_at
    elif worker.state == "lost":  # silent: it stopped counting at its last heartbeat
        end = worker.heartbeat_at
    else:
        end = now
    return duration(end - worker.started_at)


def when(ts: float | None, now: float) -> str:
    """A moment in `show` and the detail view: the age first (it is what ticks and what a user
    reads, and it survives a narrow pane), then the UTC time to the second (--json keeps the ms)."""
    from queuectl.core.records import iso

    return "-" if ts is None else f"{age(ts, now)} ({(iso(ts) or '')[:19]}Z)"


def job_times(job: JobRecord, now: float) -> list[tuple[str, str]]:
    """The (label, text) pairs of a job's moments, as `show` and the TUI's detail print them."""
    return [
        ("created", when(job.created_at, now)), ("run at", when(job.run_at, now)),
        ("started", when(job.started_at, now)), ("finished", when(job.finished_at, now)),
    ]


def slots(worker: WorkerInfo) -> str:
    """A worker's slots as busy/total ("3/8")."""
    return f"{worker.busy}/{worker.slots}"


def slot_jobs(worker: WorkerInfo, shown: int = 1) -> str:
    """The jobs a worker's slots run: the first `shown` ids, then how many more ("j1 +3"), or "-"."""
    if not worker.job_ids:
        return worker.current_job_id or "-"
    more = len(worker.job_ids) - shown
    return " ".join(worker.job_ids[:shown]) + (f" +{more}" if more > 0 else "")
