"""Durable hooks: commands enqueued as jobs of their own when a job ends.

A job's `on_success` fires when it completes, `on_failure` at each failed run (the last one too,
when the job goes dead), `on_dead` when it goes to the DLQ; a queue's hooks (`queue_hook`) fire the
same way for every job of the queue, after the job's own. The hook job is inserted by the finish's
own transaction (`JobQueue._end_job`), so a finish that committed has its hooks, and one that was
fenced off or rolled back has none. The parent's facts reach the hook through its environment,
never through its command text (pueue's callback templating pastes them into a shell line: an
injection path for any job that controls its own output or exit code).
"""

from __future__ import annotations

from typing import NamedTuple

from queuectl.core.db import Store
from queuectl.core.errors import InvalidInput
from queuectl.core.specs import HOOK_FIELDS, JobSpec, hook_command, validate_queue
from queuectl.core.states import JobState

HOOKED_STATES: tuple[JobState, ...] = (JobState.COMPLETED, JobState.FAILED, JobState.DEAD)
QUEUE_HOOKS_TTL = 1.0  # seconds a worker keeps its copy of `queue_hook`

Hooks = tuple[str | None, str | None, str | None]  # on_success, on_failure, on_dead


class Ended(NamedTuple):
    """A run's end as its hooks are told of it."""

    job_id: str
    state: JobState
    exit_code: int | None
    attempt: int
    queue: str
    cwd: str | None
    priority: int
    error: str | None


def _commands(state: JobState, hooks: Hooks) -> list[str]:
    on_success, on_failure, on_dead = hooks
    if state is JobState.COMPLETED:
        chosen = [on_success]
    elif state is JobState.FAILED:
        chosen = [on_failure]
    else:  # dead: its last run failed too
        chosen = [on_failure, on_dead]
    return [c for c in chosen if c]


def hook_env(ended: Ended) -> dict[str, str]:
    """The parent's facts, as the hook's environment."""
    env = {
        "QUEUECTL_PARENT_ID": ended.job_id,
        "QUEUECTL_PARENT_STATE": ended.state.value,
        "QUEUECTL_PARENT_ATTEMPT": str(ended.attempt),
        "QUEUECTL_PARENT_QUEUE": ended.queue,
    }
    if ended.exit_code is not None:
        env["QUEUECTL_PARENT_EXIT_CODE"] = str(ended.exit_code)
    if ended.error:
        env["QUEUECTL_PARENT_ERROR"] = ended.error
    return env


def hook_jobs(ended: Ended, own: Hooks, of_queue: Hooks) -> list[JobSpec]:
    """The jobs a run's end fires: the job's own hooks, then its queue's; in the parent's queue
    (served by the workers that served the parent), cwd and priority."""
    commands = _commands(ended.state, own) + _commands(ended.state, of_queue)
    if not commands:
        return []
    env = hook_env(ended)
    return [JobSpec(command=c, cwd=ended.cwd, env=env, queue=ended.queue, priority=ended.priority) for c in commands]


# ── per-queue hooks ──────────────────────────────────────────────────────────────────────────


class QueueHooks(NamedTuple):
    queue: str
    on_success: str | None
    on_failure: str | None
    on_dead: str | None

    def to_json(self) -> dict[str, str | None]:
        return self._asdict()


def set_queue_hooks(store: Store, queue: str, **hooks: str | None) -> QueueHooks:
    """Set (a command) or clear (None or "") some of a queue's hooks; the others stay as they are."""
    name = validate_queue(queue)
    for field in hooks:
        if field not in HOOK_FIELDS:
            raise InvalidInput(f"unknown hook {field!r} (known: {', '.join(HOOK_FIELDS)})")
    checked = {f: (hook_command(f, v) if v else None) for f, v in hooks.items()}
    with store.write():
        current = queue_hooks(store, name)
        merged = current._replace(**checked)
        store.execute(
            "INSERT INTO queue_hook (queue, on_success, on_failure, on_dead) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (queue) DO UPDATE SET on_success = excluded.on_success, "
            "on_failure = excluded.on_failure, on_dead = excluded.on_dead",
            (name, merged.on_success, merged.on_failure, merged.on_dead),
        )
        if not any((merged.on_success, merged.on_failure, merged.on_dead)):
            store.execute("DELETE FROM queue_hook WHERE queue = ?", (name,))
    return merged


def queue_hooks(store: Store, queue: str) -> QueueHooks:
    """A queue's hooks (all None when it has none)."""
    row = store.execute("SELECT on_success, on_failure, on_dead FROM queue_hook WHERE queue = ?", (queue,)).fetchone()
    return QueueHooks(queue, *(row or (None, None, None)))


def all_queue_hooks(store: Store) -> list[QueueHooks]:
    rows = store.execute("SELECT queue, on_success, on_failure, on_dead FROM queue_hook ORDER BY queue").fetchall()
    return [QueueHooks(*r) for r in rows]
