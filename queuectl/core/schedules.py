"""Schedules: recurring jobs, from a cron expression in a time zone or a fixed interval.

There is no scheduler daemon. Every worker calls `enqueue_due` as part of its maintenance; each
due schedule's slot is enqueued in one write transaction that first compares-and-sets the
schedule's `next_run_at` (from the value it read to the next slot after now) and then inserts the
slot's job. Two workers (on any hosts) that see the same due slot race on that UPDATE: the
store's write lock (SQLite) or row lock (PostgreSQL, which re-checks the WHERE after the lock) lets
exactly one of them change the row, and the other inserts nothing. So: one job per slot.

Slots missed while no worker ran (a weekend with the machine off) are not replayed one by one:
the schedule gets one catch-up job, for the latest slot that is due, and its next slot after now.

Cron expressions are evaluated by `cronsim` (a maintained, dependency-free library: standard
five-field expressions, `L`, `#`, `@daily` and friends), in the schedule's time zone (UTC unless
given), so `0 2 * * *` in Europe/Berlin follows its daylight-saving changes.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queuectl.core.db import Store
from queuectl.core.errors import DuplicateSchedule, InvalidInput, ScheduleNotFound, show_value
from queuectl.core.queue import JobQueue, new_job_ids
from queuectl.core.records import iso
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec, parse_duration

if TYPE_CHECKING:
    from queuectl.core.maintenance import MaintenanceContext

log = logging.getLogger("queuectl.schedules")

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MIN_EVERY = 1.0  # seconds: workers look for due slots about twice a second
MAX_EVERY = 366 * 86400.0
DUE_BATCH = 100  # schedules handled by one maintenance pass


class ScheduleSpec(NamedTuple):
    """A validated schedule: when (cron + tz, or every N seconds) and the job each slot enqueues."""

    name: str
    job: JobSpec
    cron: str | None = None
    tz: str | None = None
    every: float | None = None


class Schedule(NamedTuple):
    """A schedule as stored, with its next and last slot and the last slot's job."""

    name: str
    cron: str | None
    tz: str | None
    every: float | None
    command: str
    cwd: str | None
    env: dict[str, str] | None
    queue: str
    priority: int
    max_retries: int | None
    timeout: float | None
    on_success: str | None
    on_failure: str | None
    on_dead: str | None
    paused: bool
    created_at: float
    updated_at: float
    anchor_at: float
    next_run_at: float
    last_run_at: float | None
    last_job_id: str | None
    last_job_state: str | None  # None when it never ran or that job was deleted

    TIME_KEYS = ("created_at", "updated_at", "next_run_at", "last_run_at")

    @property
    def when(self) -> str:
        """How the schedule recurs, as a person writes it: `*/5 * * * * (Europe/Berlin)`, `every 30s`."""
        if self.cron is not None:
            return self.cron + (f" ({self.tz})" if self.tz else "")
        return "every " + format_every(self.every or 0)

    def to_json(self) -> dict[str, Any]:
        data = self._asdict()
        data.pop("anchor_at")
        data["env"] = sorted(self.env) if self.env else None  # values may be secrets
        data["when"] = self.when
        return {k: (iso(v) if k in self.TIME_KEYS else v) for k, v in data.items()}


_COLUMNS = ("s.name, s.cron, s.tz, s.every, s.command, s.cwd, s.env, s.queue, s.priority, s.max_retries, "
            "s.timeout, s.on_success, s.on_failure, s.on_dead, s.paused, s.created_at, s.updated_at, "
            "s.anchor_at, s.next_run_at, s.last_run_at, s.last_job_id, j.state")
_SELECT = f"SELECT {_COLUMNS} FROM schedule s LEFT JOIN job j ON j.id = s.last_job_id"


def _schedule(row: Sequence[Any]) -> Schedule:
    values = list(row)
    values[6] = json.loads(values[6]) if values[6] else None
    values[14] = bool(values[14])
    return Schedule(*values)


def format_every(seconds: float) -> str:
    """30 -> 30s, 300 -> 5m, 5400 -> 90m, 86400 -> 1d: the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# ── validation ───────────────────────────────────────────────────────────────────────────────


def _zone(tz: str | None) -> tzinfo:
    if tz is None:
        return UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"--tz: unknown time zone {show_value(tz)} (e.g. UTC, Europe/Berlin)") from None


def _cron(expr: str, start: datetime, reverse: bool = False) -> datetime:
    from cronsim import CronSim, CronSimError  # imported by the paths that evaluate a schedule only

    try:
        return next(CronSim(expr, start, reverse=reverse))
    except CronSimError as exc:
        raise InvalidInput(f"--cron: invalid expression {show_value(expr)}: {exc}") from None
    except StopIteration:
        raise InvalidInput(f"--cron: {show_value(expr)} never matches") from None


def schedule_spec(name: object, job: JobSpec, *, cron: str | None = None, tz: str | None = None,
                  every: object = None) -> ScheduleSpec:
    """Check a schedule: a safe name, exactly one of cron and every, a known time zone, an
    expression that matches some time. The job may not set an id or a run time of its own."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInput(f"schedule name: must match {NAME_RE.pattern}, got {show_value(name)}")
    if (cron is None) == (every is None):
        raise InvalidInput("a schedule needs exactly one of --cron EXPR and --every DURATION")
    if job.id is not None or job.run_at is not None:
        raise InvalidInput("a schedule's jobs get their id and run time from their slot (no id, run_at or delay)")
    seconds: float | None = None
    if every is not None:
        if tz is not None:
            raise InvalidInput("--tz applies to --cron only (an interval is the same in every time zone)")
        seconds = parse_duration(every)
        if not MIN_EVERY <= seconds <= MAX_EVERY:
            raise InvalidInput(f"--every: must be between {MIN_EVERY:g}s and 366d, got {show_value(every)}")
    else:
        assert cron is not None
        cron = " ".join(cron.split())
        _cron(cron, datetime.now(_zone(tz)).replace(microsecond=0))  # refuses a bad or never-matching one
    return ScheduleSpec(name, job, cron, tz, seconds)


# ── slots ────────────────────────────────────────────────────────────────────────────────────


def next_slot(cron: str | None, tz: str | None, every: float | None, anchor_at: float, after: float) -> float:
    """The first slot strictly after `after`: anchor + k × every, or the cron expression's next match."""
    if every is not None:
        k = math.floor((after - anchor_at) / every) + 1
        return anchor_at + max(k, 1) * every
    assert cron is not None
    start = datetime.fromtimestamp(math.floor(after), tz=_zone(tz))
    return _cron(cron, start).timestamp()


def latest_slot(cron: str | None, tz: str | None, every: float | None, anchor_at: float, at: float) -> float | None:
    """The last slot at or before `at` (None when there is none since the anchor)."""
    if every is not None:
        k = math.floor((at - anchor_at) / every)
        return anchor_at + k * every if k >= 1 else None
    assert cron is not None
    start = datetime.fromtimestamp(math.floor(at) + 1, tz=_zone(tz))  # cronsim's reverse is strictly before
    try:
        return _cron(cron, start, reverse=True).timestamp()
    except InvalidInput:
        return None


# ── the store ────────────────────────────────────────────────────────────────────────────────


def add_schedule(store: Store, spec: ScheduleSpec, now: float) -> Schedule:
    """Store a new schedule; its first slot is the first one after now."""
    job = spec.job
    first = next_slot(spec.cron, spec.tz, spec.every, now, now)
    try:
        with store.write():
            if store.execute("SELECT 1 FROM schedule WHERE name = ?", (spec.name,)).fetchone():
                raise DuplicateSchedule(f"a schedule named {spec.name!r} already exists (remove it first)")
            store.execute(
                "INSERT INTO schedule (name, cron, tz, every, command, cwd, env, queue, priority, max_retries, "
                "timeout, on_success, on_failure, on_dead, paused, created_at, updated_at, anchor_at, next_run_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (spec.name, spec.cron, spec.tz, spec.every, job.command, job.cwd,
                 json.dumps(job.env, separators=(",", ":")) if job.env else None, job.queue, job.priority,
                 job.max_retries, job.timeout, job.on_success, job.on_failure, job.on_dead, now, now, now, first),
            )
    except DuplicateSchedule:
        raise
    except Exception as exc:
        if "unique" in str(exc).lower() or "duplicate key" in str(exc).lower():
            raise DuplicateSchedule(f"a schedule named {spec.name!r} already exists (remove it first)") from None
        raise
    return get_schedule(store, spec.name)


def list_schedules(store: Store) -> list[Schedule]:
    """Every schedule, by name, with its next and last slot and the last slot's job state."""
    return [_schedule(r) for r in store.execute(f"{_SELECT} ORDER BY s.name").fetchall()]


def get_schedule(store: Store, name: str) -> Schedule:
    row = store.execute(f"{_SELECT} WHERE s.name = ?", (name,)).fetchone()
    if row is None:
        raise ScheduleNotFound(name)
    return _schedule(row)


def remove_schedule(store: Store, name: str) -> None:
    """Delete a schedule; the jobs it already enqueued stay."""
    with store.write():
        if store.execute("DELETE FROM schedule WHERE name = ?", (name,)).rowcount != 1:
            raise ScheduleNotFound(name)


def pause_schedule(store: Store, name: str, now: float) -> Schedule:
    """No slot is enqueued while paused."""
    with store.write():
        if store.execute("UPDATE schedule SET paused = 1, updated_at = ? WHERE name = ?", (now, name)).rowcount != 1:
            raise ScheduleNotFound(name)
    return get_schedule(store, name)


def resume_schedule(store: Store, name: str, now: float) -> Schedule:
    """Enqueue slots again, from the first one after now: the slots of the pause are not caught up
    (the user paused it to skip them)."""
    with store.write():
        sched = get_schedule(store, name)
        if sched.paused:
            after = next_slot(sched.cron, sched.tz, sched.every, sched.anchor_at, now)
            store.execute("UPDATE schedule SET paused = 0, next_run_at = ?, updated_at = ? WHERE name = ?",
                          (after, now, name))
    return get_schedule(store, name)


def run_schedule_now(store: Store, name: str, now: float, settings: Settings, queue: JobQueue | None = None) -> str:
    """Enqueue one job of the schedule's fields, due now, outside its slots (paused or not); it is
    the schedule's last run from now on. Its next slot is left as it was."""
    queue = queue or JobQueue(store)
    job_id = new_job_ids(1)[0]
    with store.write():
        sched = get_schedule(store, name)
        env = dict(sched.env or {})
        env.update(QUEUECTL_SCHEDULE=sched.name, QUEUECTL_SLOT=iso(now) or "")
        spec = JobSpec(command=sched.command, cwd=sched.cwd, env=env, queue=sched.queue, priority=sched.priority,
                       max_retries=sched.max_retries, timeout=sched.timeout, run_at=now,
                       on_success=sched.on_success, on_failure=sched.on_failure, on_dead=sched.on_dead)
        store.execute("UPDATE schedule SET last_run_at = ?, last_job_id = ?, updated_at = ? WHERE name = ?",
                      (now, job_id, now, name))
        queue.add_in_transaction([spec], settings, now, ids=[job_id])
    return job_id


class Enqueued(NamedTuple):
    """A slot a maintenance pass enqueued."""

    schedule: str
    slot: float
    job_id: str
    missed: bool  # earlier slots were due too (nothing ran then): this job catches them up


def enqueue_due(store: Store, now: float, settings: Settings, queue: JobQueue | None = None, *,
                on_error: Callable[[str, InvalidInput], None] | None = None) -> list[Enqueued]:
    """Enqueue one job for each schedule whose slot is due, exactly once across all callers.

    Each schedule is one short write transaction: a compare-and-set of `next_run_at` from the value
    read, then the slot's job. A caller that loses the race changes nothing. A schedule whose slots
    cannot be computed here (its time zone unknown on this host) is skipped and told to `on_error`."""
    queue = queue or JobQueue(store)
    due = store.execute(
        f"SELECT {_COLUMNS} FROM schedule s LEFT JOIN job j ON j.id = s.last_job_id "
        "WHERE s.paused = 0 AND s.next_run_at <= ? ORDER BY s.next_run_at LIMIT ?",
        (now, DUE_BATCH),
    ).fetchall()
    done: list[Enqueued] = []
    for row in due:
        sched = _schedule(row)
        try:
            slot = latest_slot(sched.cron, sched.tz, sched.every, sched.anchor_at, now) or sched.next_run_at
            following = next_slot(sched.cron, sched.tz, sched.every, sched.anchor_at, now)
        except InvalidInput as exc:
            if on_error is not None:
                on_error(sched.name, exc)
            continue
        slot = max(slot, sched.next_run_at)
        job_id = new_job_ids(1)[0]
        env = dict(sched.env or {})
        env.update(QUEUECTL_SCHEDULE=sched.name, QUEUECTL_SLOT=iso(slot) or "")
        spec = JobSpec(command=sched.command, cwd=sched.cwd, env=env, queue=sched.queue, priority=sched.priority,
                       max_retries=sched.max_retries, timeout=sched.timeout, run_at=slot,
                       on_success=sched.on_success, on_failure=sched.on_failure, on_dead=sched.on_dead)
        with store.write():
            won = store.execute(
                "UPDATE schedule SET next_run_at = ?, last_run_at = ?, last_job_id = ?, updated_at = ? "
                "WHERE name = ? AND next_run_at = ? AND paused = 0",
                (following, slot, job_id, now, sched.name, sched.next_run_at),
            ).rowcount == 1
            if won:
                queue.add_in_transaction([spec], settings, now, ids=[job_id])
        if won:
            done.append(Enqueued(sched.name, slot, job_id, missed=slot > sched.next_run_at))
    return done


def enqueue_due_task(ctx: MaintenanceContext) -> None:
    """The maintenance task (core/maintenance.py): every worker enqueues the due slots it sees."""
    def broken(name: str, exc: Exception) -> None:
        log.warning("schedule %s: cannot compute its slots on this host: %s", name, exc)

    for made in enqueue_due(ctx.store, ctx.now, ctx.settings, ctx.queue, on_error=broken):
        log.info("schedule %s: slot %s enqueued as job %s%s", made.schedule, iso(made.slot), made.job_id,
                 " (catching up missed slots)" if made.missed else "")
