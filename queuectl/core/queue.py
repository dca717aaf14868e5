"""JobQueue: every job transition, each one guarded statement or one write transaction.

Guards are the fence: a transition names the state (and, for a running job, the worker and the
attempt) it expects, so a late finisher whose job was recovered meanwhile changes nothing.
The hot path (claim, start_run, finish) runs SQL built once per queue with `execute_sql`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from queuectl.core import testhooks
from queuectl.core.clock import SYSTEM_CLOCK, Clock
from queuectl.core.config import PAUSED_KEY
from queuectl.core.db import Store, driver_errors
from queuectl.core.errors import DuplicateJob, InvalidInput, InvalidJobSpec, InvalidTransition, JobNotFound
from queuectl.core.migrations.m0002_job_counts import shard_expression
from queuectl.core.migrations.m0003_count_shard_lock import shard_lock
from queuectl.core.readiness import claim_ready_condition
from queuectl.core.settings import Settings
from queuectl.core.states import (
    CANCELLABLE_WAITING,
    CANCELLED_BY_USER,
    CLAIMABLE,
    PURGEABLE,
    RETRYABLE,
    JobState,
    sql_in,
)

if TYPE_CHECKING:
    import peewee

    from queuectl.core.models import Models
    from queuectl.core.records import ClaimedJob, Counts, JobRecord, RunOutput, RunRecord, RunStart
    from queuectl.core.results import Decision, RunResult
    from queuectl.core.specs import JobSpec

# Imported where used, not here: `records` (nine NamedTuples), `specs` and `json` cost a command's start-up
# (issue 15), and `enqueue` needs none of them from this module, `status` only `Counts`.

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_ID_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
_ID_COUNTER_BITS = 18
_ENQUEUE_CHUNK = 5000
_LIVE = "('pending', 'failed', 'processing')"  # waiting or running: a unique key is held (m0008)
_UNIQUE_LIVE = f"unique_key IS NOT NULL AND state IN {_LIVE}"  # m0008's partial index, word for word
_NEVER_COMPLETES = (JobState.DEAD, JobState.CANCELLED)  # a job after one of these never runs


_ID_PAIRS = [a + b for a in _ID_ALPHABET for b in _ID_ALPHABET]  # 10 bits -> 2 characters
_LIMITS_TTL = 1.0  # seconds a JobQueue trusts what it read about queue limits


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
                self._ms, self._counter = ms, _random_bits(_ID_COUNTER_BITS - 1) - 1
            for _ in range(count):
                self._counter += 1
                if self._counter >> _ID_COUNTER_BITS:  # this millisecond's counter is used up: borrow the next
                    self._ms, self._counter = self._ms + 1, _random_bits(_ID_COUNTER_BITS - 1)
                ids.append(_encode_id((self._ms << _ID_COUNTER_BITS) | self._counter))
        return ids


def _random_bits(bits: int) -> int:
    """`secrets.randbits`, without importing secrets (hmac, hashlib: a CLI command's start-up)."""
    return int.from_bytes(os.urandom((bits + 7) // 8)) >> (-bits % 8)


def _encode_id(n: int) -> str:
    """60 bits -> 12 base32 characters, most significant first (so ids sort like numbers)."""
    pairs = _ID_PAIRS
    return (pairs[n >> 50 & 1023] + pairs[n >> 40 & 1023] + pairs[n >> 30 & 1023]
            + pairs[n >> 20 & 1023] + pairs[n >> 10 & 1023] + pairs[n & 1023])


new_job_ids = _JobIds().take


@cache
def _record_select() -> str:
    """A JobRecord's fields, which are job's columns, in its order."""
    from queuectl.core.records import JobRecord

    return ", ".join(JobRecord._fields)


def _record(row: tuple) -> JobRecord:
    """A JobRecord from a row of the JobRecord columns (env decoded from its JSON)."""
    from queuectl.core.records import JobRecord

    record = JobRecord(*row)
    return record._replace(env=_env_value(record.env), keep_children=bool(record.keep_children),
                           held=bool(record.held))


def _env_value(text: str | None) -> dict[str, str] | None:
    """A job's env from its column (`_env_text`'s inverse); `json` is imported only for a job that has one."""
    if not text:
        return None
    import json

    return json.loads(text)


def _env_text(env: Mapping[str, str] | None) -> str | None:
    """A job's env as its column holds it: compact JSON, or None for none (a job without env, most of
    them, never imports `json`)."""
    if not env:
        return None
    import json

    return json.dumps(env, separators=(",", ":"))


def dependency_reason(job_id: str, how: str) -> str:
    """Why a job that runs after `job_id` was cancelled (`how`: dead, cancelled or deleted); a
    retry of `job_id` revives the jobs that say so."""
    return f"dependency {job_id} was deleted" if how == "deleted" else f"dependency {job_id} is {how}"


class Enqueued(NamedTuple):
    """One job of an enqueue: its id, and whether it was there already (its unique key was held)."""

    id: str
    existing: bool


def _refuse_dependency_cycles(specs: Sequence[JobSpec]) -> None:
    """Jobs of one input may run after each other (by their given ids), but not in a circle.
    Jobs already in the store cannot run after new ones, so a cycle lies within one input."""
    graph = {spec.id: [a for a in spec.after if a] for spec in specs if spec.id}
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(graph[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                cycle = path[path.index(nxt):] + [nxt]
                raise InvalidJobSpec(f"after: dependency cycle: {' -> '.join(cycle)}")
            if nxt in graph and nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(graph[nxt]))


class FinishResult(NamedTuple):
    """What a finish did: the job's new state, or None when fenced off (the job was recovered)."""

    state: JobState | None
    run_at: float | None = None


class Finish(NamedTuple):
    """One run's end, as a worker hands it to `finish_many_and_claim`."""

    job: ClaimedJob
    run: int | RunStart | None
    result: RunResult
    output: bytes = b""
    output_bytes: int = 0
    finished_at: float | None = None


class Holding(NamedTuple):
    """What the store says of a run a worker believes it holds."""

    held: bool
    cancel_requested: bool  # a cancel names the run: claims and finishes clear it
    why_not: str


class _Held(NamedTuple):
    """A job a lost worker held, as its rescue reads it."""

    attempts: int
    max_retries: int


# The Jobs tab's sorts: name → job column.
SORTABLE = {"created": "seq", "id": "id", "state": "state", "priority": "priority", "queue": "queue",
            "runs": "attempts", "exit": "exit_code", "command": "command"}
# Commands sort by their first 120 characters, the key of m0011's index (ties: newest first).
COMMAND_SORT_KEY = "substr(command, 1, 120)"


class JobQueue:
    """The job state machine over one store."""

    def __init__(self, store: Store, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.clock = clock
        self._bound: Models | None = None  # made by the first model-bound read (Peewee is imported then)
        sql = store.sql
        claimable = sql_in(CLAIMABLE)
        self._claim_head = (
            "UPDATE job SET state = 'processing', attempts = attempts + 1, worker_id = ?, "
            "started_at = ?, updated_at = ?, finished_at = NULL, cancel_requested_at = NULL "
            "WHERE seq {picked_open}SELECT seq FROM job{indexed} WHERE state IN " + claimable + " AND run_at <= ? {queues}"
            "AND {ready} "  # held, queue paused or without room for the batch, dependencies (readiness.py)
            "ORDER BY priority DESC, run_at, seq LIMIT {limit}{lock}{picked_close} "
            "AND {outer_state} IN " + claimable + " "
            f"AND NOT EXISTS (SELECT 1 FROM setting WHERE key = '{PAUSED_KEY}' AND value = 'true') "
            "RETURNING id, command, cwd, env, timeout, attempts, max_retries, queue, keep_children"
        )
        self._claim_sql: dict[tuple[int, int], str] = {}
        self._insert_job = sql(
            "INSERT INTO job (id, command, cwd, env, queue, priority, state, attempts, max_retries, "
            "timeout, run_at, created_at, updated_at, keep_children, held, label, unique_key, "
            "on_success, on_failure, on_dead, parent_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._insert_unique_job = sql(
            self._insert_job + f" ON CONFLICT (unique_key) WHERE {_UNIQUE_LIVE} DO NOTHING RETURNING id"
        )
        self._unique_holder = sql(f"SELECT id FROM job WHERE unique_key = ? AND {_UNIQUE_LIVE}")
        self._cancel_dependants_sql = sql(
            "UPDATE job SET state = 'cancelled', finished_at = ?, updated_at = ?, last_error = ? "
            f"WHERE state IN {sql_in(CANCELLABLE_WAITING)} AND id IN (SELECT job_id FROM job_dep WHERE after_id = ?) "
            "RETURNING id"
        )
        self._known_queues: set[str] = set()  # queue rows this object saw committed (rows are never deleted)
        self._start_run = sql(
            "INSERT INTO run (job_id, number, attempt, worker_id, host, pid, pid_created_at, started_at, "
            "output_bytes) VALUES (?, (SELECT coalesce(max(number), 0) + 1 FROM run WHERE job_id = ?), "
            "?, ?, ?, ?, ?, ?, 0) RETURNING number"
        )
        # The long statements take named parameters (a mapping): one added cannot shift the others.
        named = store.named
        self._insert_finished_run = named(
            "INSERT INTO run (job_id, number, attempt, worker_id, host, pid, pid_created_at, started_at, "
            "finished_at, exit_code, error, outcome, output, output_bytes) VALUES (:job_id, "
            "(SELECT coalesce(max(number), 0) + 1 FROM run WHERE job_id = :job_id), :attempt, :worker_id, :host, "
            ":pid, :pid_created_at, :started_at, :ended, :exit_code, :error, :outcome, :output, :output_bytes)"
        )
        # A cancel requested while the job ran wins over any end but success: the user asked
        # for it not to run again.
        self._finish_job = named(
            "UPDATE job SET "
            "state = CASE WHEN cancel_requested_at IS NOT NULL AND :state <> 'completed' THEN 'cancelled' "
            "ELSE :state END, "
            "attempts = :attempts, run_at = coalesce(:run_at, run_at), finished_at = :ended, updated_at = :now, "
            "exit_code = :exit_code, "
            "last_error = CASE WHEN cancel_requested_at IS NOT NULL AND :state <> 'completed' "
            f"THEN '{CANCELLED_BY_USER}' ELSE :error END, "
            "cancel_requested_at = NULL "
            "WHERE id = :job_id AND state = 'processing' AND worker_id = :worker_id AND attempts = :attempt "
            "RETURNING state, queue, cwd, priority, on_success, on_failure, on_dead, parent_id"
        )
        self._queue_hooks: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._queue_hooks_read_at = -math.inf
        self._some_limit = True  # whether some queue has a limit, as last read (see `_limits_exist`)
        self._limits_read_at = -math.inf
        self._finish_run = named(
            "UPDATE run SET finished_at = :ended, exit_code = :exit_code, error = :error, outcome = :outcome, "
            "output = :output, output_bytes = :output_bytes "
            "WHERE job_id = :job_id AND number = :number AND worker_id = :worker_id"
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

    @property
    def _models(self) -> Models:
        """`Job` and `Run` bound to this store's database, never another's (see models.py)."""
        if self._bound is None:
            from queuectl.core.models import bound_models

            self._bound = bound_models(self.store.db)
        return self._bound

    @property
    def _record_columns(self) -> list[object]:
        from queuectl.core.records import JobRecord

        return [getattr(self._models.Job, name) for name in JobRecord._fields]

    # ── enqueue ──────────────────────────────────────────────────────────────────────────────

    def enqueue(self, specs: Sequence[JobSpec], settings: Settings, *, default_cwd: str | None = None,
                now: float | None = None) -> list[str]:
        """Add jobs, all or none; returns their ids in input order (see `enqueue_jobs`)."""
        return [added.id for added in self.enqueue_jobs(specs, settings, default_cwd=default_cwd, now=now)]

    def enqueue_jobs(self, specs: Sequence[JobSpec], settings: Settings, *, default_cwd: str | None = None,
                     now: float | None = None) -> list[Enqueued]:
        """Add jobs, all or none; one `Enqueued` per spec, in input order.

        A spec with a `unique` key that a waiting or running job holds adds nothing: its entry is
        that job's id, `existing`. `now` is their creation time: the caller's, when it resolved a
        relative time (`--delay`) against it, so a 2 s delay is 2 s after `created_at` however
        long the start-up took."""
        if not specs:
            raise InvalidInput("no jobs given")
        now = self.clock.now() if now is None else now
        given = [spec.id for spec in specs if spec.id]
        seen: set[str] = set()
        for job_id in given:  # the first id that repeats one before it
            if job_id in seen:
                raise DuplicateJob(f"duplicate id in input: {job_id}")
            seen.add(job_id)
        _refuse_dependency_cycles(specs)
        for attempt in range(3):
            fresh = iter(new_job_ids(len(specs) - len(given)))
            rows = [self._row(spec, spec.id or next(fresh), settings, default_cwd, now) for spec in specs]
            try:
                with self.store.write():
                    added = self._insert_jobs(specs, rows, now)
                self._known_queues.update(spec.queue for spec in specs)
                return added
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

    def add_in_transaction(self, specs: Sequence[JobSpec], settings: Settings, now: float, *,
                           parent_id: str | None = None, ids: Sequence[str] | None = None) -> list[str]:
        """Enqueue jobs inside the caller's write transaction (a schedule's slot, a hook): they
        exist exactly when the caller's other writes do. Ids are generated unless given."""
        fresh = iter(ids if ids is not None else new_job_ids(len(specs)))
        rows = [self._row(spec, next(fresh), settings, None, now, parent_id) for spec in specs]
        return [one.id for one in self._insert_jobs(specs, rows, now)]

    def _insert_jobs(self, specs: Sequence[JobSpec], rows: list[tuple[object, ...]], now: float) -> list[Enqueued]:
        """The statements of `enqueue_jobs`, inside its write transaction. Rows without a unique
        key go in bulk; one with a key goes alone, as an insert that yields to a live holder."""
        self._ensure_queues({spec.queue for spec in specs}, now)
        added: list[Enqueued] = []
        batch: list[tuple[object, ...]] = []
        inserted = 0
        for spec, row in zip(specs, rows, strict=True):
            if spec.unique is None:
                batch.append(row)
                added.append(Enqueued(str(row[0]), False))
                if len(batch) >= _ENQUEUE_CHUNK:
                    self.store.executemany(self._insert_job, batch)
                    inserted, batch = inserted + len(batch), []
                continue
            if batch:
                self.store.executemany(self._insert_job, batch)
                inserted, batch = inserted + len(batch), []
            one = self._insert_unique(row, spec.unique)
            inserted += not one.existing
            added.append(one)
        if batch:
            self.store.executemany(self._insert_job, batch)
            inserted += len(batch)
        self.store.execute(self._count_add, (JobState.PENDING.value, inserted))
        edges = [(one.id, after) for spec, one in zip(specs, added, strict=True) if not one.existing
                 for after in spec.after]
        if edges:
            self._add_dependencies(edges, now)
        return added

    def _insert_unique(self, row: tuple[object, ...], key: str) -> Enqueued:
        """Insert a job with a unique key, or find the waiting or running job that holds the key.

        Atomic under concurrent enqueues: the partial unique index (m0008) admits one live job per
        key; on PostgreSQL an insert that meets another's uncommitted one waits for its end."""
        for _ in range(5):
            row_added = self.store.execute(self._insert_unique_job, row).fetchone()
            if row_added is not None:
                return Enqueued(row_added[0], False)
            holder = self.store.execute(self._unique_holder, (key,)).fetchone()
            if holder is not None:
                return Enqueued(holder[0], True)
            # the holder ended between the two statements (PostgreSQL): insert again
        raise InvalidTransition(f"the job holding unique key {key!r} kept changing; try again")

    def _ensure_queues(self, names: Iterable[str], now: float) -> None:
        """Queue rows are made on first use (their limit and pause then persist)."""
        new = sorted(set(names) - self._known_queues)  # sorted: concurrent enqueues lock them in one order
        if new:
            self.store.executemany(
                "INSERT INTO queue (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                [(name, now) for name in new],
            )

    def _add_dependencies(self, edges: list[tuple[str, str]], now: float) -> None:
        """Record (job, runs after) pairs of jobs just inserted; refuse an unknown job. A job
        added after a job that is already dead or cancelled is cancelled at once, saying why."""
        targets = sorted({after for _, after in edges})
        states: dict[str, str] = {}
        for start in range(0, len(targets), 500):
            chunk = targets[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self.store.execute(self.store.sql(f"SELECT id, state FROM job WHERE id IN ({marks})"), chunk)
            states.update(rows.fetchall())
        for after in targets:
            if after not in states:
                raise InvalidJobSpec(f"after: no such job: {after}")
        self.store.executemany("INSERT INTO job_dep (job_id, after_id) VALUES (?, ?)", edges)
        for after in targets:
            if states[after] in (JobState.DEAD, JobState.CANCELLED):
                self._cancel_dependants(after, f"dependency {after} is {states[after]}", now)

    @staticmethod
    def _row(spec: JobSpec, job_id: str, settings: Settings, default_cwd: str | None, now: float,
             parent_id: str | None = None) -> tuple[object, ...]:
        return (
            job_id, spec.command, spec.cwd or default_cwd,
            _env_text(spec.env),
            spec.queue, spec.priority,
            settings.max_retries if spec.max_retries is None else spec.max_retries,
            settings.job_timeout if spec.timeout is None else spec.timeout,
            now if spec.run_at is None else spec.run_at, now, now, int(spec.keep_children),
            int(spec.hold), spec.label, spec.unique, spec.on_success, spec.on_failure, spec.on_dead, parent_id,
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

    def _claim_statement(self, n_queues: int, limit: int) -> str:
        sql = self._claim_sql.get((n_queues, limit))
        if sql is None:
            queues = f"AND queue IN ({', '.join('?' * n_queues)}) " if n_queues else ""
            if self.store.is_sqlite:
                # Without statistics SQLite prefers the (state, seq) index and sorts; the partial
                # claim index already holds the claimable rows in claim order.
                index = "job_claim_queue" if n_queues else "job_claim"
                # one job: a scalar sub-select, where a list would be built in a temporary table;
                # `+state`: the picked rows are found by rowid, not through the (state, seq) index
                indexed, lock, picked = f" INDEXED BY {index}", "", ("= (", ")") if limit == 1 else ("IN (", ")")
                outer_state = "+state"
            else:
                # `seq IN (SELECT ... LIMIT k FOR UPDATE SKIP LOCKED)` may be planned as a nested-loop
                # semi-join that rescans the subquery for every candidate row; a rescan skips the
                # row this UPDATE has just changed and locks the next, so the claim takes more than
                # k jobs (seen on upgraded stores, whose job table has statistics). ARRAY(...) is an
                # uncorrelated InitPlan: the jobs are picked exactly once.
                indexed, lock, picked = "", " FOR UPDATE SKIP LOCKED", ("= ANY (ARRAY(", "))")
                outer_state = "state"
            ready = claim_ready_condition(self.store, int(limit))
            sql = self.store.sql(self._claim_head.format(queues=queues, lock=lock, indexed=indexed, limit=int(limit),
                                                         ready=ready, outer_state=outer_state, picked_open=picked[0],
                                                         picked_close=picked[1]))
            if not self.store.is_sqlite:
                # Workers commit with synchronous_commit=off, but a claim must be durable before
                # its job starts: a server crash that lost it would let another worker claim the
                # job again while it runs. In one simple query the two statements are one
                # transaction (or part of the caller's), so SET LOCAL covers the claim's commit.
                sql = "SET LOCAL synchronous_commit = on; " + sql
            self._claim_sql[(n_queues, limit)] = sql
        return sql

    def claim(self, worker_id: str, queues: Sequence[str] | None = None) -> ClaimedJob | None:
        """Take the next due job (highest priority, then oldest), or None; one statement."""
        claimed = self.claim_many(worker_id, queues, 1)
        return claimed[0] if claimed else None

    def claim_many(self, worker_id: str, queues: Sequence[str] | None, limit: int) -> list[ClaimedJob]:
        """Take up to `limit` due jobs (for a worker's free slots) in one transaction; fewer, or none,
        when fewer are due. On PostgreSQL rows another claim holds are skipped, not waited for."""
        from queuectl.core.records import ClaimedJob

        if limit < 1:
            return []
        now = self.clock.now()
        params: list[object] = [worker_id, now, now, now]
        if queues:
            params.extend(queues)
        rows = self.store.execute(self._claim_statement(len(queues or ()), limit), params).fetchall()
        if 1 < limit and len(rows) < limit and self._limits_exist():
            # A limited queue takes part in a batch only with room for the whole batch (readiness.py):
            # the slots left may still fit one job of it at a time.
            while len(rows) < limit:
                more = self.store.execute(self._claim_statement(len(queues or ()), 1), params).fetchall()
                if not more:
                    break
                rows.extend(more)
        return [
            ClaimedJob(id=row[0], command=row[1], cwd=row[2], env=_env_value(row[3]),
                       timeout=row[4], attempts=row[5], max_retries=row[6], queue=row[7], keep_children=bool(row[8]))
            for row in rows
        ]

    def _limits_exist(self) -> bool:
        """Whether some queue has a limit (read at most once a second): only then can a batch claim
        have left out a job that a claim of one takes. An idle worker of several slots would
        otherwise claim twice per poll. A limit set less than a second ago may keep its queue's
        jobs out of batch claims for that second; it is never overshot (the claims enforce it)."""
        now = time.monotonic()
        if now - self._limits_read_at > _LIMITS_TTL:
            self._some_limit = self.store.execute(
                "SELECT 1 FROM queue WHERE max_running > 0 LIMIT 1").fetchone() is not None
            self._limits_read_at = now
        return self._some_limit

    def start_runs(self, worker_id: str, starts: Sequence[tuple[ClaimedJob, RunStart]]) -> list[int]:
        """`start_run` for several runs in one transaction (slots whose runs outlived the quick wait together)."""
        if len(starts) == 1:
            return [self.start_run(starts[0][0], worker_id, starts[0][1])]
        with self.store.write():
            return [self.start_run(job, worker_id, start) for job, start in starts]

    def holdings(self, worker_id: str, runs: Mapping[str, int]) -> dict[str, Holding]:
        """`holding` for every run a worker believes it holds (job id -> attempt), in one query."""
        found: dict[str, Holding] = {}
        ids = list(runs)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self.store.execute(
                self.store.sql("SELECT id, state, worker_id, attempts, cancel_requested_at FROM job "
                               f"WHERE id IN ({', '.join('?' * len(chunk))})"), chunk,
            ).fetchall()
            for job_id, state, holder, attempts, cancel_requested_at in rows:
                if state == JobState.PROCESSING.value and holder == worker_id and attempts == runs[job_id]:
                    found[job_id] = Holding(True, cancel_requested_at is not None, "")
                else:
                    found[job_id] = Holding(False, False,
                                            f"the store has it {state}, worker {holder or '-'}, attempt {attempts}")
        for job_id in ids:
            found.setdefault(job_id, Holding(False, False, "the job no longer exists"))
        return found

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

    def finish_many_and_claim(
        self, worker_id: str, finishes: Sequence[Finish], settings: Settings, *, claim: int = 0,
        queues: Sequence[str] | None = None,
    ) -> tuple[list[FinishResult], list[ClaimedJob]]:
        """Record the ends of several runs and claim up to `claim` jobs for the freed slots, all in
        one write transaction: runs that end together commit together."""
        with self.store.write():
            done = [self._finish_rows(f.job, worker_id, f.run, f.result, settings, f.output, f.output_bytes,
                                      f.finished_at) for f in finishes]
            return done, self.claim_many(worker_id, queues, claim)

    def _finish_rows(
        self, job: ClaimedJob, worker_id: str, run: int | RunStart | None, result: RunResult, settings: Settings,
        output: bytes, output_bytes: int, finished_at: float | None,
    ) -> FinishResult:
        """The statements of `finish`, inside the caller's write transaction."""
        from queuectl.core.records import RunStart
        from queuectl.core.results import decide  # worker-side: a command that enqueues never imports it

        now = self.clock.now()
        ended = now if finished_at is None else finished_at  # when the process ended, not when we could record it
        decision = decide(job, result, settings, now)
        state, error, exit_code = decision.state, decision.error, result.exit_code
        written = self._end_job(job.id, worker_id, job.attempts, decision, exit_code, ended, now, settings)
        if written is not None and written is not state:  # cancelled while it ran
            state, error = written, CANCELLED_BY_USER
        outcome = "cancelled" if state is JobState.CANCELLED else result.outcome
        ran = {"job_id": job.id, "worker_id": worker_id, "ended": ended, "exit_code": exit_code, "error": error,
               "outcome": outcome, "output": output, "output_bytes": output_bytes}
        if written in _NEVER_COMPLETES:
            self._cancel_dependants(job.id, written, now)
        if isinstance(run, RunStart):
            if written is not None:
                self.store.execute(self._insert_finished_run, {
                    **ran, "attempt": job.attempts, "host": run.host, "pid": run.pid,
                    "pid_created_at": run.pid_created_at, "started_at": run.started_at,
                })
        elif run is not None:
            if written is not None:
                self.store.execute(self._finish_run, {**ran, "number": run})
            else:
                self.store.execute(self._run_output, (output, output_bytes, job.id, run, worker_id))
            self.store.execute(self._drop_chunks, (job.id, run, job.id, run, worker_id))  # the tail is in run.output
        return FinishResult(state if written is not None else None, decision.run_at)

    def _end_job(self, job_id: str, worker_id: str, attempt: int, decision: Decision, exit_code: int | None,
                 ended: float, now: float, settings: Settings) -> JobState | None:
        """Write `decision` to the job, fenced on (processing, worker, attempt): the state written,
        or None when fenced off. A cancel requested meanwhile still wins (the CASE of `_finish_job`).
        The hooks the end fires are enqueued here, in the same transaction: durable with it."""
        from queuectl.core.hooks import HOOKED_STATES, Ended, hook_jobs  # worker-side: not at a command's start-up

        row = self.store.execute(self._finish_job, {
            "state": decision.state.value, "attempts": decision.attempts, "run_at": decision.run_at, "ended": ended,
            "now": now, "exit_code": exit_code, "error": decision.error,
            "job_id": job_id, "worker_id": worker_id, "attempt": attempt,
        }).fetchone()
        if row is None:
            return None
        written = JobState(row[0])
        if written in HOOKED_STATES and row[7] is None:  # a hook job fires no hooks: no chains
            ended_as = Ended(job_id, written, exit_code, attempt, row[1], row[2], row[3], decision.error)
            specs = hook_jobs(ended_as, (row[4], row[5], row[6]), self._hooks_of_queue(row[1]))
            if specs:
                self.add_in_transaction(specs, settings, now, parent_id=job_id)
        return written

    def _hooks_of_queue(self, queue: str) -> tuple[str | None, str | None, str | None]:
        """The queue's hooks (`queue_hook`), from a copy of that small table read at most once a
        second: a hook set on a queue applies to finishes from a second later on."""
        from queuectl.core.hooks import QUEUE_HOOKS_TTL

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
                "WHERE id = ? AND state = 'processing' AND worker_id = ? AND attempts = ? RETURNING state"
            ),
            (CANCELLED_BY_USER, self.clock.now(), self.clock.now(), job.id, worker_id, job.attempts),
        )
        row = cursor.fetchone()
        if row is not None and row[0] == JobState.CANCELLED:
            self._cancel_dependants(job.id, JobState.CANCELLED, self.clock.now())
        return row is not None

    def release_stray_claims(self, worker_id: str, running: Collection[str]) -> list[str]:
        """Hand back jobs this worker holds but is not running (`running`: the jobs in its slots):
        a claim whose reply was lost with the connection committed without the worker knowing.
        Pending again, uncounted."""
        from queuectl.core.records import ClaimedJob

        rows = self.store.execute(
            "SELECT id, attempts FROM job WHERE state = 'processing' AND worker_id = ?", (worker_id,)
        ).fetchall()
        released = []
        for job_id, attempts in rows:
            if job_id not in running:
                stray = ClaimedJob(job_id, "", None, None, 0, attempts, 0, "")
                if self.release(stray, worker_id):
                    released.append(job_id)
        return released

    # ── recovery ─────────────────────────────────────────────────────────────────────────────

    def fail_jobs_of_lost_worker(self, worker_id: str, settings: Settings) -> list[tuple[str, JobState]]:
        """Each job the lost worker held ends its run as `WorkerLost` (a failed attempt, or
        cancelled if a cancel was pending). Returns (job id, new state) pairs."""
        from queuectl.core.results import WorkerLost, decide

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
                if state in _NEVER_COMPLETES:
                    self._cancel_dependants(job_id, state, now)
                open_run = self.store.execute(
                    sql("SELECT number, output FROM run WHERE job_id = ? AND worker_id = ? AND attempt = ? "
                        "AND finished_at IS NULL"),
                    (job_id, worker_id, held.attempts),
                ).fetchone()
                if open_run is not None:  # what the lost run printed: its chunks, folded into its output
                    number = open_run[0]
                    kept = self._chunked_output(job_id, number, bytes(open_run[1] or b""), settings.log_max_bytes)
                    self.store.execute(
                        sql("UPDATE run SET finished_at = ?, error = ?, outcome = ?, output = ? "
                            "WHERE job_id = ? AND number = ?"),
                        (now, lost.error, lost.outcome, kept, job_id, number),
                    )
                    self.store.execute(self._drop_chunks, (job_id, number, job_id, number, worker_id))
                else:  # the worker died between its claim and recording the run
                    self.store.execute(
                        sql("INSERT INTO run (job_id, number, attempt, worker_id, host, started_at, "
                            "finished_at, error, outcome, output_bytes) SELECT ?, coalesce(max(number), 0) + 1, ?, ?, "
                            "'', ?, ?, ?, ?, 0 FROM run WHERE job_id = ?"),
                        (job_id, held.attempts, worker_id, now, now, lost.error, lost.outcome, job_id),
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

    def hold(self, ids: Sequence[str]) -> list[str]:
        """Keep waiting jobs from running until `release_held`; all or none."""
        return self._set_waiting(ids, "held = 1", "held")

    def start(self, ids: Sequence[str]) -> list[str]:
        """Make waiting jobs due now (a back-off or `run_at` is skipped, a hold released); they
        still wait for their dependencies and their queue's limit. All or none."""
        return self._set_waiting(ids, "held = 0, run_at = ?", "started", (self.clock.now(),))

    def _set_waiting(self, ids: Sequence[str], assignments: str, verb: str,
                     params: tuple[object, ...] = ()) -> list[str]:
        ids = list(dict.fromkeys(ids))
        now = self.clock.now()
        with self.store.write():
            states = self._states_of(ids)
            for job_id in ids:
                if states[job_id] not in CANCELLABLE_WAITING:
                    raise InvalidTransition(f"job {job_id} is {states[job_id]}; only waiting jobs can be {verb}")
            self.store.executemany(
                f"UPDATE job SET {assignments}, updated_at = ? WHERE id = ? AND state IN {sql_in(CANCELLABLE_WAITING)}",
                [(*params, now, job_id) for job_id in ids],
            )
        return ids

    def release_held(self, ids: Sequence[str]) -> list[str]:
        """Let held jobs run again; all or none (a job that is not held is refused)."""
        ids = list(dict.fromkeys(ids))
        now = self.clock.now()
        with self.store.write():
            self._states_of(ids)
            for job_id in ids:
                changed = self.store.execute(
                    self.store.sql("UPDATE job SET held = 0, updated_at = ? WHERE id = ? AND held = 1"), (now, job_id)
                ).rowcount
                if changed != 1:
                    raise InvalidTransition(f"job {job_id} is not held")
        return ids

    def edit(self, job_id: str, changes: Mapping[str, object]) -> JobRecord:
        """Change fields of a waiting job (`specs.EDITABLE_FIELDS`); returns the job as it is now."""
        from queuectl.core.specs import edit_fields

        now = self.clock.now()
        fields = edit_fields(changes, now)
        if "env" in fields:
            fields["env"] = _env_text(fields["env"])  # type: ignore[arg-type]  # a mapping: edit_fields checked it
        columns = ", ".join(f"{name} = ?" for name in fields)
        with self.store.write():
            if "queue" in fields:
                self._ensure_queues([str(fields["queue"])], now)
            changed = self.store.execute(
                self.store.sql(f"UPDATE job SET {columns}, updated_at = ? WHERE id = ? "
                               f"AND state IN {sql_in(CANCELLABLE_WAITING)}"),
                (*fields.values(), now, job_id),
            ).rowcount
            if changed != 1:
                state = self._states_of([job_id])[job_id]
                raise InvalidTransition(f"job {job_id} is {state}; only waiting jobs can be edited")
        return self.get(job_id)

    def dependencies(self, ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """For each of `ids` that runs after others: (job id, its state) of each, in id order."""
        found: dict[str, list[tuple[str, str]]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self.store.execute(self.store.sql(
                "SELECT dep.job_id, dep.after_id, prior.state FROM job_dep dep JOIN job prior ON prior.id = dep.after_id "
                f"WHERE dep.job_id IN ({marks}) ORDER BY dep.job_id, dep.after_id"), chunk).fetchall()
            for job_id, after, state in rows:
                found.setdefault(job_id, []).append((after, state))
        return found

    def _cancel_dependants(self, job_id: str, how: str, now: float) -> list[str]:
        """Cancel the waiting jobs that run after `job_id`, which will never complete (`how`: dead,
        cancelled or deleted), saying so; then theirs, and so on. Returns the ids cancelled."""
        cancelled: list[str] = []
        frontier = [(job_id, dependency_reason(job_id, how))]
        while frontier:
            after, reason = frontier.pop()
            rows = self.store.execute(self._cancel_dependants_sql, (now, now, reason, after)).fetchall()
            for (dependant,) in rows:
                cancelled.append(dependant)
                frontier.append((dependant, dependency_reason(dependant, JobState.CANCELLED)))
        return cancelled

    def _revive_dependants(self, ids: Sequence[str], now: float) -> None:
        """Jobs cancelled because one of `ids` could not complete wait again now that it is retried
        (and theirs), unless another of their dependencies still cannot complete."""
        waiting_on = {r[0] for r in self.store.execute(
            "SELECT DISTINCT dep.after_id FROM job_dep dep JOIN job ON job.id = dep.job_id "
            "WHERE job.state = 'cancelled' AND job.last_error LIKE ?", ("dependency %",)
        ).fetchall()}
        frontier = [job_id for job_id in ids if job_id in waiting_on]
        sql = self.store.sql
        while frontier:
            after = frontier.pop()
            rows = self.store.execute(sql(
                "UPDATE job SET state = 'pending', finished_at = NULL, updated_at = ?, last_error = NULL "
                "WHERE state = 'cancelled' AND last_error IN (?, ?) "
                "AND id IN (SELECT job_id FROM job_dep WHERE after_id = ?) RETURNING id"
            ), (now, dependency_reason(after, JobState.DEAD), dependency_reason(after, JobState.CANCELLED),
                after)).fetchall()
            for (dependant,) in rows:
                still = self.store.execute(sql(
                    "SELECT prior.id, prior.state FROM job_dep dep JOIN job prior ON prior.id = dep.after_id "
                    "WHERE dep.job_id = ? AND prior.state IN ('dead', 'cancelled') LIMIT 1"
                ), (dependant,)).fetchone()
                if still is None:
                    frontier.append(dependant)
                else:
                    self.store.execute(sql(
                        "UPDATE job SET state = 'cancelled', finished_at = ?, last_error = ? WHERE id = ?"
                    ), (now, dependency_reason(still[0], still[1]), dependant))

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
                    where = "in the DLQ" if only_dead else f"{', '.join(allowed)}"
                    raise InvalidTransition(
                        f"job {job_id} is {states[job_id]}; "
                        f"only jobs {'' if only_dead else 'that are '}{where} can be retried",
                        forcible=states[job_id] == "completed" and not only_dead,
                    )
            self._refuse_unique_clash(ids)
            # the previous run's error and exit code stay in its run row, not on a job that has not run since
            self.store.executemany(
                "UPDATE job SET state = 'pending', attempts = 0, run_at = ?, updated_at = ?, finished_at = NULL, "
                "last_error = NULL, exit_code = NULL, "
                f"cancel_requested_at = NULL WHERE id = ? AND state IN {sql_in(allowed)}",
                [(now, now, job_id) for job_id in ids],
            )
            self._revive_dependants(ids, now)
        return ids

    def _refuse_unique_clash(self, ids: Sequence[str]) -> None:
        """A job back to waiting must not take a unique key another waiting or running job holds."""
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ", ".join("?" * len(chunk))
            row = self.store.execute(self.store.sql(
                "SELECT j.id, j.unique_key, other.id FROM job j JOIN job other ON other.unique_key = j.unique_key "
                f"AND other.id <> j.id AND other.state IN {_LIVE} "
                f"WHERE j.id IN ({marks}) LIMIT 1"), chunk).fetchone()
            if row is not None:
                raise InvalidTransition(
                    f"job {row[0]} cannot wait again: job {row[2]} holds its unique key {row[1]!r} (waiting or running)"
                )

    def retry_all_dead(self) -> int:
        now = self.clock.now()
        with self.store.write():
            dead = [r[0] for r in self.store.execute("SELECT id FROM job WHERE state = 'dead'").fetchall()]
            self._refuse_unique_clash(dead)
            count = self.store.execute(
                self.store.sql(
                    "UPDATE job SET state = 'pending', attempts = 0, run_at = ?, updated_at = ?, "
                    "finished_at = NULL, last_error = NULL, exit_code = NULL WHERE state = 'dead'"
                ),
                (now, now),
            ).rowcount
            self._revive_dependants(dead, now)
            return count

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
                    self._cancel_dependants(job_id, JobState.CANCELLED, now)
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
            now = self.clock.now()
            for job_id in ids:
                if states[job_id] != JobState.COMPLETED:  # its dependants would wait for ever
                    self._cancel_dependants(job_id, "deleted", now)
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
        """The jobs with these ids, in the order given (unknown ids are left out). Plain SQL, not
        the models: `enqueue --json` shows what it added without importing Peewee."""
        found: dict[str, JobRecord] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self.store.execute(self.store.sql(f"SELECT {_record_select()} FROM job WHERE id IN ({marks})"), chunk)
            found.update((r.id, r) for r in map(_record, rows.fetchall()))
        return [found[i] for i in ids if i in found]

    def get(self, job_id: str) -> JobRecord:
        row = self.store.execute(self.store.sql(f"SELECT {_record_select()} FROM job WHERE id = ?"), (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _record(row)

    def list_jobs(
        self,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int = 50,
        offset: int = 0,
        search: str | None = None,
        run_order: bool = False,
        sort: str | None = None,
        descending: bool = True,
        label: str | None = None,
    ) -> list[JobRecord]:
        """Jobs newest first, a bounded page (by index: never a scan of the whole table).

        `run_order`: pending and failed jobs in the order they will run instead (see `_select`).
        `search` matches a substring of the id, the command, the queue or the label; it scans, page by page.
        `sort`: one of SORTABLE, newest first among equals; `descending` False reverses the whole
        order (oldest first among equals), so one index serves both directions. Created, ID, state,
        queue, priority and command (m0011) are read by index; runs and exit read every matching
        row to order one page, as does a sort filtered by state on another column than created."""
        from queuectl.core.records import JobRecord

        query = self._select(state, queue, search, run_order, label)
        if sort is not None and not run_order:
            query = query.order_by(*self._sort_order(sort, descending))
        return [JobRecord.from_row(r) for r in query.limit(limit).offset(offset)]

    def _sort_order(self, sort: str, descending: bool) -> list[object]:
        if sort not in SORTABLE:
            raise InvalidInput(f"cannot sort by '{sort}' (one of: {', '.join(SORTABLE)})")
        Job = self._models.Job
        if sort == "created":
            return [Job.seq.desc() if descending else Job.seq.asc()]
        # the command sort names job_command_seq's expression (m0011), or no planner would use it
        if sort == "command":
            from queuectl.core.orm import peewee  # imported on use, as the other readers here do

            column = peewee.SQL(COMMAND_SORT_KEY)
        else:
            column = getattr(Job, SORTABLE[sort])
        return [column.desc(), Job.seq.desc()] if descending else [column.asc(), Job.seq.asc()]

    def finished_per_minute(self, since: float) -> list[tuple[int, int, int]]:
        """Runs that ended at or after `since`, per minute: (minute index from `since`, completed,
        failed). One range read of the run_finished index; a run is completed when it exited 0
        with no error."""
        return [(m, ok, failed) for _, m, ok, failed in self._finished_per_minute(since, None, by_queue=False)]

    def finished_per_queue_minute(self, since: float, until: float) -> list[tuple[str, int, int, int]]:
        """Runs that ended in [`since`, `until`), per queue and minute: (queue, minute index from
        `since`, completed, failed). A range read of the run_finished index, each run's queue by
        the job's id; the caller reads a minute once, after it ended (20 ms for 3,000 runs)."""
        return self._finished_per_minute(since, until, by_queue=True)

    def _finished_per_minute(self, since: float, until: float | None, *,
                             by_queue: bool) -> list[tuple[str, int, int, int]]:
        # PostgreSQL's cast rounds; SQLite's truncates (and has no floor() in every build)
        minute = ("CAST((r.finished_at - ?) / 60 AS INTEGER)" if self.store.is_sqlite
                  else "CAST(floor((r.finished_at - ?) / 60) AS INTEGER)")
        queue, join = ("j.queue", "JOIN job j ON j.id = r.job_id ") if by_queue else ("''", "")
        rows = self.store.execute(
            self.store.sql(
                f"SELECT {queue}, {minute} AS minute, "
                "sum(CASE WHEN r.exit_code = 0 AND r.error IS NULL THEN 1 ELSE 0 END), count(*) "
                f"FROM run r {join}WHERE r.finished_at >= ?{'' if until is None else ' AND r.finished_at < ?'} "
                f"GROUP BY {queue + ', ' if by_queue else ''}minute"
            ),
            (since, since) if until is None else (since, since, until),
        ).fetchall()
        return [(q, int(m), int(ok), int(n) - int(ok)) for q, m, ok, n in rows]

    def last_output_lines(self, job_ids: Sequence[str], tail: int = 2048) -> dict[str, str]:
        """The last non-empty line of each job's latest run output (its last `tail` bytes read),
        decoded but not cleaned: the caller makes it safe to show."""
        if not job_ids:
            return {}
        marks = ", ".join("?" * len(job_ids))
        cut = (f"substr(output, -{int(tail)})" if self.store.is_sqlite
               else f"substring(output from greatest(octet_length(output) - {int(tail) - 1}, 1))")
        rows = self.store.execute(
            self.store.sql(
                f"SELECT r.job_id, {cut} FROM run r WHERE r.job_id IN ({marks}) "
                "AND r.number = (SELECT max(number) FROM run WHERE job_id = r.job_id)"
            ),
            list(job_ids),
        ).fetchall()
        found: dict[str, str] = {}
        for job_id, data in rows:
            text = bytes(data or b"").decode("utf-8", "replace")
            line = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
            if line:
                found[job_id] = line
        return found

    def _select(self, state: JobState | None, queue: str | None, search: str | None = None,
                run_order: bool = False, label: str | None = None) -> peewee.ModelSelect:
        Job = self._models.Job
        query = Job.select(*self._record_columns)
        if state is not None:
            query = query.where(Job.state == state.value)
        if queue is not None:
            query = query.where(Job.queue == queue)
        if search:
            query = query.where(Job.id.contains(search) | Job.command.contains(search) | Job.queue.contains(search)
                                | Job.label.contains(search))
        if label is not None:
            query = query.where(Job.label == label)
        if run_order and state in CLAIMABLE:
            # the claim's order; the literal IN term lets SQLite walk the claim's partial index in it
            from queuectl.core.orm import peewee

            query = query.where(peewee.SQL(f"state IN {sql_in(CLAIMABLE)}"))
            return query.order_by(Job.priority.desc(), Job.run_at, Job.seq)
        return query.order_by(Job.seq.desc())

    def iter_jobs(self, state: JobState | None = None, queue: str | None = None, *, run_order: bool = False,
                  batch: int = 1000, label: str | None = None) -> Iterator[JobRecord]:
        """Every matching job in `list_jobs`' order, streamed in constant memory: SQLite steps one
        statement (`fetchmany`); PostgreSQL reads through a server-side (named) cursor, since
        psycopg2's ordinary cursor would load every row first."""
        sql, params = self._select(state, queue, None, run_order, label).sql()
        if self.store.is_sqlite:
            cursor = self.store.execute_native(sql, params)
            while rows := cursor.fetchmany(batch):
                yield from map(_record, rows)
            return
        with driver_errors():
            conn = self.store.connection()
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

    def ids_starting_with(self, prefix: str, limit: int = 50) -> list[str]:
        """Job ids that start with `prefix`, in order (shell completion): a range on the primary key."""
        rows = self.store.execute(
            "SELECT id FROM job WHERE id >= ? AND id < ? ORDER BY id LIMIT ?", (prefix, prefix + "\uffff", limit)
        ).fetchall()
        return [r[0] for r in rows]

    def count_jobs(self, state: JobState | None = None, queue: str | None = None, label: str | None = None) -> int:
        """How many jobs `list` could show: from the count shards unless a queue or label is named."""
        if queue is None and label is None:
            by_state = self.counts().by_state
            return by_state.get(state.value, 0) if state is not None else sum(by_state.values())
        Job = self._models.Job
        query = Job.select()
        if queue is not None:
            query = query.where(Job.queue == queue)
        if label is not None:
            query = query.where(Job.label == label)
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
        from queuectl.core.counts import job_counts

        return job_counts(self.store)

    def runs(self, job_id: str) -> list[RunRecord]:
        from queuectl.core.records import RunRecord

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
        from queuectl.core.records import RunOutput

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
