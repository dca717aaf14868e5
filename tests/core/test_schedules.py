"""Schedules: slots from cron (in a time zone) or an interval, one job per slot however many
callers race for it, one catch-up job for missed slots, pause and resume."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from queuectl.core.errors import DuplicateSchedule, InvalidInput, ScheduleNotFound
from queuectl.core.queue import JobQueue
from queuectl.core.schedules import (
    add_schedule,
    enqueue_due,
    get_schedule,
    latest_slot,
    list_schedules,
    next_slot,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    run_schedule_now,
    schedule_spec,
)
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z (the frozen clock's start)


def _jobs(store) -> list[tuple[str, float, str]]:
    return store.execute("SELECT id, run_at, command FROM job ORDER BY run_at").fetchall()


@pytest.mark.no_store
def test_cron_slots_follow_the_time_zone_across_a_daylight_saving_change():
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 27, 12, 0, tzinfo=berlin).timestamp()
    first = next_slot("0 9 * * *", "Europe/Berlin", None, 0, before)
    second = next_slot("0 9 * * *", "Europe/Berlin", None, 0, first)
    assert datetime.fromtimestamp(first, berlin).hour == datetime.fromtimestamp(second, berlin).hour == 9
    assert second - first == 23 * 3600  # the night the clocks go forward is an hour short


@pytest.mark.no_store
def test_interval_slots_keep_their_phase_and_the_latest_slot_is_at_or_before():
    assert next_slot(None, None, 30, 100, 100) == 130
    assert next_slot(None, None, 30, 100, 130) == 160
    assert next_slot(None, None, 30, 100, 175) == 190
    assert latest_slot(None, None, 30, 100, 175) == 160
    assert latest_slot(None, None, 30, 100, 120) is None
    assert latest_slot("*/5 * * * *", None, None, 0, T0 + 600) == T0 + 600
    assert latest_slot("*/5 * * * *", None, None, 0, T0 + 599.5) == T0 + 300


@pytest.mark.no_store
@pytest.mark.parametrize("kwargs, message", [
    ({"cron": "61 * * * *"}, "--cron: invalid expression"),
    ({"cron": "0 0 30 2 *"}, "Bad day-of-month"),
    ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "unknown time zone"),
    ({"every": "0.5s"}, "--every: must be between"),
    ({"every": "soon"}, "invalid duration"),
    ({}, "exactly one of"),
    ({"cron": "* * * * *", "every": "1m"}, "exactly one of"),
    ({"every": "1m", "tz": "UTC"}, "--tz applies to --cron only"),
])
def test_bad_schedules_are_refused_with_a_message(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        schedule_spec("s", JobSpec(command="true"), **kwargs)


@pytest.mark.no_store
def test_a_bad_name_is_refused():
    with pytest.raises(InvalidInput, match="schedule name"):
        schedule_spec("../x", JobSpec(command="true"), every="1m")


def test_a_due_slot_is_enqueued_once_with_the_job_fields(store, clock):
    spec = schedule_spec("backup", JobSpec(command="echo hi", queue="io", priority=5, max_retries=1, timeout=9),
                         cron="*/5 * * * *")
    sched = add_schedule(store, spec, clock.now())
    assert sched.next_run_at == T0 + 300 and sched.last_run_at is None
    assert enqueue_due(store, T0 + 299, Settings()) == []
    made = enqueue_due(store, T0 + 300.4, Settings())
    assert [(m.schedule, m.slot, m.missed) for m in made] == [("backup", T0 + 300, False)]
    assert enqueue_due(store, T0 + 300.9, Settings()) == []  # the same slot again: nothing
    job = JobQueue(store).get(made[0].job_id)
    assert (job.command, job.queue, job.priority, job.max_retries, job.timeout, job.run_at) == (
        "echo hi", "io", 5, 1, 9, T0 + 300)
    assert job.env == {"QUEUECTL_SCHEDULE": "backup", "QUEUECTL_SLOT": "2026-01-01T00:05:00.000Z"}
    listed = list_schedules(store)
    assert [(s.name, s.next_run_at, s.last_run_at, s.last_job_id, s.last_job_state) for s in listed] == [
        ("backup", T0 + 600, T0 + 300, made[0].job_id, "pending")]


def test_missed_slots_make_one_catch_up_job_not_a_burst(store, clock):
    add_schedule(store, schedule_spec("tick", JobSpec(command="true"), every="1m"), clock.now())
    made = enqueue_due(store, T0 + 3600 * 5 + 30, Settings())  # five hours with nothing running
    assert len(made) == 1 and made[0].missed and made[0].slot == T0 + 3600 * 5
    assert len(_jobs(store)) == 1
    assert get_schedule(store, "tick").next_run_at == T0 + 3600 * 5 + 60


def test_a_paused_schedule_enqueues_nothing_and_resumes_without_catching_up(store, clock):
    add_schedule(store, schedule_spec("tick", JobSpec(command="true"), every="10s"), clock.now())
    assert pause_schedule(store, "tick", T0 + 1).paused
    assert enqueue_due(store, T0 + 100, Settings()) == []
    resumed = resume_schedule(store, "tick", T0 + 105)
    assert not resumed.paused and resumed.next_run_at == T0 + 110
    assert [m.slot for m in enqueue_due(store, T0 + 110, Settings())] == [T0 + 110]


def test_run_now_enqueues_one_job_due_now_and_keeps_the_slots(store, clock):
    add_schedule(store, schedule_spec("tick", JobSpec(command="echo hi", queue="io", priority=3), every="1h"),
                 clock.now())
    pause_schedule(store, "tick", T0)
    job_id = run_schedule_now(store, "tick", T0 + 5, Settings())
    job = JobQueue(store).get(job_id)
    assert (job.command, job.queue, job.priority, job.run_at, job.state) == ("echo hi", "io", 3, T0 + 5, "pending")
    assert job.env == {"QUEUECTL_SCHEDULE": "tick", "QUEUECTL_SLOT": "2026-01-01T00:00:05.000Z"}
    sched = get_schedule(store, "tick")
    assert (sched.last_run_at, sched.last_job_id, sched.last_job_state) == (T0 + 5, job_id, "pending")
    assert sched.paused and sched.next_run_at == T0 + 3600
    with pytest.raises(ScheduleNotFound):
        run_schedule_now(store, "nope", T0, Settings())
    assert len(_jobs(store)) == 1


def test_names_are_unique_and_unknown_names_say_so(store, clock):
    spec = schedule_spec("s", JobSpec(command="true"), every="1m")
    add_schedule(store, spec, clock.now())
    with pytest.raises(DuplicateSchedule):
        add_schedule(store, spec, clock.now())
    remove_schedule(store, "s")
    for call in (lambda: remove_schedule(store, "s"), lambda: get_schedule(store, "s"),
                 lambda: pause_schedule(store, "s", T0)):
        with pytest.raises(ScheduleNotFound, match="no such schedule: s"):
            call()


def test_callers_racing_for_the_same_slots_enqueue_one_job_per_slot(store, clock):
    """Eight threads, each with its own connection (as workers on several hosts have), call
    enqueue_due for the same moments: each slot gets exactly one job."""
    add_schedule(store, schedule_spec("tick", JobSpec(command="true"), every="1s"), clock.now())
    moments = [T0 + 1 + i for i in range(15)]
    stores = [open_store(store.url) for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def race(own) -> None:
        try:
            for moment in moments:
                barrier.wait(timeout=30)
                enqueue_due(own, moment, Settings())
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert not errors
    assert [run_at for _, run_at, _ in _jobs(store)] == moments
