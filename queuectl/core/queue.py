"""JobQueue: every job transition, each one guarded statement or one write transaction.

Guards are the fence: a transition names the state (and, for a running job, the worker and the
attempt) it expects, so a late finisher whose job was recovered meanwhile changes nothing.
The hot path (claim, start_run, finish) runs SQL built once per queue with `execute_sql`.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from queuectl.core import testhooks
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import PAUSED_KEY
from queuectl.core.db import Store
from queuectl.core.errors import DuplicateJob, InvalidInput, InvalidTransition, JobNotFound
from queuectl.core.hooks import HOOKED_STATES, QUEUE_HOOKS_TTL, hook_jobs
from queuectl.core.hooks import Ended as _Ended
from queuectl.core.migrations.m0002_job_counts import shard_expression
from queuectl.core.migrations.m0003_count_shard_lock import shard_lock
from queuectl.core.models import bound_models
from queuectl.core.orm import peewee
from queuectl.core.records import ClaimedJob, Counts, JobRecord, RunOutput, RunRecord, RunStart
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.states import (
    CANCELLABLE_WAITING,
    CANCELLED_BY_USER,
    CLAIMABLE,
    PURGEABLE,
    RETRYABLE,
    Decision,
    JobState,
    RunResult,
    WorkerLost,
    decide,
    sql_in,
)

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_ID_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
_ID_COUNTER_BITS = 18
_ENQUEUE_CHUNK = 5000


_ID_PAIRS = [a + b for a in _ID_ALPHABET for b in _ID_ALPHABET]  # 10 bits -> 2 characters


class _JobIds:
    """12-character ids that sort by creation time: 42 bits of milliseconds, 18 of counter.

    Time-ordered ids append at the right edge of the id index instead of landing on random
    pages: a 100,000-job bulk enqueue inserts 40 % faster. The counter starts at a random
    point each millisecond, so two processes rarely meet; `enqueue` retries if they do.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0

    def take(self, count: int) -> list[str]:
        """`count` new ids, in order (one clock read and one lock for the whole batch)."""
        ids: list[str] = []
        with self._lock:
            ms = int(time.time() * 1000) - _ID_EPOCH_MS
            if ms > self._ms:
                self._ms, self._counter = ms, secrets.randbits(_ID_COUNTER_BITS - 1) - 1
            for _ in range(count):
                self._counter += 1
                if self._counter >> _ID_COUNTER_BITS:  # this millisecond's counter is used up: borrow the next
                    self._ms, self._counter = self._ms + 1, secrets.randbits(_ID_COUNTER_BITS - 1)
                ids.append(_encode_id((self._ms << _ID_COUNTER_BITS) | self._counter))
        return ids


def _encode_id(n: int) -> str:
    """60 bits -> 12 base32 characters, most significant first (so ids sort like numbers)."""
    pairs = _ID_PAIRS
    return (pairs[n >> 50 & 1023] + pairs[n >> 40 & 1023] + pairs[n >> 30 & 1023]
            + pairs[n >> 20 & 1023] + pairs[n >> 10 & 1023] + pairs[n & 1023])


new_job_ids = _JobIds().take


def _record(row: tuple) -> JobRecord:
    """A JobRecord from a row of the JobRecord columns (env decoded from its JSON)."""
    record = JobRecord(*row)
    return record._replace(env=json.loads(record.env)) if record.env else record


class FinishResult(NamedTuple):
    """What a finish did: the job's new state, or None when fenced off (the job was recovered)."""

    state: JobState | None
    run_at: float | None = None


class Holding(NamedTuple):
    """What the store says of a run a worker believes it holds."""

    held: bool
    cancel_requested: bool  # a cancel names the run: claims and finishes clear it
    why_not: str


class _Held(NamedTuple):
    """A job a lost worker held, as its rescue reads it."""

    attempts: int
    max_retries: int


class JobQueue:
    """The job state machine over one store."""

    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock
        self._models = bound_models(store.db)  # this store's, never another's (see models.py)
        self._record_columns = [getattr(self._models.Job, name) for name in JobRecord._fields]
        sql = store.sql
        claimable = sql_in(CLAIMABLE)
        self._claim_head = (
            "UPDATE job SET state = 'processing', attempts = attempts + 1, worker_id = ?, "
            "started_at = ?, updated_at = ?, finished_at = NULL, cancel_requested_at = NULL "
            "WHERE seq = (SELECT seq FROM job{indexed} WHERE state IN " + claimable + " AND run_at <= ? {queues}"
            "ORDER BY priority DESC, run_at, seq LIMIT 1{lock}) "
            "AND state IN " + claimable + " "
            f"AND NOT EXISTS (SELECT 1 FROM setting WHERE key = '{PAUSED_KEY}' AND value = 'true') "
            "RETURNING id, command, cwd, env, timeout, attempts, max_retries, queue, keep_children"
        )
        self._claim_sql: dict[int, str] = {}
        self._insert_job = sql(
            "INSERT INTO job (id, command, cwd, env, queue, priority, state, attempts, max_retries, "
            "timeout, run_at, created_at, updated_at, keep_children, on_success, on_failure, on_dead, parent_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._start_run = sql(
            "INSERT INTO run (job_id, number, attempt, worker_id, host, pid, pid_created_at, started_at, "
            "output_bytes) VALUES (?, (SELECT coalesce(max(number), 0) + 1 FROM run WHERE job_id = ?), "
            "?, ?, ?, ?, ?, ?, 0) RETURNING number"
        )
        self._insert_finished_run = sql(
            "INSERT INTO run (job_id, number, attempt, worker_id, host, pid, pid_created_at, started_at, "
            "finished_at, exit_code, error, output, output_bytes) VALUES (?, (SELECT coalesce(max(number), 0) + 1 "
            "FROM run WHERE job_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        # A cancel requested while the job ran wins over any end but success: the user asked
        # for it not to run again.
        self._finish_job = sql(
            "UPDATE job SET "
            "state = CASE WHEN cancel_requested_at IS NOT NULL AND ? <> 'completed' THEN 'cancelled' ELSE ? END, "
            "attempts = ?, run_at = coalesce(?, run_at), finished_at = ?, updated_at = ?, exit_code = ?, "
            f"last_error = CASE WHEN cancel_requested_at IS NOT NULL AND ? <> 'completed' THEN '{CANCELLED_BY_USER}' "
            "ELSE ? END, cancel_requested_at = NULL "
            "WHERE id = ? AND state = 'processing' AND worker_id = ? AND attempts = ? "
            "RETURNING state, queue, cwd, priority, on_success, on_failure, on_dead, parent_id"
        )
        self._queue_hooks: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._queue_hooks_read_at = -math.inf
        self._finish_run = sql(
            "UPDATE run SET finished_at = ?, exit_code = ?, error = ?, output = ?, output_bytes = ? "
            "WHERE job_id = ? AND number = ? AND worker_id = ?"
        )
        # Fenced on the worker too: a job deleted and enqueued again reuses run numbers.
        self._run_output = sql(
            "UPDATE run SET output = ?, output_bytes = ? WHERE job_id = ? AND number = ? AND worker_id = ?"
        )
        # A running job's output is appended as chunk rows (m0006_run_chunks), never rewritten whole.
        self._run_bytes = sql(
            "UPDATE run SET output_bytes = ? WHERE job_id = ? AND number = ? AND worker_id = ? AND finished_at IS NULL"
        )
        self._add_chunk = sql(
            "INSERT INTO run_chunk (job_id, run_number, seq, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (job_id, run_number, seq) DO NOTHING"
        )
        # Chunks that end before the kept tail, or that the new chunk covers (it starts before their end)
        self._trim_chunks = sql("DELETE FROM run_chunk WHERE job_id = ? AND run_number = ? AND (seq <= ? OR seq > ?)")
        self._chunks = sql("SELECT seq, data FROM run_chunk WHERE job_id = ? AND run_number = ? ORDER BY seq")
        self._drop_chunks = sql(
            "DELETE FROM run_chunk WHERE job_id = ? AND run_number = ? "
            "AND EXISTS (SELECT 1 FROM run WHERE job_id = ? AND number = ? AND worker_id = ?)"
        )
        # Inserts and deletes keep job_count set-based; state changes are counted by a trigger.
        # On PostgreSQL under the shard's lock, as the trigger does (m0003_count_shard_lock).
        shard = shard_expression(store)
        source = (f"VALUES (?, {shard}, ?)" if store.is_sqlite
                  else f"SELECT ?, {shard}, ? FROM (SELECT {shard_lock(store)}) AS shard_lock")
        self._count_add = sql(
            f"INSERT INTO job_count (state, shard, n) {source} "
            "ON CONFLICT (state, shard) DO UPDATE SET n = job_count.n + excluded.n"
        )

    # ── enqueue ──────────────────────────────────────────────────────────────────────────────

    def enqueue(self, specs: Sequence[JobSpec], settings: Settings, *, default_cwd: str | None = None,
                now: float | None = None) -> list[str]:
        """Add jobs, all or none; returns their ids in input order.

        `now` is their creation time: the caller's, when it resolved a relative time (`--delay`)
        against it, so a 2 s delay is 2 s after `created_at` however long the start-up took."""
        if not specs:
            raise InvalidInput("no jobs given")
        now = self.clock.now() if now is None else now
        given = [spec.id for spec in specs if spec.id]
        if len(set(given)) != len(given):
            seen: set[str] = set()
            duplicate = next(i for i in given if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise DuplicateJob(f"duplicate id in input: {duplicate}")
        for attempt in range(3):
            fresh = iter(new_job_ids(len(specs) - len(given)))
            rows = [self._row(spec, spec.id or next(fresh), settings, default_cwd, now) for spec in specs]
            try:
                with self.store.write():
                    self._insert_rows(rows)
                return [r[0] for r in rows]
            except Exception as exc:
                if "unique" not in str(exc).lower():
                    raise
                taken = self._existing_ids([r[0] for r in rows])
                if not taken:
                    raise
                if taken[0] in given or attempt == 2:
                    raise DuplicateJob(f"a job with id '{taken[0]}' already exists") from None
                # a generated id met another process's: generate again
        raise AssertionError("unreachable")

    def _insert_rows(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Insert new pending jobs (rows of `_row`) and count them, inside the caller's write transaction."""
        for start in range(0, len(rows), _ENQUEUE_CHUNK):
            self.store.executemany(self._insert_job, rows[start:start + _ENQUEUE_CHUNK])
        self.store.execute(self._count_add, (JobState.PENDING.value, len(rows)))

    def add_in_transaction(self, specs: Sequence[JobSpec], settings: Settings, now: float, *,
                           parent_id: str | None = None, ids: Sequence[str] | None = None) -> list[str]:
        """Enqueue jobs inside the caller's write transaction (a schedule's slot, a hook): they
        exist exactly when the caller's other writes do. Ids are generated unless given."""
        fresh = iter(ids if ids is not None else new_job_ids(len(specs)))
        rows = [self._row(spec, next(fresh), settings, None, now, parent_id) for spec in specs]
        self._insert_rows(rows)
        return [str(r[0]) for r in rows]

    @staticmethod
    def _row(spec: JobSpec, job_id: str, settings: Settings, default_cwd: str | None, now: float,
             parent_id: str | None = None) -> tuple[object, ...]:
        return (
            job_id, spec.command, spec.cwd or default_cwd,
            json.dumps(spec.env, separators=(",", ":")) if spec.env else None,
            spec.queue, spec.priority,
            settings.max_retries if spec.max_retries is None else spec.max_retries,
            settings.job_timeout if spec.timeout is None else spec.timeout,
            now if spec.run_at is None else spec.run_at, now, now, int(spec.keep_children),
            spec.on_success, spec.on_failure, spec.on_dead, parent_id,
        )

    def _existing_ids(self, ids: list[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.store.execute(self.store.sql(f"SELECT id FROM job WHERE id IN ({marks})"), chunk)
            found.extend(r[0] for r in rows.fetchall())
        order = {job_id: i for i, job_id in enumerate(ids)}
        return sorted(found, key=order.__getitem__)

    # ── the worker's hot path ────────────────────────────────────────────────────────────────

    def _claim_statement(self, n_queues: int) -> str:
        sql = self._claim_sql.get(n_queues)
        if sql is None:
            queues = f"AND queue IN ({', '.join('?' * n_queues)}) " if n_queues else ""
            if self.store.is_sqlite:
                # Without statistics SQLite prefers the (state, seq) index and sorts; the partial
                # claim index already holds the claimable rows in claim order.
                index = "job_claim_queue" if n_queues else "job_claim"
                indexed, lock = f" INDEXED BY {index}", ""
            else:
                indexed, lock = "", " FOR UPDATE SKIP LOCKED"
            sql = self.store.sql(self._claim_head.format(queues=queues, lock=lock, indexed=indexed))
            if not self.store.is_sqlite:
                # Workers commit with synchronous_commit=off, but a claim must be durable before
                # its job starts: a server crash that lost it would let another worker claim the
                # job again while it runs. In one simple query the two statements are one
                # transaction (or part of the caller's), so SET LOCAL covers the claim's commit.
                sql = "SET LOCAL synchronous_commit = on; " + sql
            self._claim_sql[n_queues] = sql
        return sql

    def claim(self, worker_id: str, queues: Sequence[str] | None = None) -> ClaimedJob | None:
        """Take the next due job (highest priority, then oldest), or None; one statement."""
        now = self.clock.now()
        params: list[object] = [worker_id, now, now, now]
        if queues:
            params.extend(queues)
        cursor = self.store.execute(self._claim_statement(len(queues or ())), params)
        row = cursor.fetchone()
        if row is None:
            return None
        return ClaimedJob(
            id=row[0], command=row[1], cwd=row[2], env=json.loads(row[3]) if row[3] else None,
            timeout=row[4], attempts=row[5], max_retries=row[6], queue=row[7], keep_children=bool(row[8]),
        )

    def start_run(self, job: ClaimedJob, worker_id: str, start: RunStart) -> int:
        """Record a run that is under way (with the process we own); returns the run's number.

        Workers call this only for jobs that outlive a first short wait: a quick job's run is
        written by `finish` in the same transaction as its result.
        """
        row = self.store.execute(
            self._start_run,
            (job.id, job.id, job.attempts, worker_id, start.host, start.pid, start.pid_created_at, start.started_at),
        ).fetchone()
        return row[0]

    def holding(self, job_id: str, worker_id: str, attempt: int) -> Holding:
        """Whether this worker still holds this run of the job (state, worker and attempt), and
        whether a cancel was asked for it; a worker asks at every heartbeat while the job runs."""
        row = self.store.execute(
            self.store.sql("SELECT state, worker_id, attempts, cancel_requested_at FROM job WHERE id = ?"), (job_id,)
        ).fetchone()
        if row is None:
            return Holding(False, False, "the job no longer exists")
        state, holder, attempts, cancel_requested_at = row
        if state == JobState.PROCESSING.value and holder == worker_id and attempts == attempt:
            return Holding(True, cancel_requested_at is not None, "")
        return Holding(False, False, f"the store has it {state}, worker {holder or '-'}, attempt {attempts}")

    def save_output(
        self, job_id: str, run_number: int, output: bytes, output_bytes: int, worker_id: str, *,
        keep: int | None = None,
    ) -> None:
        """Store what a running job printed since the last save, for `logs -f` and the TUI on any host.

        `output` is the bytes that end at byte `output_bytes` of the run: the new ones (or the
        kept tail, when the runner dropped bytes never saved). It is appended as a chunk row, so
        a save writes in proportion to what is new, not to the tail. In the same transaction go
        the chunks that end before the last `keep` bytes, and those the new one covers (a save
        that starts before their end: passing the whole output again replaces it).
        Fenced on the worker: only the worker whose run it is, while it runs, adds to it."""
        with self.store.write():
            if self.store.execute(self._run_bytes, (output_bytes, job_id, run_number, worker_id)).rowcount != 1:
                return
            cutoff = output_bytes - keep if keep is not None else -1
            self.store.execute(self._trim_chunks, (job_id, run_number, cutoff, output_bytes - len(output)))
            if output:
                self.store.execute(self._add_chunk, (job_id, run_number, output_bytes, output))

    def _chunked_output(self, job_id: str, run_number: int, output: bytes, keep: int) -> bytes:
        """`output` followed by the run's chunks in order, the last `keep` bytes."""
        rows = self.store.execute(self._chunks, (job_id, run_number)).fetchall()
        joined = b"".join([output, *(bytes(data) for _, data in rows)])
        return joined[-keep:] if len(joined) > keep else joined

    def finish(
        self,
        job: ClaimedJob,
        worker_id: str,
        run: int | RunStart | None,
        result: RunResult,
        settings: Settings,
        *,
        output: bytes = b"",
        output_bytes: int = 0,
        finished_at: float | None = None,
    ) -> FinishResult:
        """End a run with `result`: the job's next state is `decide`'s (completed, failed with a
        retry due later, dead, cancelled, or back to pending).

        `run` is the number `start_run` returned, or a RunStart to record the whole run now.
        Fenced on (state, worker, attempt): a worker whose job was recovered changes nothing.
        """
        with self.store.write():
            return self._finish_rows(job, worker_id, run, result, settings, output, output_bytes, finished_at)

    def finish_and_claim(
        self,
        job: ClaimedJob,
        worker_id: str,
        run: int | RunStart | None,
        result: RunResult,
        settings: Settings,
        *,
        queues: Sequence[str] | None = None,
        output: bytes = b"",
        output_bytes: int = 0,
        finished_at: float | None = None,
    ) -> tuple[FinishResult, ClaimedJob | None]:
        """`finish`, then `claim` the next job in the same write transaction: one lock round per job."""
        with self.store.write():
            done = self._finish_rows(job, worker_id, run, result, settings, output, output_bytes, finished_at)
            return done, self.claim(worker_id, queues)

    def _finish_rows(
        self, job: ClaimedJob, worker_id: str, run: int | RunStart | None, result: RunResult, settings: Settings,
        output: bytes, output_bytes: int, finished_at: float | None,
    ) -> FinishResult:
        """The statements of `finish`, inside the caller's write transaction."""
        now = self.clock.now()
        ended = now if finished_at is None else finished_at  # when the process ended, not when we could record it
        decision = decide(job, result, settings, now)
        state, error, exit_code = decision.state, decision.error, result.exit_code
        written = self._end_job(job.id, worker_id, job.attempts, decision, exit_code, ended, now, settings)
        if written is not None and written is not state:  # cancelled while it ran
            state, error = written, CANCELLED_BY_USER
        if isinstance(run, RunStart):
            if written is not None:
                self.store.execute(self._insert_finished_run, (
                    job.id, job.id, job.attempts, worker_id, run.host, run.pid, run.pid_created_at,
                    run.started_at, ended, exit_code, error, output, output_bytes,
                ))
        elif run is not None:
            if written is not None:
                self.store.execute(
                    self._finish_run, (ended, exit_code, error, output, output_bytes, job.id, run, worker_id)
                )
            else:
                self.store.execute(self._run_output, (output, output_bytes, job.id, run, worker_id))
            self.store.execute(self._drop_chunks, (job.id, run, job.id, run, worker_id))  # the tail is in run.output
        return FinishResult(state if written is not None else None, decision.run_at)

    def _end_job(self, job_id: str, worker_id: str, attempt: int, decision: Decision, exit_code: int | None,
                 ended: float, now: float, settings: Settings) -> JobState | None:
        """Write `decision` to the job, fenced on (processing, worker, attempt): the state written,
        or None when fenced off. A cancel requested meanwhile still wins (the CASE of `_finish_job`).
        The hooks the end fires are enqueued here, in the same transaction: durable with it."""
        state = decision.state.value
        row = self.store.execute(self._finish_job, (
            state, state, decision.attempts, decision.run_at, ended, now, exit_code, state, decision.error,
            job_id, worker_id, attempt,
        )).fetchone()
        if row is None:
            return None
        written = JobState(row[0])
        if written in HOOKED_STATES and row[7] is None:  # a hook job fires no hooks: no chains
            ended_as = _Ended(job_id, written, exit_code, attempt, row[1], row[2], row[3], decision.error)
            specs = hook_jobs(ended_as, (row[4], row[5], row[6]), self._hooks_of_queue(row[1]))
            if specs:
                self.add_in_transaction(specs, settings, now, parent_id=job_id)
        return written

    def _hooks_of_queue(self, queue: str) -> tuple[str | None, str | None, str | None]:
        """The queue's hooks (`queue_hook`), from a copy of that small table read at most once a
        second: a hook set on a queue applies to finishes from a second later on."""
        now = time.monotonic()
        if now - self._queue_hooks_read_at > QUEUE_HOOKS_TTL:
            rows = self.store.execute("SELECT queue, on_success, on_failure, on_dead FROM queue_hook").fetchall()
            self._queue_hooks = {r[0]: (r[1], r[2], r[3]) for r in rows}
            self._queue_hooks_read_at = now
        return self._queue_hooks.get(queue, (None, None, None))

    def release(self, job: ClaimedJob, worker_id: str) -> bool:
        """Hand back a claimed job that never started (its worker is stopping): pending, uncounted."""
        cursor = self.store.execute(
            self.store.sql(
                "UPDATE job SET state = CASE WHEN cancel_requested_at IS NULL THEN 'pending' ELSE 'cancelled' END, "
                "last_error = CASE WHEN cancel_requested_at IS NULL THEN last_error ELSE ? END, "
                "finished_at = CASE WHEN cancel_requested_at IS NULL THEN finished_at ELSE ? END, "
                "attempts = attempts - 1, updated_at = ?, cancel_requested_at = NULL "
                "WHERE id = ? AND state = 'processing' AND worker_id = ? AND attempts = ?"
            ),
            (CANCELLED_BY_USER, self.clock.now(), self.clock.now(), job.id, worker_id, job.attempts),
        )
        return cursor.rowcount == 1

    def release_stray_claims(self, worker_id: str, running: str | None) -> list[str]:
        """Hand back jobs this worker holds but is not running: a claim whose reply was lost
        with the connection committed without the worker knowing. Pending again, uncounted."""
        rows = self.store.execute(
            "SELECT id, attempts FROM job WHERE state = 'processing' AND worker_id = ?", (worker_id,)
        ).fetchall()
        released = []
        for job_id, attempts in rows:
            if job_id != running:
                stray = ClaimedJob(job_id, "", None, None, 0, attempts, 0, "")
                if self.release(stray, worker_id):
                    released.append(job_id)
        return released

    # ── recovery ─────────────────────────────────────────────────────────────────────────────

    def fail_jobs_of_lost_worker(self, worker_id: str, settings: Settings) -> list[tuple[str, JobState]]:
        """Each job the lost worker held ends its run as `WorkerLost` (a failed attempt, or
        cancelled if a cancel was pending). Returns (job id, new state) pairs."""
        now = self.clock.now()
        sql = self.store.sql
        lost = WorkerLost()
        done: list[tuple[str, JobState]] = []
        with self.store.write():
            rows = self.store.execute(
                sql("SELECT id, attempts, max_retries, cancel_requested_at FROM job "
                    "WHERE state = 'processing' AND worker_id = ?"),
                (worker_id,),
            ).fetchall()
            for job_id, attempts, max_retries, cancel_requested_at in rows:
                held = _Held(attempts, max_retries)
                decision = decide(held, lost, settings, now, cancel_requested=cancel_requested_at is not None)
                state = self._end_job(job_id, worker_id, held.attempts, decision, lost.exit_code, now, now, settings)
                if state is None:
                    # another rescuer got there first (PostgreSQL lets two run at once: the row
                    # lock makes this UPDATE wait, then find the job no longer processing)
                    continue
                open_run = self.store.execute(
                    sql("SELECT number, output FROM run WHERE job_id = ? AND worker_id = ? AND attempt = ? "
                        "AND finished_at IS NULL"),
                    (job_id, worker_id, held.attempts),
                ).fetchone()
                if open_run is not None:  # what the lost run printed: its chunks, folded into its output
                    number = open_run[0]
                    kept = self._chunked_output(job_id, number, bytes(open_run[1] or b""), settings.log_max_bytes)
                    self.store.execute(
                        sql("UPDATE run SET finished_at = ?, error = ?, output = ? WHERE job_id = ? AND number = ?"),
                        (now, lost.error, kept, job_id, number),
                    )
                    self.store.execute(self._drop_chunks, (job_id, number, job_id, number, worker_id))
                else:  # the worker died between its claim and recording the run
                    self.store.execute(
                        sql("INSERT INTO run (job_id, number, attempt, worker_id, host, started_at, "
                            "finished_at, error, output_bytes) SELECT ?, coalesce(max(number), 0) + 1, ?, ?, "
                            "'', ?, ?, ?, 0 FROM run WHERE job_id = ?"),
                        (job_id, held.attempts, worker_id, now, now, lost.error, job_id),
                    )
                done.append((job_id, state))
        return done

    # ── user operations ─────────────────────────────────────────────────────────────────────

    def _states_of(self, ids: Sequence[str]) -> dict[str, str]:
        """Current state of each id, raising JobNotFound for the first unknown one.

        Called inside a write transaction: on PostgreSQL the rows are locked (FOR UPDATE, in id
        order) until it ends, so a worker cannot claim or finish them between this read and the
        caller's writes (SQLite's write lock already excludes it); a claim skips a locked row."""
        states: dict[str, str] = {}
        lock = "" if self.store.is_sqlite else " ORDER BY id FOR UPDATE"
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self.store.execute(self.store.sql(f"SELECT id, state FROM job WHERE id IN ({marks}){lock}"), chunk)
            states.update(rows.fetchall())
        testhooks.pause_point("after-reading-states")
        for job_id in ids:
            if job_id not in states:
                raise JobNotFound(job_id)
        return states

    def retry(self, ids: Sequence[str], *, force: bool = False, only_dead: bool = False) -> list[str]:
        """Put failed, dead or cancelled (with force also completed) jobs back to pending, attempts reset.
        All or none: an unknown id or a job in another state changes nothing."""
        allowed: tuple[JobState, ...] = (JobState.DEAD,) if only_dead else RETRYABLE
        if force and not only_dead:
            allowed = allowed + (JobState.COMPLETED,)
        ids = list(dict.fromkeys(ids))
        now = self.clock.now()
        with self.store.write():
            states = self._states_of(ids)
            for job_id in ids:
                if states[job_id] not in allowed:
                    rerun = states[job_id] == "completed" and not only_dead
                    hint = " (use --force to run a completed job again)" if rerun else ""
                    where = "in the DLQ" if only_dead else f"{', '.join(allowed)}"
                    raise InvalidTransition(
                        f"job {job_id} is {states[job_id]}; "
                        f"only jobs {'' if only_dead else 'that are '}{where} can be retried{hint}"
                    )
            # the previous run's error and exit code stay in its run row, not on a job that has not run since
            self.store.executemany(
                "UPDATE job SET state = 'pending', attempts = 0, run_at = ?, updated_at = ?, finished_at = NULL, "
                "last_error = NULL, exit_code = NULL, "
                f"cancel_requested_at = NULL WHERE id = ? AND state IN {sql_in(allowed)}",
                [(now, now, job_id) for job_id in ids],
            )
        return ids

    def retry_all_dead(self) -> int:
        now = self.clock.now()
        with self.store.write():
            return self.store.execute(
                self.store.sql(
                    "UPDATE job SET state = 'pending', attempts = 0, run_at = ?, updated_at = ?, "
                    "finished_at = NULL, last_error = NULL, exit_code = NULL WHERE state = 'dead'"
                ),
                (now, now),
            ).rowcount

    def cancel(self, ids: Sequence[str]) -> dict[str, JobState]:
        """Cancel waiting jobs at once; ask the workers of running ones to kill them.
        Returns each id's state after the call (cancelled, or processing while the kill is under way)."""
        ids = list(dict.fromkeys(ids))
        now = self.clock.now()
        sql = self.store.sql
        result: dict[str, JobState] = {}
        with self.store.write():
            states = self._states_of(ids)
            for job_id in ids:
                if states[job_id] not in (*CANCELLABLE_WAITING, JobState.PROCESSING):
                    raise InvalidTransition(
                        f"job {job_id} is {states[job_id]}; only waiting or running jobs can be cancelled"
                    )
            for job_id in ids:
                # Each answer comes from the row the guarded statement changed, never from the read.
                if states[job_id] == JobState.PROCESSING:
                    row = self.store.execute(
                        sql("UPDATE job SET cancel_requested_at = ?, updated_at = ? "
                            "WHERE id = ? AND state = 'processing' RETURNING worker_id"),
                        (now, now, job_id),
                    ).fetchone()
                    if row is None:
                        raise InvalidTransition(f"job {job_id} changed state meanwhile; try again")
                    # wakes the worker; the job row's cancel_requested_at, which names this
                    # attempt (a claim clears it), is what the worker obeys
                    self.store.execute(sql("UPDATE worker SET cancel_job_id = ? WHERE id = ?"), (job_id, row[0]))
                    result[job_id] = JobState.PROCESSING
                else:
                    changed = self.store.execute(
                        sql("UPDATE job SET state = 'cancelled', updated_at = ?, finished_at = ?, last_error = ? "
                            f"WHERE id = ? AND state IN {sql_in(CANCELLABLE_WAITING)}"),
                        (now, now, CANCELLED_BY_USER, job_id),
                    ).rowcount
                    if changed != 1:
                        raise InvalidTransition(f"job {job_id} changed state meanwhile; try again")
                    result[job_id] = JobState.CANCELLED
        return result

    def delete(self, ids: Sequence[str], *, only_dead: bool = False) -> list[str]:
        """Remove jobs (and their runs) that are not running; all or none."""
        ids = list(dict.fromkeys(ids))
        with self.store.write():
            states = self._states_of(ids)
            for job_id in ids:
                if states[job_id] == JobState.PROCESSING:
                    raise InvalidTransition(f"job {job_id} is running; cancel it first")
                if only_dead and states[job_id] != JobState.DEAD:
                    raise InvalidTransition(f"job {job_id} is {states[job_id]}, not in the DLQ")
            removed: Counter[str] = Counter()
            for job_id in ids:  # counted from the rows actually deleted, never from the read
                row = self.store.execute(
                    self.store.sql("DELETE FROM job WHERE id = ? AND state <> 'processing' RETURNING state"), (job_id,)
                ).fetchone()
                if row is None:
                    raise InvalidTransition(f"job {job_id} is running; cancel it first")
                removed[row[0]] += 1
            self._uncount(removed)
        return ids

    def _uncount(self, removed: Counter[str]) -> None:
        for state, n in removed.items():
            if n:
                self.store.execute(self._count_add, (state, -n))

    def purge(self, states: Iterable[JobState] = PURGEABLE, older_than: float | None = None) -> int:
        """Remove finished jobs in bulk (optionally only those finished more than `older_than` s ago)."""
        chosen = tuple(states)
        for state in chosen:
            if state not in PURGEABLE:
                raise InvalidInput(f"purge takes only finished states ({', '.join(PURGEABLE)}), not {state}")
        sql = "DELETE FROM job WHERE state = ?"
        extra: tuple[object, ...] = ()
        if older_than is not None:
            sql += " AND finished_at <= ?"
            extra = (self.clock.now() - older_than,)
        removed: Counter[str] = Counter()
        with self.store.write():
            for state in dict.fromkeys(chosen):
                removed[state.value] = self.store.execute(self.store.sql(sql), (state.value, *extra)).rowcount
            self._uncount(removed)
        if any(removed.values()):
            self.store.reclaim_space()  # the file shrinks (SQLite), in bounded steps
        return sum(removed.values())

    def prune_finished(self, state: JobState, finished_before: float, *, window: int, batch: int) -> int:
        """Delete up to `batch` jobs in `state` that finished before `finished_before`, looking only
        at the `window` oldest of that state (by the (state, seq) index): one short transaction
        whatever the table's size. A job enqueued early that finished late waits at the head
        until it is old enough; jobs behind it wait with it (at most its age)."""
        if state not in PURGEABLE:
            raise InvalidInput(f"only finished jobs are pruned, not {state}")
        removed: Counter[str] = Counter()
        with self.store.write():
            rows = self.store.execute(self.store.sql(
                "DELETE FROM job WHERE seq IN (SELECT seq FROM (SELECT seq, finished_at FROM job WHERE state = ? "
                "ORDER BY seq LIMIT ?) AS head WHERE finished_at <= ? LIMIT ?) AND state = ? RETURNING state"),
                (state.value, window, finished_before, batch, state.value),
            ).fetchall()
            for (name,) in rows:
                removed[name] += 1
            self._uncount(removed)
        return sum(removed.values())

    def prune_runs(self, keep: int, after_seq: int, window: int) -> tuple[int, int]:
        """Keep the last `keep` finished runs of each job that has a run among the `window` runs
        after `after_seq` (in run order); returns (runs deleted, the last seq looked at). Each
        job's older runs go in a transaction of their own."""
        sql = self.store.sql
        last = self.store.execute("SELECT max(seq) FROM run").fetchone()[0] or 0
        upto = min(after_seq + window, last)
        jobs = [r[0] for r in self.store.execute(
            sql("SELECT DISTINCT job_id FROM run WHERE seq > ? AND seq <= ? AND number > ?"), (after_seq, upto, keep)
        ).fetchall()]
        deleted = 0
        for job_id in jobs:
            with self.store.write():
                deleted += self.store.execute(sql(
                    "DELETE FROM run WHERE job_id = ? AND finished_at IS NOT NULL AND number <= "
                    "(SELECT max(number) FROM run WHERE job_id = ?) - ?"), (job_id, job_id, keep)).rowcount
        return deleted, upto

    # ── reading ──────────────────────────────────────────────────────────────────────────────

    def get_many(self, ids: Sequence[str]) -> list[JobRecord]:
        """The jobs with these ids, in the order given (unknown ids are left out)."""
        found: dict[str, JobRecord] = {}
        Job = self._models.Job
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            query = Job.select(*self._record_columns).where(Job.id.in_(chunk))
            found.update((r.id, JobRecord.from_row(r)) for r in query)
        return [found[i] for i in ids if i in found]

    def get(self, job_id: str) -> JobRecord:
        Job = self._models.Job
        row = Job.get_or_none(Job.id == job_id)
        if row is None:
            raise JobNotFound(job_id)
        return JobRecord.from_row(row)

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int = 50,
        offset: int = 0,
        search: str | None = None,
        run_order: bool = False,
    ) -> list[JobRecord]:
        """Jobs newest first, a bounded page (by index: never a scan of the whole table).

        `run_order`: pending and failed jobs in the order they will run instead (see `_select`).
        `search` matches a substring of the id or the command; it scans, page by page."""
        query = self._select(state, queue, search, run_order).limit(limit).offset(offset)
        return [JobRecord.from_row(r) for r in query]

    def _select(self, state: JobState | None, queue: str | None, search: str | None = None,
                run_order: bool = False) -> peewee.ModelSelect:
        Job = self._models.Job
        query = Job.select(*self._record_columns)
        if state is not None:
            query = query.where(Job.state == state.value)
        if queue is not None:
            query = query.where(Job.queue == queue)
        if search:
            query = query.where(Job.id.contains(search) | Job.command.contains(search))
        if run_order and state in CLAIMABLE:
            # the claim's order; the literal IN term lets SQLite walk the claim's partial index in it
            query = query.where(peewee.SQL(f"state IN {sql_in(CLAIMABLE)}"))
            return query.order_by(Job.priority.desc(), Job.run_at, Job.seq)
        return query.order_by(Job.seq.desc())

    def iter_jobs(self, state: JobState | None = None, queue: str | None = None, *, run_order: bool = False,
                  batch: int = 1000) -> Iterator[JobRecord]:
        """Every matching job in `list_jobs`' order, streamed in constant memory: SQLite steps one
        statement (`fetchmany`); PostgreSQL reads through a server-side (named) cursor, since
        psycopg2's ordinary cursor would load every row first."""
        sql, params = self._select(state, queue, None, run_order).sql()
        if self.store.is_sqlite:
            cursor = self.store.db.execute_sql(sql, params)
            while rows := cursor.fetchmany(batch):
                yield from map(_record, rows)
            return
        with peewee.__exception_wrapper__:
            conn = self.store.db.connection()
            autocommit, conn.autocommit = conn.autocommit, False  # a named cursor lives in a transaction
            try:
                cursor = conn.cursor(name="queuectl_list")
                cursor.itersize = batch
                cursor.execute(sql, params)
                while rows := cursor.fetchmany(batch):
                    yield from map(_record, rows)
            finally:
                conn.rollback()  # it only read
                conn.autocommit = autocommit

    def count_jobs(self, state: JobState | None = None, queue: str | None = None) -> int:
        """How many jobs `list` could show: from the count shards unless a queue is named."""
        if queue is None:
            by_state = self.counts().by_state
            return by_state.get(state.value, 0) if state is not None else sum(by_state.values())
        Job = self._models.Job
        query = Job.select().where(Job.queue == queue)
        if state is not None:
            query = query.where(Job.state == state.value)
        return query.count()

    def unserved_due_queue(self, served: Sequence[str] | None) -> str | None:
        """The queue of a job that is due now but that no worker would claim: `served` are the
        queues live workers take (None: some worker takes every queue). None when there is none."""
        if served is None:
            return None
        where = ""
        if served:
            where = f" AND queue NOT IN ({', '.join('?' * len(served))})"
        row = self.store.execute(
            self.store.sql(f"SELECT queue FROM job WHERE state IN {sql_in(CLAIMABLE)} AND run_at <= ?{where} LIMIT 1"),
            (self.clock.now(), *served),
        ).fetchone()
        return None if row is None else row[0]

    def finished_since(self, since: float) -> int:
        """How many runs ended at or after `since` (the status bar's "last minute")."""
        row = self.store.execute(self.store.sql("SELECT count(*) FROM run WHERE finished_at >= ?"), (since,)).fetchone()
        return row[0]

    def counts(self) -> Counts:
        rows = self.store.execute("SELECT state, sum(n) FROM job_count GROUP BY state").fetchall()
        by_state = {state.value: 0 for state in JobState}
        by_state.update({state: int(n) for state, n in rows})  # PostgreSQL's sum() is a Decimal
        return Counts(by_state)

    def runs(self, job_id: str) -> list[RunRecord]:
        Run = self._models.Run
        query = (
            Run.select(Run.job_id, Run.number, Run.attempt, Run.worker_id, Run.host, Run.pid, Run.started_at,
                       Run.finished_at, Run.exit_code, Run.error, Run.output_bytes)
            .where(Run.job_id == job_id)
            .order_by(Run.number)
        )
        return [
            RunRecord(r.job_id, r.number, r.attempt, r.worker_id, r.host, r.pid, r.started_at, r.finished_at,
                      r.exit_code, r.error, r.output_bytes)
            for r in query
        ]

    def output(self, job_id: str, number: int | None = None) -> RunOutput | None:
        """Output of run `number` (default: the latest run), or None if the job never ran."""
        self.get(job_id)
        Run = self._models.Run
        query = Run.select(Run.number, Run.finished_at, Run.output, Run.output_bytes).where(Run.job_id == job_id)
        query = query.where(Run.number == number) if number is not None else query.order_by(Run.number.desc())
        row = query.first()
        if row is None:
            return None
        output = bytes(row.output or b"")
        if row.finished_at is None:  # running: its output so far is in its chunks
            output = self._chunked_output(job_id, row.number, output, self._log_max_bytes())
        return RunOutput(job_id, row.number, row.finished_at is not None, output, row.output_bytes)

    def _log_max_bytes(self) -> int:
        row = self.store.execute(self.store.sql("SELECT value FROM setting WHERE key = ?"), ("log_max_bytes",)).fetchone()
        return Settings.from_stored({"log_max_bytes": row[0]} if row else {}).log_max_bytes
