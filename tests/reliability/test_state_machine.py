"""The job state machine against a model, with Hypothesis driving random sequences of operations
(JobQueue + WorkerRegistry + ConfigStore + rescue_lost_workers) on a real store, time frozen: on each
store (`[sqlite]`: a new file per example; `[postgresql]`: the test's database, emptied per example).

After every step the store must equal the model: every job's state, attempts, run_at, worker and
pending cancel; every run's number, worker, attempt and ending; the per-state counts. Invariants
on top: states are valid; attempts ≤ max_retries + 1; a dead job has attempts > max_retries, a
failed one not; a failed job's run_at is the failure time + min(backoff_base ** attempts,
backoff_max) with the settings of that moment; the counts sum to the number of jobs; and a
finish with a stale claim (its job recovered, retried, deleted…) changes nothing but, at most,
the output of its own run.

Also here: bad job specs and setting values only ever raise InvalidInput (extending
tests/core/test_specs.py and test_settings.py with the CLI's flag defaults and odd number texts),
and targeted tests for a cancel that meets a forced stop, a release or a failure.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from queuectl.core.clock import FrozenClock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store
from queuectl.core.errors import DuplicateJob, InvalidInput, InvalidSetting, InvalidTransition, JobNotFound
from queuectl.core.queue import JobQueue
from queuectl.core.records import ClaimedJob, RunStart
from queuectl.core.registry import WorkerRegistry
from queuectl.core.rescue import rescue_lost_workers
from queuectl.core.results import (
    Cancelled,
    ClaimLost,
    Completed,
    Failed,
    Fenced,
    Interrupted,
    Refused,
    RunResult,
    StartFailed,
    TimedOut,
    WorkerLost,
    decide,
)
from queuectl.core.settings import SETTINGS, Settings, parse_value
from queuectl.core.specs import FIELDS, JobSpec, parse_jobs_text, spec_from_mapping
from queuectl.core.states import CANCELLED_BY_USER, INTERRUPTED, WORKER_LOST, JobState
from queuectl.core.store import open_store

IDS = ("a", "b", "c", "d", "e")  # a small pool: ids come back after a delete
HOST = "model-host"  # not this host: liveness is judged by heartbeats only
STATES = {s.value for s in JobState}


@dataclass
class MRun:
    number: int
    worker: str
    attempt: int
    finished: bool = False
    exit_code: int | None = None
    error: str | None = None


@dataclass
class MJob:
    id: str
    state: str
    attempts: int
    max_retries: int
    priority: int
    run_at: float
    seq: int
    worker: str | None = None
    cancel_requested: bool = False
    finished_at: float | None = None
    runs: list[MRun] = field(default_factory=list)

    def next_number(self) -> int:
        return max((r.number for r in self.runs), default=0) + 1


@dataclass
class Claim:
    job: ClaimedJob
    worker: str
    run: int | None = None  # the run number once start_run recorded it


def backoff(settings: dict, attempts: int) -> float:
    try:
        delay = float(settings["backoff_base"]) ** attempts
    except OverflowError:
        delay = math.inf
    return float(min(delay, settings["backoff_max"]))


class QueueMachine(RuleBasedStateMachine):
    def __init__(self, open_fresh_store: Callable[[], Store]) -> None:
        super().__init__()
        self.store = open_fresh_store()
        self.clock = FrozenClock()
        self.queue = JobQueue(self.store, self.clock)
        self.registry = WorkerRegistry(self.store, self.clock)
        self.config = ConfigStore(self.store)
        self.jobs: dict[str, MJob] = {}
        self.settings = {"max_retries": 3, "backoff_base": 2.0, "backoff_max": 3600.0, "worker_timeout": 30.0}
        self.workers: dict[str, float] = {}  # live worker -> its last heartbeat
        self.lost: set[str] = set()
        self.claims: list[Claim] = []
        self.n_workers = 0

    def teardown(self) -> None:
        self.store.close()

    # ── helpers ─────────────────────────────────────────────────────────────────────────────

    @property
    def now(self) -> float:
        return self.clock.now()

    def current(self, c: Claim) -> bool:
        """The fence's view: the claim's job is processing, by this worker, at this attempt."""
        j = self.jobs.get(c.job.id)
        return bool(j and j.state == "processing" and j.worker == c.worker and j.attempts == c.job.attempts)

    def current_claims(self) -> list[Claim]:
        return [c for c in self.claims if self.current(c)]

    def stale_claims(self) -> list[Claim]:
        return [c for c in self.claims if not self.current(c)]

    def snapshot(self) -> dict[str, list[tuple]]:
        ex = self.store.execute
        return {
            "job": ex("SELECT * FROM job ORDER BY id").fetchall(),
            "run": ex("SELECT * FROM run ORDER BY job_id, number").fetchall(),
            "job_count": ex("SELECT * FROM job_count ORDER BY state, shard").fetchall(),  # (PostgreSQL: shards)
            "worker": ex("SELECT * FROM worker ORDER BY id").fetchall(),
        }

    def settings_now(self) -> Settings:
        return self.config.settings()

    def fail_model(self, j: MJob, error: str | None, exit_code: int | None) -> None:
        """The model of a failed run (including `worker lost`): failed with back-off, or dead."""
        if j.attempts > j.max_retries:
            j.state = "dead"
        else:
            j.state = "failed"
            j.run_at = self.now + backoff(self.settings, j.attempts)
        j.finished_at = self.now

    def end_run(self, j: MJob, c: Claim, run_arg: int | RunStart, *, exit_code, error) -> None:
        if isinstance(run_arg, RunStart):
            j.runs.append(MRun(j.next_number(), c.worker, c.job.attempts, True, exit_code, error))
        else:
            r = next(r for r in j.runs if r.number == run_arg)
            r.finished, r.exit_code, r.error = True, exit_code, error

    # ── workers ─────────────────────────────────────────────────────────────────────────────

    @precondition(lambda self: len(self.workers) < 4)
    @rule()
    def register_worker(self) -> None:
        self.n_workers += 1
        wid = f"w{self.n_workers}"
        self.registry.register(wid, HOST, 4_000_000 + self.n_workers, 1.0, None, None)
        self.workers[wid] = self.now

    @precondition(lambda self: self.workers)
    @rule(data=st.data())
    def heartbeat(self, data) -> None:
        wid = data.draw(st.sampled_from(sorted(self.workers)))
        control = self.registry.heartbeat(wid)
        assert not control.lost
        self.workers[wid] = self.now

    @precondition(lambda self: self.lost)
    @rule(data=st.data())
    def heartbeat_of_a_lost_worker(self, data) -> None:
        wid = data.draw(st.sampled_from(sorted(self.lost)))
        assert self.registry.heartbeat(wid).lost

    @rule(seconds=st.sampled_from([0, 0.5, 1, 2, 10, 31, 100, 4000]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ── enqueue and claim ───────────────────────────────────────────────────────────────────

    @rule(
        ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=3),
        max_retries=st.one_of(st.none(), st.integers(0, 3)),
        priority=st.sampled_from([0, 0, 1, 5]),
        delay=st.sampled_from([None, None, 0, 5, 100]),
    )
    def enqueue(self, ids, max_retries, priority, delay) -> None:
        specs = [JobSpec(command="true", id=i, max_retries=max_retries, priority=priority,
                         run_at=None if delay is None else self.now + delay) for i in ids]
        before = self.snapshot()
        if len(set(ids)) != len(ids) or any(i in self.jobs for i in ids):
            with pytest.raises(DuplicateJob):
                self.queue.enqueue(specs, self.settings_now())
            assert self.snapshot() == before, "a refused bulk enqueue changed the store"
            return
        assert self.queue.enqueue(specs, self.settings_now()) == ids
        for i in ids:
            seq = self.store.execute("SELECT seq FROM job WHERE id = ?", (i,)).fetchone()[0]
            self.jobs[i] = MJob(i, "pending", 0, self.settings["max_retries"] if max_retries is None else max_retries,
                                priority, self.now if delay is None else self.now + delay, seq)

    @precondition(lambda self: self.workers)
    @rule(data=st.data())
    def claim(self, data) -> None:
        wid = data.draw(st.sampled_from(sorted(self.workers)))
        got = self.queue.claim(wid)
        self._after_claim(wid, got)

    def _after_claim(self, wid: str, got: ClaimedJob | None) -> None:
        due = [j for j in self.jobs.values() if j.state in ("pending", "failed") and j.run_at <= self.now]
        if not due:
            assert got is None, f"claimed {got} with nothing due"
            return
        expected = min(due, key=lambda j: (-j.priority, j.run_at, j.seq))
        assert got is not None and got.id == expected.id, f"claimed {got}, expected {expected.id}"
        j = expected
        j.state, j.attempts, j.worker, j.cancel_requested, j.finished_at = "processing", j.attempts + 1, wid, False, None
        assert (got.attempts, got.max_retries) == (j.attempts, j.max_retries)
        # an older claim with the same (job, worker, attempt) would pass the fence again: forget it
        self.claims = [c for c in self.claims if (c.job.id, c.worker, c.job.attempts) != (j.id, wid, j.attempts)]
        self.claims.append(Claim(got, wid))
        del self.claims[:-24]

    @precondition(lambda self: any(c.run is None for c in self.current_claims()))
    @rule(data=st.data())
    def start_run(self, data) -> None:
        c = data.draw(st.sampled_from([c for c in self.current_claims() if c.run is None]))
        j = self.jobs[c.job.id]
        number = self.queue.start_run(c.job, c.worker, RunStart(HOST, 1234, 1.0, self.now))
        assert number == j.next_number()
        c.run = number
        j.runs.append(MRun(number, c.worker, c.job.attempts))

    # ── finishing ───────────────────────────────────────────────────────────────────────────

    OUTCOMES = st.sampled_from(["complete", "fail", "cancelled", "interrupted"])

    def _result(self, outcome: str) -> RunResult:
        return {
            "complete": Completed(),
            "fail": Failed(1, "exit code 1"),
            "cancelled": Cancelled(143),
            "interrupted": Interrupted(143),
        }[outcome]

    def _model_finish(self, c: Claim, outcome: str, run_arg) -> str:
        j = self.jobs[c.job.id]
        exit_code = self._result(outcome).exit_code
        if outcome == "complete":
            j.state, j.finished_at = "completed", self.now
            error = None
        elif outcome == "fail":
            self.fail_model(j, "exit code 1", 1)
            error = "exit code 1"
        elif outcome == "cancelled":
            j.state, j.finished_at, error = "cancelled", self.now, CANCELLED_BY_USER
        else:  # interrupted: back to pending, uncounted
            j.state, j.attempts, j.run_at, j.finished_at, error = "pending", j.attempts - 1, self.now, self.now, INTERRUPTED
        if j.cancel_requested and outcome != "complete":
            # A cancel asked for while the job ran wins over any end but success (bug 3: see
            # test_cancel_requested_then_*): cancelled, whatever the run's own outcome set above
            # (attempts, and the retry's run_at, stay as that outcome wrote them).
            j.state, j.finished_at, error = "cancelled", self.now, CANCELLED_BY_USER
        j.cancel_requested = False
        self.end_run(j, c, run_arg, exit_code=exit_code, error=error)
        return j.state

    @precondition(lambda self: self.current_claims())
    @rule(data=st.data(), outcome=OUTCOMES, and_claim=st.booleans())
    def finish(self, data, outcome, and_claim) -> None:
        c = data.draw(st.sampled_from(self.current_claims()))
        run_arg = c.run if c.run is not None else RunStart(HOST, 1234, 1.0, self.now)
        result, settings_now = self._result(outcome), self.settings_now()
        if and_claim and c.worker in self.workers:
            done, got = self.queue.finish_and_claim(c.job, c.worker, run_arg, result, settings_now, output=b"out",
                                                    output_bytes=3)
            state = self._model_finish(c, outcome, run_arg)
            assert done.state == state
            self._after_claim(c.worker, got)
        else:
            done = self.queue.finish(c.job, c.worker, run_arg, result, settings_now, output=b"out", output_bytes=3)
            assert done.state == self._model_finish(c, outcome, run_arg)

    @precondition(lambda self: any(c.run is None for c in self.current_claims()))
    @rule(data=st.data())
    def release(self, data) -> None:
        """A claimed job that never started is handed back by its stopping worker."""
        c = data.draw(st.sampled_from([c for c in self.current_claims() if c.run is None]))
        assert self.queue.release(c.job, c.worker)
        j = self.jobs[c.job.id]
        j.attempts -= 1
        if j.cancel_requested:  # the cancel wins (test_cancel_requested_then_released_ends_cancelled)
            j.state, j.finished_at, j.cancel_requested = "cancelled", self.now, False
        else:
            j.state = "pending"

    @precondition(lambda self: self.stale_claims())
    @rule(data=st.data(), outcome=OUTCOMES, with_run=st.booleans())
    def stale_finish(self, data, outcome, with_run) -> None:
        """A late finisher whose job was recovered, retried, finished or deleted meanwhile: fenced."""
        c = data.draw(st.sampled_from(self.stale_claims()))
        run_arg = c.run if (with_run and c.run is not None) else RunStart(HOST, 1234, 1.0, self.now)
        before = self.snapshot()
        done = self.queue.finish(c.job, c.worker, run_arg, self._result(outcome), self.settings_now(), output=b"late",
                                 output_bytes=4)
        assert done.state is None, f"a stale finish was applied: {done}"
        after = self.snapshot()
        for table in ("job", "job_count", "worker"):
            assert after[table] == before[table], f"a stale finish changed table {table}"
        changed = [(b, a) for b, a in zip(before["run"], after["run"]) if b != a]
        assert len(after["run"]) == len(before["run"]), "a stale finish added or removed runs"
        cols = [d[0] for d in self.store.execute("SELECT * FROM run LIMIT 0").description]
        for b, a in changed:
            row_b, row_a = dict(zip(cols, b)), dict(zip(cols, a))
            own = (row_b["job_id"], row_b["number"], row_b["worker_id"], row_b["attempt"]) == (
                c.job.id, c.run, c.worker, c.job.attempts)
            assert own, (f"a stale finish of {c.job.id} (worker {c.worker}, attempt {c.job.attempts}, run {c.run}) "
                         f"wrote into another run: {row_b} -> {row_a}")
            assert {k: v for k, v in row_a.items() if k not in ("output", "output_bytes")} == {
                k: v for k, v in row_b.items() if k not in ("output", "output_bytes")}, "only its output may change"

    # ── recovery ────────────────────────────────────────────────────────────────────────────

    def _model_lost(self, wid: str) -> list[tuple[str, str]]:
        done = []
        for j in self.jobs.values():
            if j.state == "processing" and j.worker == wid:
                if j.cancel_requested:
                    j.state, j.finished_at = "cancelled", self.now
                else:
                    self.fail_model(j, WORKER_LOST, None)
                j.cancel_requested = False
                open_runs = [r for r in j.runs if r.worker == wid and r.attempt == j.attempts and not r.finished]
                if open_runs:
                    for r in open_runs:
                        r.finished, r.error = True, WORKER_LOST
                else:
                    j.runs.append(MRun(j.next_number(), wid, j.attempts, True, None, WORKER_LOST))
                done.append((j.id, j.state))
        return done

    @precondition(lambda self: any(j.state == "processing" for j in self.jobs.values()))
    @rule(data=st.data())
    def fail_jobs_of_lost_worker(self, data) -> None:
        wid = data.draw(st.sampled_from(sorted({j.worker for j in self.jobs.values() if j.state == "processing"})))
        got = self.queue.fail_jobs_of_lost_worker(wid, self.settings_now())
        assert sorted(got) == sorted(self._model_lost(wid))

    @rule()
    def rescue_lost_workers(self) -> None:
        timeout = self.settings["worker_timeout"]
        newly_lost = [w for w, beat in self.workers.items() if self.now - beat > timeout]
        for w in newly_lost:
            del self.workers[w]
            self.lost.add(w)
        expected = []
        holders = sorted({j.worker for j in self.jobs.values() if j.state == "processing"} - set(self.workers))
        for w in holders:
            jobs = self._model_lost(w)
            if jobs:
                expected.append((w, sorted(jobs)))
        got = rescue_lost_workers(self.queue, self.registry, self.settings_now())
        assert sorted((r.worker_id, sorted(r.jobs)) for r in got) == expected
        states = self.registry.states(sorted(self.lost))
        assert all(s == "lost" for s in states.values()), states

    # ── user operations ─────────────────────────────────────────────────────────────────────

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=2, unique=True))
    def cancel(self, ids) -> None:
        before = self.snapshot()
        unknown = [i for i in ids if i not in self.jobs]
        wrong = [i for i in ids if i in self.jobs and self.jobs[i].state not in ("pending", "failed", "processing")]
        if unknown or wrong:
            with pytest.raises(JobNotFound if unknown else InvalidTransition):
                self.queue.cancel(ids)
            assert self.snapshot() == before
            return
        got = self.queue.cancel(ids)
        for i in ids:
            j = self.jobs[i]
            if j.state == "processing":
                j.cancel_requested = True
                assert got[i] == "processing"
            else:
                j.state, j.finished_at = "cancelled", self.now
                assert got[i] == "cancelled"

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=2, unique=True), force=st.booleans())
    def retry(self, ids, force) -> None:
        allowed = {"failed", "dead", "cancelled"} | ({"completed"} if force else set())
        before = self.snapshot()
        unknown = [i for i in ids if i not in self.jobs]
        wrong = [i for i in ids if i in self.jobs and self.jobs[i].state not in allowed]
        if unknown or wrong:
            with pytest.raises(JobNotFound if unknown else InvalidTransition):
                self.queue.retry(ids, force=force)
            assert self.snapshot() == before
            return
        self.queue.retry(ids, force=force)
        for i in ids:
            j = self.jobs[i]
            j.state, j.attempts, j.run_at, j.finished_at, j.cancel_requested = "pending", 0, self.now, None, False

    @rule()
    def retry_all_dead(self) -> None:
        dead = [j for j in self.jobs.values() if j.state == "dead"]
        assert self.queue.retry_all_dead() == len(dead)
        for j in dead:
            j.state, j.attempts, j.run_at, j.finished_at = "pending", 0, self.now, None

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=2, unique=True), only_dead=st.booleans())
    def delete(self, ids, only_dead) -> None:
        before = self.snapshot()
        unknown = [i for i in ids if i not in self.jobs]
        wrong = [i for i in ids if i in self.jobs and (self.jobs[i].state == "processing"
                                                        or (only_dead and self.jobs[i].state != "dead"))]
        if unknown or wrong:
            with pytest.raises(JobNotFound if unknown else InvalidTransition):
                self.queue.delete(ids, only_dead=only_dead)
            assert self.snapshot() == before
            return
        self.queue.delete(ids, only_dead=only_dead)
        for i in ids:
            del self.jobs[i]

    @rule(states=st.lists(st.sampled_from([JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED]), min_size=1,
                          max_size=3, unique=True),
          older_than=st.sampled_from([None, 0, 5, 1000]))
    def purge(self, states, older_than) -> None:
        gone = [j.id for j in self.jobs.values() if j.state in states
                and (older_than is None or (j.finished_at is not None and j.finished_at <= self.now - older_than))]
        assert self.queue.purge(states, older_than) == len(gone)
        for i in gone:
            del self.jobs[i]

    @rule(change=st.sampled_from([
        ("backoff_base", "1", 1.0), ("backoff_base", "1.5", 1.5), ("backoff_base", "2", 2.0), ("backoff_base", 3, 3.0),
        ("backoff_base", "1000", 1000.0),
        ("backoff_max", "0", 0.0), ("backoff_max", "1", 1.0), ("backoff_max", "60", 60.0), ("backoff_max", 3600, 3600.0),
        ("max_retries", "0", 0), ("max_retries", "1", 1), ("max_retries", "2", 2), ("max-retries", "3", 3),
        ("worker_timeout", "2", 2.0), ("worker_timeout", "30", 30.0),
        # refused: nothing changes
        ("backoff_base", "0.5", None), ("backoff_max", "abc", None), ("max_retries", "-1", None),
        ("max_retries", "1.5", None), ("backoff_base", "nan", None), ("worker_timeout", "1", None),
    ]), reset=st.booleans())
    def change_setting(self, change, reset) -> None:
        key, raw, value = change
        name = key.replace("-", "_")
        if reset and value is not None:
            self.config.reset(name)
            self.settings[name] = SETTINGS[name].default
            return
        if value is None:
            before = self.snapshot()
            with pytest.raises(InvalidSetting):
                self.config.set(key, raw)
            assert self.snapshot() == before
            return
        assert self.config.set(key, raw) == (name, value)
        self.settings[name] = value

    # ── invariants ──────────────────────────────────────────────────────────────────────────

    @invariant()
    def store_matches_model(self) -> None:
        rows = self.store.execute(
            "SELECT id, state, attempts, max_retries, run_at, worker_id, cancel_requested_at IS NOT NULL, finished_at "
            "FROM job ORDER BY id").fetchall()
        assert [r[0] for r in rows] == sorted(self.jobs), "job ids differ from the model"
        for (job_id, state, attempts, max_retries, run_at, worker, cancel_req, finished_at) in rows:
            j = self.jobs[job_id]
            assert state in STATES
            assert (state, attempts, max_retries) == (j.state, j.attempts, j.max_retries), (job_id, state, attempts, j)
            assert attempts <= max_retries + 1, f"{job_id}: attempts {attempts} > max_retries {max_retries} + 1"
            if state == "dead":
                assert attempts > max_retries, f"{job_id} is dead after {attempts} of {max_retries}+1 runs"
            if state == "failed":
                assert attempts <= max_retries
            # for a failed job: the failure time + min(backoff_base ** attempts, backoff_max)
            assert run_at == j.run_at, f"{job_id} ({state}): run_at {run_at} != model {j.run_at}"
            if state == "processing":
                assert worker == j.worker
            assert bool(cancel_req) == j.cancel_requested, f"{job_id}: cancel requested {cancel_req}"
            assert finished_at == j.finished_at, f"{job_id} ({state}): finished_at {finished_at} != {j.finished_at}"

    @invariant()
    def runs_match_model(self) -> None:
        rows = self.store.execute(
            "SELECT job_id, number, worker_id, attempt, finished_at IS NOT NULL, exit_code, error FROM run "
            "ORDER BY job_id, number").fetchall()
        expected = sorted((j.id, r.number, r.worker, r.attempt, int(r.finished), r.exit_code, r.error)
                          for j in self.jobs.values() for r in j.runs)
        assert [tuple(r) for r in rows] == expected

    @invariant()
    def counts_sum_to_total(self) -> None:
        counts = self.queue.counts()
        expected = {s.value: 0 for s in JobState}
        for j in self.jobs.values():
            expected[j.state] += 1
        assert counts.by_state == expected
        assert counts.total == len(self.jobs)


MACHINE_SETTINGS = settings(
    max_examples=50, stateful_step_count=30, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def fresh_store(store_under_test, tmp_path) -> Callable[[], Store]:
    """Opens an empty store for each Hypothesis example (the machine closes it): a new SQLite file,
    or the test's PostgreSQL database with every row deleted (a new database per example would cost
    more than the example; DELETE costs less than TRUNCATE on tables this small)."""
    made = itertools.count()

    def sqlite() -> Store:
        return open_store(f"sqlite:///{tmp_path}/sm-{next(made)}.db", durable=False)

    def postgresql() -> Store:
        store = open_store(store_under_test, durable=False)
        for table in ("job", "run", "worker", "setting", "job_count"):
            store.execute(f"DELETE FROM {table}")
        for state in JobState:  # the rows a fresh migration leaves: every state, count 0
            store.execute("INSERT INTO job_count (state, shard, n) VALUES (?, 0, 0)", (state.value,))
        return store

    return postgresql if store_under_test else sqlite


class TestJobStateMachine:
    """Run as a test function (not Hypothesis's TestCase) so that it takes the store fixtures."""

    def test_against_the_model(self, fresh_store):
        run_state_machine_as_test(lambda: QueueMachine(fresh_store), settings=MACHINE_SETTINGS)


# ── a cancel must win over the other ways a running job can end ─────────────────────────────
# The contract: `cancel` makes a running job `cancelled`. Each test asks for the cancel while the
# job is processing, then lets the job end another way that the worker may take in the same
# moment (its worker stops, hands the job back before starting it, or the job fails by itself).


@pytest.fixture
def core(tmp_path, store_under_test):
    store = open_store(store_under_test or f"sqlite:///{tmp_path}/queue.db", durable=False)
    clock = FrozenClock()
    yield JobQueue(store, clock), Settings(backoff_base=1, backoff_max=0)
    store.close()


def _claimed(queue: JobQueue, settings: Settings) -> ClaimedJob:
    queue.enqueue([JobSpec(command="sleep 30", id="j1", max_retries=3)], settings)
    job = queue.claim("w1")
    assert job is not None
    assert queue.cancel(["j1"]) == {"j1": JobState.PROCESSING}
    return job


def test_cancel_requested_then_forced_stop_ends_cancelled(core):
    queue, settings = core
    job = _claimed(queue, settings)
    run = queue.start_run(job, "w1", RunStart("h", 1, 1.0, queue.clock.now()))
    queue.finish(job, "w1", run, Interrupted(143), settings)
    assert queue.get("j1").state == "cancelled", "a cancelled job went back to pending and will run again"


def test_cancel_requested_then_released_ends_cancelled(core):
    queue, settings = core
    job = _claimed(queue, settings)
    assert queue.release(job, "w1")
    assert queue.get("j1").state == "cancelled", "a cancelled job went back to pending and will run again"


def test_cancel_requested_then_failed_run_is_not_retried(core):
    queue, settings = core
    job = _claimed(queue, settings)
    queue.finish(job, "w1", RunStart("h", 1, 1.0, queue.clock.now()), Failed(1, "exit code 1"), settings)
    assert queue.get("j1").state == "cancelled", "a cancelled job is due for a retry"


def test_a_fenced_off_finisher_never_writes_into_another_workers_run(core):
    """Worker w1 hangs holding job `a`; it is declared lost, the user deletes `a` and enqueues a new
    `a`, which w2 runs (its run is number 1 again). w1 wakes up and finishes: fenced off, it must
    change nothing — neither the job nor w2's run (its output is what `logs a` shows)."""
    queue, settings = core
    queue.enqueue([JobSpec(command="old", id="a")], settings)
    late = queue.claim("w1")
    late_run = queue.start_run(late, "w1", RunStart("h", 1, 1.0, queue.clock.now()))
    queue.fail_jobs_of_lost_worker("w1", settings)
    queue.delete(["a"])
    queue.enqueue([JobSpec(command="new", id="a")], settings)
    job = queue.claim("w2")
    run = queue.start_run(job, "w2", RunStart("h", 2, 1.0, queue.clock.now()))
    queue.save_output("a", run, b"w2's output\n", 12, "w2")
    assert run == late_run == 1

    result = queue.finish(late, "w1", late_run, Completed(), settings, output=b"w1's late output\n", output_bytes=17)
    assert result.state is None
    assert queue.get("a").state == "processing"
    assert queue.output("a").output == b"w2's output\n", "the late finisher overwrote another worker's run"


# ── decide(): every run end, as a pure function ─────────────────────────────────────────────
# The model above checks decide() through the store; here it is called directly, over every kind
# of result, attempt and setting the state machine can meet.

FAILURES = st.one_of(
    st.builds(Failed, st.integers(1, 255), st.sampled_from(["exit code 1", "killed by SIGKILL", None])),
    st.builds(StartFailed, st.just("could not start: no such directory")),
    st.builds(TimedOut, st.sampled_from([0.5, 30.0]), st.sampled_from([None, 137, 143])),
    st.builds(Fenced, st.floats(0, 100), st.sampled_from([None, 137])),
    st.just(WorkerLost()),
    st.builds(ClaimLost, st.sampled_from([None, 137])),
)
RESULTS = st.one_of(
    st.just(Completed()), FAILURES, st.builds(Cancelled, st.sampled_from([None, 143])),
    st.builds(Interrupted, st.sampled_from([None, 143])),
    st.builds(Refused, st.one_of(st.just(Completed()), FAILURES, st.just(Interrupted(143)), st.just(Cancelled(143))),
              st.just("string or blob too big")),
)
SETTINGS_DRAWN = st.builds(Settings, backoff_base=st.sampled_from([1.0, 1.5, 2.0, 1000.0]),
                           backoff_max=st.sampled_from([0.0, 1.0, 60.0, 3600.0, 31_536_000.0]))


@dataclass
class _Job:
    attempts: int
    max_retries: int


FAST_DECIDE = settings(max_examples=300, deadline=None, database=None)


@FAST_DECIDE
@given(attempts=st.integers(1, 12), max_retries=st.integers(0, 10), result=RESULTS, cfg=SETTINGS_DRAWN,
       cancel_requested=st.booleans())
def test_decide_maps_each_run_end_to_one_next_state(attempts, max_retries, result, cfg, cancel_requested):
    now = NOW
    state, new_attempts, run_at, error = decide(_Job(attempts, max_retries), result, cfg, now,
                                                cancel_requested=cancel_requested)
    kind = result.original if isinstance(result, Refused) else result
    if isinstance(result, Completed):  # success wins over a pending cancel: the work is done
        assert (state, new_attempts, run_at, error) == (JobState.COMPLETED, attempts, None, None)
    elif cancel_requested or isinstance(kind, Cancelled):
        assert (state, new_attempts, run_at) == (JobState.CANCELLED, attempts, None)
        assert error == (CANCELLED_BY_USER if cancel_requested else result.error)
    elif isinstance(kind, Interrupted):  # never counts: the attempt is handed back, due at once
        assert (state, new_attempts, run_at, error) == (JobState.PENDING, attempts - 1, now, result.error)
    elif attempts > max_retries:
        assert (state, new_attempts, run_at, error) == (JobState.DEAD, attempts, None, result.error)
    else:
        assert (state, new_attempts, error) == (JobState.FAILED, attempts, result.error)
        expected = backoff({"backoff_base": cfg.backoff_base, "backoff_max": cfg.backoff_max}, attempts)
        assert run_at == now + expected
        assert now <= run_at <= now + cfg.backoff_max, "a retry's delay exceeds backoff_max"


@FAST_DECIDE
@given(max_retries=st.integers(0, 6), results=st.lists(RESULTS, min_size=1, max_size=40), cfg=SETTINGS_DRAWN)
def test_a_job_runs_at_most_max_retries_plus_one_counted_times(max_retries, results, cfg):
    """Claim after claim (each counts an attempt), ended by `decide`: the job is claimable again only
    while attempts ≤ max_retries, an interrupted run hands its attempt back, and the job is dead
    exactly after max_retries + 1 failed runs."""
    job, counted_failures, state = _Job(0, max_retries), 0, JobState.PENDING
    for result in results:
        if state not in (JobState.PENDING, JobState.FAILED):
            break
        job.attempts += 1  # the claim
        state, job.attempts, _, _ = decide(job, result, cfg, NOW)
        kind = result.original if isinstance(result, Refused) else result
        if state in (JobState.FAILED, JobState.DEAD):
            counted_failures += 1
            assert kind.counted and not isinstance(kind, Cancelled)
        assert job.attempts <= max_retries + 1
        assert job.attempts == counted_failures + (1 if state in (JobState.COMPLETED, JobState.CANCELLED) else 0)
        assert (state is JobState.DEAD) == (counted_failures == max_retries + 1)


# ── parsing: only InvalidInput, also with the CLI's flag defaults and odd number texts ──────

NOW = 1_767_225_600.0
FAST = settings(max_examples=150, deadline=None, database=None)
scalars = (st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | st.sampled_from(["a/b", "..", "30s", "+5m", "-1", "3", "", "1e400", "\x00", "\ud800"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                         max_size=3), max_leaves=8)
names = st.sampled_from(FIELDS) | st.sampled_from(["state", "attempts", "x"])
# the CLI turns flags into `defaults` that fill the fields each JSON job leaves unset
defaults = st.dictionaries(st.sampled_from([f for f in FIELDS if f != "id"]), values, max_size=4)


@FAST
@given(obj=st.dictionaries(names, values, max_size=6), flags=defaults)
def test_spec_from_mapping_with_flag_defaults_only_raises_invalid_input(obj, flags):
    try:
        spec = spec_from_mapping(obj, NOW, flags)
    except InvalidInput:
        return
    assert isinstance(spec, JobSpec) and spec.command.strip()


@FAST
@given(objs=st.lists(st.dictionaries(names, values, max_size=5) | values, min_size=1, max_size=4),
       form=st.sampled_from(["array", "ndjson", "ndjson-crlf", "ndjson-blank-lines", "bom-array"]), flags=defaults)
def test_parse_jobs_text_with_flag_defaults_only_raises_invalid_input(objs, form, flags):
    texts = [json.dumps(o) for o in objs]
    text = {
        "array": lambda: json.dumps(objs),
        "ndjson": lambda: "\n".join(texts),
        "ndjson-crlf": lambda: "\r\n".join(texts),
        "ndjson-blank-lines": lambda: "\n\n".join(texts) + "\n\n",
        "bom-array": lambda: "\ufeff" + json.dumps(objs),
    }[form]()
    try:
        specs = parse_jobs_text(text, NOW, flags)
    except InvalidInput:
        return
    assert len(specs) == len(objs) and all(isinstance(s, JobSpec) for s in specs)


number_texts = st.one_of(
    st.sampled_from(["١٢", "１２", "٣", "1_000", "0x10", "0o7", " 3 ", "3\n", "\t2.5", "+inf", "-0", "-0.0", "1e-400",
                     "1e308", "9" * 400, "0" * 50 + "1", ".5", "5.", "1e3", "1E+3", "", " ", "3 4", "²", "½", "Ⅻ",
                     "\u00a03", "3\u200b", "nan", "NaN", "infinity", "true", "null"]),
    st.from_regex(r"\s?[+-]?[0-9٠-٩０-９]{0,6}([.,][0-9]{0,3})?([eE][+-]?[0-9]{1,3})?\s?", fullmatch=True),
)


@FAST
@given(key=st.sampled_from(sorted(SETTINGS)), raw=number_texts | st.integers() | st.floats())
def test_setting_values_only_raise_invalid_input(key, raw):
    try:
        value = parse_value(key, raw)
    except InvalidInput:
        return
    setting = SETTINGS[key]
    assert type(value) is setting.kind and setting.minimum <= value <= setting.maximum
    assert math.isfinite(value)
