"""Throughput, success rate, run times and queue wait over a recent window, from the run records."""

from __future__ import annotations

from typing import NamedTuple

from queuectl.core.db import Store


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class Stats(NamedTuple):
    window: float
    runs: int
    succeeded: int
    failed: int
    finished_per_minute: float
    failed_per_minute: float
    success_rate: float | None
    run_p50: float | None
    run_p95: float | None
    run_max: float | None
    wait_p50: float | None
    wait_p95: float | None
    wait_max: float | None

    def to_json(self) -> dict[str, object]:
        return self._asdict()


def compute_stats(store: Store, now: float, window: float) -> Stats:
    """Runs that finished in the last `window` seconds; queue wait of runs started in it
    (time from due to start, for first attempts)."""
    since = now - window
    runs = store.execute(
        "SELECT finished_at - started_at, exit_code, error FROM run WHERE finished_at >= ?", (since,)
    ).fetchall()
    durations = sorted(max(0.0, r[0]) for r in runs)
    succeeded = sum(1 for r in runs if r[1] == 0 and r[2] is None)
    failed = len(runs) - succeeded
    waits = sorted(
        max(0.0, r[0])
        for r in store.execute(
            "SELECT r.started_at - j.created_at FROM run r JOIN job j ON j.id = r.job_id "
            "WHERE r.finished_at >= ? AND r.number = 1 AND j.run_at <= j.created_at + 0.001",
            (since,),
        ).fetchall()
    )
    minutes = window / 60.0
    return Stats(
        window=window, runs=len(runs), succeeded=succeeded, failed=failed,
        finished_per_minute=len(runs) / minutes, failed_per_minute=failed / minutes,
        success_rate=succeeded / len(runs) if runs else None,
        run_p50=percentile(durations, 0.5), run_p95=percentile(durations, 0.95),
        run_max=durations[-1] if durations else None,
        wait_p50=percentile(waits, 0.5), wait_p95=percentile(waits, 0.95), wait_max=waits[-1] if waits else None,
    )
