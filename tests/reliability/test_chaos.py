"""Chaos: rounds of M workers running K jobs while random workers are killed with SIGKILL at random
moments and replaced. After every round each job has completed exactly once (one successful run
recorded), every run lost to a kill is recorded with the error `worker lost`, a job's runs never
overlapped in time (judged by the job's own start/tick/end lines, not by the store), and no job
process is left running.

The short version runs in the default selection; the long one (`-m slow`) runs ≥ 20 rounds.
Randomness is seeded: the seed is printed; rerun a failure with QUEUECTL_CHAOS_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

from reliability_support import RQueuectl, tracebacks, wait_until

# Each line: "<id> <attempt> start|tick|end <epoch seconds>", appended by the job itself.
JOB = (
    'm={marks}/"$QUEUECTL_JOB_ID"; '
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT start $(date +%s.%N)" >> "$m"; sleep {a}; '
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT tick $(date +%s.%N)" >> "$m"; sleep {b}; '
    'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT end $(date +%s.%N)" >> "$m"'
)


@dataclass
class Tally:
    seed: int
    rounds: int = 0
    jobs: int = 0
    kills: int = 0
    lost_runs: int = 0
    jobs_lost: int = 0
    double_runs: int = 0
    repeated_successes: int = 0  # a run that ended (end line) but was lost before its result was recorded
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"chaos seed={self.seed}: {self.rounds} rounds, {self.jobs} jobs, {self.kills} workers killed, "
                f"{self.lost_runs} runs lost and retried, {self.jobs_lost} jobs lost, {self.double_runs} double runs, "
                f"{self.repeated_successes} finished runs re-run after a kill (at-least-once)")


def _parse_marks(path: Path) -> dict[int, dict[str, list[float]]]:
    by_attempt: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        parts = line.split()
        assert len(parts) == 4, f"torn line in {path.name}: {line!r}"
        _, attempt, kind, when = parts
        by_attempt[int(attempt)][kind].append(float(when))
    return by_attempt


def _check_round(q: RQueuectl, ids: list[str], marks: Path, tally: Tally, freeze: bool = False) -> None:
    from queuectl.core.states import WORKER_LOST

    for job_id in ids:
        job = q.job(job_id)
        runs = q.runs(job_id)
        where = f"job {job_id} (seed {tally.seed})"
        if job.state != "completed":
            tally.jobs_lost += 1
            tally.problems.append(f"{where} is {job.state}, runs {runs}")
            continue
        ok = [r for r in runs if r.exit_code == 0 and r.error is None]
        if len(ok) != 1 or ok[0] is not runs[-1] or ok[0].attempt != job.attempts:
            tally.problems.append(f"{where}: successful runs {ok} of {runs}")
        lost = runs[:-1]
        tally.lost_runs += len(lost)
        for r in lost:
            # a frozen holder that wakes before it is declared lost records its fenced run itself
            fenced = freeze and (r.error or "").startswith("fenced: ")
            if (r.error != WORKER_LOST and not fenced) or r.finished_at is None:
                tally.problems.append(f"{where}: run {r.number} ended with error {r.error!r}, expected {WORKER_LOST!r}")
        if [r.attempt for r in runs] != list(range(1, len(runs) + 1)):
            tally.problems.append(f"{where}: run attempts {[r.attempt for r in runs]}")
        for before, after in pairwise(runs):  # the store's view: a run ends before the next starts
            if before.finished_at is None or before.finished_at > after.started_at:
                tally.problems.append(f"{where}: runs {before.number} and {after.number} overlap in the store")

        # The job's own view: what it wrote, attempt by attempt.
        seen = _parse_marks(marks / job_id)
        unknown = set(seen) - {r.attempt for r in runs}
        if unknown:
            tally.problems.append(f"{where}: ran as attempts {sorted(unknown)} that the store does not record")
        if not seen.get(job.attempts, {}).get("end"):
            tally.problems.append(f"{where}: the recorded successful attempt {job.attempts} never wrote its end")
        spans = []
        for attempt, kinds in seen.items():
            if len(kinds.get("start", [])) != 1:
                tally.problems.append(f"{where}: attempt {attempt} started {len(kinds.get('start', []))} times")
                continue
            last = max(t for ts_ in kinds.values() for t in ts_)
            spans.append((kinds["start"][0], last, attempt))
            if kinds.get("end") and attempt != job.attempts:
                tally.repeated_successes += 1
        spans.sort()
        if [a for _, _, a in spans] != sorted(a for _, _, a in spans):
            tally.problems.append(f"{where}: attempts started out of order: {spans}")
        for (_, last1, a1), (s2, _, a2) in pairwise(spans):
            if last1 >= s2:
                tally.double_runs += 1
                tally.problems.append(
                    f"{where}: attempt {a1} was still running {last1 - s2:.3f}s after attempt {a2} started")


def chaos(q: RQueuectl, rounds: int, workers: int, jobs: int, kills: tuple[int, int], freeze: bool = False,
          slots: int = 1) -> Tally:
    """`freeze`: instead of SIGKILL, SIGSTOP the victim and SIGCONT it 0.3–4 s later, every worker
    on a host of its own (QUEUECTL_HOST_ID) so that only heartbeats and self-fencing can act.
    `slots`: each worker process runs that many jobs at once (a kill takes them all)."""
    seed = int(os.environ.get("QUEUECTL_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    tally = Tally(seed)
    print(f"\nchaos seed: {seed} (rerun with QUEUECTL_CHAOS_SEED={seed})")
    marks = q.work / "marks"
    marks.mkdir()
    # Retries due at once (backoff_max 0), idle workers poll 20×/s; enough retries for any number of kills.
    q.configure(poll_interval=0.05, backoff_base=1, backoff_max=0)
    hosts = iter(range(10**6))

    def spawn():
        return q.spawn_worker(*(("--count", str(slots)) if slots > 1 else ()),
                              env={"QUEUECTL_HOST_ID": f"chaos-host-{next(hosts)}"} if freeze else None)

    frozen: list[tuple[float, object]] = []  # (when to SIGCONT, worker)

    def thaw(all_now: bool = False) -> None:
        for item in list(frozen):
            if all_now or time.monotonic() >= item[0]:
                try:
                    os.kill(item[1].pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
                frozen.remove(item)

    if freeze:
        q.configure(worker_timeout=2)
    q.wait_registered([spawn() for _ in range(workers)])
    started = time.monotonic()
    for rnd in range(rounds):
        ids = [f"r{rnd}-j{i}" for i in range(jobs)]
        specs = [{"id": job_id, "max_retries": 1000,
                  # frozen holders need jobs that outlive worker_timeout to be able to overlap
                  "command": JOB.format(marks=marks, a=rng.choice((0.5, 1.5, 3.0) if freeze else (0.05, 0.1, 0.2, 0.3)),
                                        b=rng.choice((0.5, 1.0) if freeze else (0.05, 0.1, 0.2)))} for job_id in ids]
        assert q.enqueue_many(specs) == ids
        planned = rng.randint(*kills)
        done_kills = 0
        deadline = time.monotonic() + 60

        def completed() -> int:
            return q.sql(f"SELECT count(*) FROM job WHERE id LIKE 'r{rnd}-%' AND state = 'completed'")[0][0]

        while completed() < jobs:
            assert time.monotonic() < deadline, (
                f"round {rnd} did not complete in 60 s (seed {seed}): "
                + repr(q.sql("SELECT id, state, attempts, worker_id FROM job WHERE id LIKE ? AND state <> ?",
                             (f"r{rnd}-%", "completed"))))
            thaw()
            if done_kills < planned:
                time.sleep(rng.uniform(0.05, 0.7))
                victims = [w for w in q.live_pool() if all(w is not f[1] for f in frozen)]
                if victims:
                    victim = rng.choice(victims)
                    if freeze:
                        os.kill(victim.pid, signal.SIGSTOP)
                        frozen.append((time.monotonic() + rng.uniform(0.3, 4.0), victim))
                    else:
                        q.kill9(victim)
                    done_kills += 1
                    spawn()  # a replacement, not waited for: it may be killed while starting
            else:
                time.sleep(0.05)
        thaw(all_now=True)
        tally.kills += done_kills
        tally.rounds += 1
        tally.jobs += jobs
        _check_round(q, ids, marks, tally, freeze)
        counts = q.counts()
        if counts["processing"]:
            tally.problems.append(f"round {rnd}: {counts['processing']} jobs still processing: {counts}")
        try:
            wait_until(lambda: not q.job_processes(), timeout=5, message="job processes to be gone")
        except AssertionError:
            tally.problems.append(f"round {rnd}: job processes left running: {q.job_processes()}")
        assert not tally.problems, f"{tally.line()}\n" + "\n".join(tally.problems[:20])
    elapsed = time.monotonic() - started
    if freeze:  # workers declared lost while frozen exit once thawed
        wait_until(lambda: all(w.proc.poll() is not None or q.sql("SELECT state FROM worker WHERE id = ?", (w.id,))
                               in ([("running",)], [("stopping",)], []) for w in q.pool), timeout=10,
                   message="workers declared lost to exit")
    q.wait_registered(q.live_pool())  # the last replacements too: the teardown's stop must reach them
    bad_logs = tracebacks(q.worker_logs())
    assert not bad_logs, f"tracebacks in worker logs: {list(bad_logs)}\n{next(iter(bad_logs.values()))[-3000:]}"
    print(f"{tally.line()} in {elapsed:.1f}s")
    return tally


def test_chaos_kill_9_short(q):
    tally = chaos(q, rounds=6, workers=4, jobs=16, kills=(2, 5))
    assert tally.kills >= 6  # (a round may end before all its planned kills)
    assert (tally.jobs_lost, tally.double_runs) == (0, 0)


def test_chaos_kill_9_of_four_slot_workers_short(q):
    """Workers of 4 slots each (`worker run -c 4`): a kill -9 loses up to four runs at once."""
    tally = chaos(q, rounds=4, workers=2, jobs=16, kills=(1, 3), slots=4)
    assert tally.kills >= 4
    assert (tally.jobs_lost, tally.double_runs) == (0, 0)


@pytest.mark.slow
def test_chaos_kill_9_long(q):
    tally = chaos(q, rounds=25, workers=5, jobs=20, kills=(3, 6))
    assert tally.kills >= 25
    assert (tally.jobs_lost, tally.double_runs) == (0, 0)


@pytest.mark.slow
def test_chaos_sigstop_across_hosts_long(q):
    """Holders frozen (SIGSTOP) past worker_timeout and thawed later, each worker on its own host:
    their jobs are retried elsewhere, and the frozen runs must have been fenced off first."""
    tally = chaos(q, rounds=6, workers=4, jobs=8, kills=(2, 4), freeze=True)
    assert tally.kills >= 6
    assert (tally.jobs_lost, tally.double_runs) == (0, 0)
