"""Worker rows: registration, heartbeats that carry stop and cancel requests back, listing.

A worker's row is how every other process (CLI, TUI, other hosts) sees it and talks to it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.db import Store
from queuectl.core.errors import QueuectlError, WorkerNotFound
from queuectl.core.overview import WorkerInfo
from queuectl.core.states import LIVE_WORKER_STATES, WorkerState, sql_in

_LIVE = sql_in(LIVE_WORKER_STATES)
WORKER_ROW_RETENTION = 7 * 86400.0  # how long `worker list --all` remembers a stopped or lost worker


def new_worker_id() -> str:
    """A fresh worker id: the supervisor names a worker before it spawns it, the worker itself otherwise."""
    return "w-" + os.urandom(4).hex()  # secrets.token_hex(4), without importing secrets (hmac: start-up)


class Control(NamedTuple):
    """What a heartbeat learned: whether to stop (and how), which job to kill, whether we were declared lost."""

    lost: bool
    stop_requested: bool = False
    force: bool = False
    cancel_job_id: str | None = None


class WorkerRow(NamedTuple):
    id: str
    host: str
    pid: int
    pid_created_at: float
    state: str
    heartbeat_at: float
    wake_addr: str | None


class WorkerRegistry:
    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock
        sql = store.sql
        self._heartbeat = sql(
            f"UPDATE worker SET heartbeat_at = ? WHERE id = ? AND state IN {_LIVE} "
            "RETURNING stop_requested_at, stop_force, cancel_job_id"
        )
        self._clear_cancel = sql("UPDATE worker SET cancel_job_id = NULL WHERE id = ? AND cancel_job_id = ?")

    def register(
        self, worker_id: str, host: str, pid: int, pid_created_at: float, queues: Sequence[str] | None,
        wake_addr: str | None, *, slots: int = 1,
    ) -> None:
        now = self.clock.now()
        with self.store.write():
            # Each start forgets workers that ended long ago: without it every worker ever started
            # stays a row (hidden from `worker list` unless --all) for as long as the store lives.
            self._prune(now - WORKER_ROW_RETENTION)
            self._free_id(worker_id)
            self.store.execute(
                "INSERT INTO worker (id, host, pid, pid_created_at, queues, state, started_at, heartbeat_at, "
                "stop_force, wake_addr, slots) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, 0, ?, ?)",
                (worker_id, host, pid, pid_created_at, ",".join(queues) if queues else None, now, now, wake_addr,
                 slots),
            )

    def _free_id(self, worker_id: str) -> None:
        """Refuse an id a live worker has (or whose jobs are not yet recovered); forget an ended one.

        Two workers under one id would heartbeat for each other, and each one's watchdog kills
        every process carrying that id."""
        row = self.store.execute(
            "SELECT state, host, pid FROM worker WHERE id = ?", (worker_id,)
        ).fetchone()
        if row is None:
            return
        state, host, pid = row
        if state in LIVE_WORKER_STATES:
            raise QueuectlError(f"worker id {worker_id} is in use by a live worker (pid {pid} on host {host}); "
                                "choose another id")
        held = self.store.execute(
            "SELECT id FROM job WHERE state = 'processing' AND worker_id = ? LIMIT 1", (worker_id,)
        ).fetchone()
        if held is not None:
            raise QueuectlError(f"worker id {worker_id} still holds job {held[0]} until it is recovered; "
                                "choose another id")
        self.store.execute("DELETE FROM worker WHERE id = ?", (worker_id,))

    def heartbeat(self, worker_id: str) -> Control:
        row = self.store.execute(self._heartbeat, (self.clock.now(), worker_id)).fetchone()
        if row is None:
            return Control(lost=True)
        return Control(lost=False, stop_requested=row[0] is not None, force=bool(row[1]), cancel_job_id=row[2])

    def clear_cancel(self, worker_id: str, job_id: str) -> None:
        self.store.execute(self._clear_cancel, (worker_id, job_id))

    def mark_stopped(self, worker_id: str) -> None:
        now = self.clock.now()
        with self.store.write():
            self.store.execute(
                "UPDATE worker SET state = 'stopped', stopped_at = ?, heartbeat_at = ? "
                f"WHERE id = ? AND state IN {_LIVE}",
                (now, now, worker_id),
            )

    def mark_lost(self, worker_id: str, seen_heartbeat_at: float) -> bool:
        """Declare a worker lost unless it heartbeat since we looked (the fence against a slow but live one)."""
        now = self.clock.now()
        cursor = self.store.execute(
            f"UPDATE worker SET state = 'lost', stopped_at = ? WHERE id = ? AND state IN {_LIVE} AND heartbeat_at = ?",
            (now, worker_id, seen_heartbeat_at),
        )
        return cursor.rowcount == 1

    def request_stop(self, worker_ids: Sequence[str] | None, *, force: bool = False) -> list[WorkerRow]:
        """Ask workers (all live ones when `worker_ids` is None) to stop; returns those asked."""
        now = self.clock.now()
        with self.store.write():
            live = {w.id: w for w in self.live()}
            if worker_ids is None:
                targets = list(live.values())
            else:
                targets = []
                for worker_id in dict.fromkeys(worker_ids):
                    if worker_id not in live:
                        if self._exists(worker_id):
                            continue  # already stopped or lost: nothing to do
                        raise WorkerNotFound(worker_id)
                    targets.append(live[worker_id])
            for worker in targets:
                self.store.execute(
                    "UPDATE worker SET state = 'stopping', stop_requested_at = coalesce(stop_requested_at, ?), "
                    f"stop_force = ? WHERE id = ? AND state IN {_LIVE}",
                    (now, 1 if force else 0, worker.id),
                )
        return targets

    def _exists(self, worker_id: str) -> bool:
        return self.store.execute("SELECT 1 FROM worker WHERE id = ?", (worker_id,)).fetchone() is not None

    def live(self) -> list[WorkerRow]:
        """Workers that claim to be running (they may be silently dead: rescue decides)."""
        rows = self.store.execute(
            f"SELECT id, host, pid, pid_created_at, state, heartbeat_at, wake_addr FROM worker WHERE state IN {_LIVE}"
        ).fetchall()
        return [WorkerRow(*r) for r in rows]

    def states(self, worker_ids: Sequence[str]) -> dict[str, str]:
        if not worker_ids:
            return {}
        marks = ", ".join("?" * len(worker_ids))
        rows = self.store.execute(f"SELECT id, state FROM worker WHERE id IN ({marks})", list(worker_ids))
        return dict(rows.fetchall())

    def list(self, *, include_stopped: bool = False, worker_timeout: float | None = None) -> list[WorkerInfo]:
        """Workers with their current job; a live one silent past `worker_timeout`, or of this host
        with its process gone, shows as lost (even before anyone could record it)."""
        from queuectl.core.host import host_id, is_same_process

        here = host_id()
        now = self.clock.now()
        where = "" if include_stopped else f"WHERE w.state IN {_LIVE} OR w.state = 'lost'"
        rows = self.store.execute(
            "SELECT w.id, w.host, w.pid, w.pid_created_at, w.queues, w.state, w.started_at, w.heartbeat_at, "
            f"w.stopped_at, w.stop_requested_at, w.slots FROM worker w {where} ORDER BY w.started_at, w.id"
        ).fetchall()
        held: dict[str, list[str]] = {}
        for holder, job_id in self.store.execute(
            "SELECT worker_id, id FROM job WHERE state = 'processing' ORDER BY started_at, seq"
        ).fetchall():
            held.setdefault(holder, []).append(job_id)
        workers = []
        for (wid, host, pid, created, queues, state, started, beat, stopped, stop_req, slots) in rows:
            jobs = tuple(held.get(wid, ()))
            if state in LIVE_WORKER_STATES and (
                (worker_timeout is not None and now - beat > worker_timeout)
                or (host == here and not is_same_process(pid, created))
            ):
                state = WorkerState.LOST.value
            workers.append(WorkerInfo(
                id=wid, host=host, pid=pid, pid_created_at=created,
                queues=tuple(queues.split(",")) if queues else None, state=state, started_at=started,
                heartbeat_at=beat, stopped_at=stopped, current_job_id=jobs[0] if jobs else None,
                stop_requested=stop_req is not None, slots=slots, job_ids=jobs,
            ))
        return workers

    def _prune(self, cutoff: float) -> int:
        """Forget stopped and lost workers that ended before `cutoff` (inside the caller's write)."""
        return self.store.execute(
            "DELETE FROM worker WHERE state IN ('stopped', 'lost') AND stopped_at < ?", (cutoff,)
        ).rowcount
