"""Retention: finished jobs older than their state's keep_* setting go (with their runs), in
batches; each job keeps its last keep_runs runs; 0 keeps for ever."""

from __future__ import annotations

from queuectl.core.records import RunStart
from queuectl.core.results import exited
from queuectl.core.retention import prune
from queuectl.core.settings import Settings, parse_value
from queuectl.core.specs import JobSpec

DAY = 86400.0


def _finish(queue, exit_code: int, n: int, max_retries: int = 0) -> list[str]:
    ids = queue.enqueue([JobSpec(command="x", max_retries=max_retries) for _ in range(n)], Settings())
    for _ in ids:
        job = queue.claim("w")
        queue.finish(job, "w", RunStart("h", 1, None, queue.clock.now()), exited(exit_code, None), Settings(),
                     output=b"o" * 100, output_bytes=100)
    return ids


def _states(store) -> dict[str, int]:
    return dict(store.execute("SELECT state, count(*) FROM job GROUP BY state").fetchall())


def test_old_finished_jobs_go_with_their_runs_and_young_ones_stay(queue, store, clock):
    _finish(queue, 0, 7)
    _finish(queue, 1, 3)
    clock.advance(2 * DAY)
    young = _finish(queue, 0, 2)
    settings = Settings(keep_completed=DAY, keep_dead=0)  # dead: kept for ever
    pruned = prune(queue, settings, clock.now(), batch=3, max_batch=3)
    assert pruned.jobs == {"completed": 7}
    assert _states(store) == {"completed": 2, "dead": 3}
    assert {j.id for j in queue.list_jobs()} >= set(young)
    assert store.execute("SELECT count(*) FROM run").fetchone()[0] == 5
    assert {s: n for s, n in queue.counts().by_state.items() if n} == _states(store)  # counters follow


def test_a_pass_is_bounded_and_the_next_one_goes_on(queue, store, clock):
    _finish(queue, 0, 10)
    clock.advance(2 * DAY)
    first = prune(queue, Settings(keep_completed=DAY), clock.now(), batch=2, max_batch=2, max_batches=2)
    assert first.jobs == {"completed": 4}
    prune(queue, Settings(keep_completed=DAY), clock.now(), batch=2, max_batches=10)
    assert _states(store) == {}


def test_each_job_keeps_its_last_runs(queue, store, clock):
    [job_id] = queue.enqueue([JobSpec(command="x", max_retries=5)], Settings())
    for _ in range(5):
        job = queue.claim("w")
        queue.finish(job, "w", RunStart("h", 1, None, clock.now()), exited(1, None), Settings(backoff_base=1))
        clock.advance(10)
    pruned = prune(queue, Settings(keep_runs=2), clock.now(), window=2)
    assert pruned.runs == 3 and pruned.run_cursor == 5
    assert [r.number for r in queue.runs(job_id)] == [4, 5]
    assert prune(queue, Settings(keep_runs=2), clock.now(), run_cursor=pruned.run_cursor).runs == 0


def test_keep_settings_take_durations():
    assert parse_value("keep-completed", "7d") == 7 * DAY
    assert parse_value("keep_dead", "36h") == 36 * 3600
    assert parse_value("keep_cancelled", "0") == 0


def test_batches_grow_while_quick_and_shrink_when_slow():
    from queuectl.core.retention import TARGET_HOLD, _resized

    assert _resized(100, TARGET_HOLD / 10, 1000) == 200
    assert _resized(800, TARGET_HOLD / 10, 1000) == 1000
    assert _resized(100, TARGET_HOLD * 3, 1000) == 50
    assert _resized(1, TARGET_HOLD * 3, 1000) == 1
    assert _resized(100, TARGET_HOLD * 0.7, 1000) == 100
