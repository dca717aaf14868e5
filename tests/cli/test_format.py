"""queuectl.format: the one set of rules both front ends print (issue 14)."""

from __future__ import annotations

from queuectl import format as fmt
from queuectl.core.records import JobRecord, WorkerInfo
from queuectl.core.states import JobState

NOW = 1_767_225_600.0


def job(state: str, started: float | None = None, finished: float | None = None) -> JobRecord:
    return JobRecord("j", "true", state, 1, 3, 0, "default", 0.0, None, None, NOW - 900, NOW - 900, NOW,
                     started, finished, None, None, None)


def worker(state: str, heartbeat: float, stopped: float | None = None) -> WorkerInfo:
    return WorkerInfo("w", "host", 1, 0.0, None, state, NOW - 3600, heartbeat, stopped, None, False)


def test_took_ticks_while_running_and_keeps_an_ended_runs_length():
    assert fmt.took(job("pending"), NOW) == "-"  # never ran
    assert fmt.took(job("processing", started=NOW - 75), NOW) == "1m15s"
    assert fmt.took(job("pending", started=NOW - 100, finished=NOW - 58), NOW) == "42s"  # interrupted
    assert fmt.took(job("completed", started=NOW - 100, finished=NOW - 99), NOW) == "1.0s"
    # a row read just after `now` was taken: its run started "in the future", shown as 0
    assert fmt.took(job("processing", started=NOW + 0.025), NOW) == fmt.duration(0.0)


def test_a_running_job_shows_no_exit_code_of_an_earlier_run():
    ran = job("processing", started=NOW - 5)._replace(exit_code=3)
    assert fmt.exit_code(ran) == "-"
    assert fmt.exit_code(ran._replace(state="failed")) == "3"
    assert fmt.exit_code(job("pending")) == "-"


def test_uptime_ends_when_the_worker_stopped_or_went_silent():
    assert fmt.worker_uptime(worker("running", NOW), NOW) == "1h00m"
    assert fmt.worker_uptime(worker("stopped", NOW - 1800, stopped=NOW - 1800), NOW) == "30m00s"
    assert fmt.worker_uptime(worker("lost", NOW - 600), NOW) == "50m00s"


def test_every_state_has_an_ansi_code_and_a_rich_style():
    for state in [*JobState, "running", "stopping", "stopped", "lost"]:
        key = getattr(state, "value", state)
        assert fmt.STATE_COLOURS[key] and fmt.STATE_STYLES[key]


def test_job_times_read_the_same_in_show_and_the_detail():
    times = dict(fmt.job_times(job("completed", started=NOW - 480, finished=NOW - 478), NOW))
    assert times["started"] == "8m00s ago (2025-12-31T23:52:00Z)"
    assert times["created"] == "15m00s ago (2025-12-31T23:45:00Z)"
    assert times["finished"] == "7m58s ago (2025-12-31T23:52:02Z)"
    assert dict(fmt.job_times(job("pending"), NOW))["started"] == "-"
