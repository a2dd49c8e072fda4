"""When a periodic job is due (careportal.core.schedule): intervals, London daily times, clock changes."""

import datetime

import pytest

from careportal.core.jobs import prune_finished_task_results
from careportal.core.schedule import LONDON, PeriodicJob, Schedule, daily_time_on, latest_daily_time, schedule
from tests.core import sample_tasks

UTC = datetime.UTC
MINUTE = datetime.timedelta(minutes=1)


def london(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=LONDON).astimezone(UTC)


def every_minute() -> PeriodicJob:
    return PeriodicJob(name="test.every_minute", task=sample_tasks.record, every=MINUTE)


def daily_just_after_midnight() -> PeriodicJob:
    return PeriodicJob(name="test.daily", task=sample_tasks.record, daily_at=datetime.time(0, 5))


def test_a_job_never_enqueued_is_due_at_once():
    now = london(2026, 6, 10, 12, 0)
    assert every_minute().is_due(last_enqueued_at=None, now=now)
    assert daily_just_after_midnight().is_due(last_enqueued_at=None, now=now)


def test_interval_job_is_due_when_the_interval_has_passed():
    job = every_minute()
    last = london(2026, 6, 10, 12, 0)
    assert not job.is_due(last_enqueued_at=last, now=last)
    assert not job.is_due(last_enqueued_at=last, now=last + datetime.timedelta(seconds=59))
    assert job.is_due(last_enqueued_at=last, now=last + MINUTE)
    assert job.next_due_at(last_enqueued_at=last, now=last) == last + MINUTE


def test_daily_job_is_due_once_the_daily_time_has_passed_since_it_last_ran():
    job = daily_just_after_midnight()
    ran = london(2026, 6, 10, 0, 5, 3)
    assert not job.is_due(last_enqueued_at=ran, now=london(2026, 6, 10, 0, 6))
    assert not job.is_due(last_enqueued_at=ran, now=london(2026, 6, 10, 23, 59))
    assert not job.is_due(last_enqueued_at=ran, now=london(2026, 6, 11, 0, 4, 59))
    assert job.is_due(last_enqueued_at=ran, now=london(2026, 6, 11, 0, 5))
    assert job.next_due_at(last_enqueued_at=ran, now=london(2026, 6, 10, 9, 0)) == london(2026, 6, 11, 0, 5)


def test_daily_job_missed_for_days_is_due_now():
    job = daily_just_after_midnight()
    now = london(2026, 6, 14, 9, 30)
    assert job.is_due(last_enqueued_at=london(2026, 6, 10, 0, 5), now=now)
    assert job.next_due_at(last_enqueued_at=london(2026, 6, 10, 0, 5), now=now) == now


def test_daily_time_is_london_wall_clock_time_in_summer_and_winter():
    # British Summer Time: 00:05 in London is 23:05 UTC the evening before.
    assert daily_time_on(datetime.date(2026, 7, 1), datetime.time(0, 5)) == datetime.datetime(
        2026, 6, 30, 23, 5, tzinfo=UTC
    )
    assert daily_time_on(datetime.date(2026, 12, 1), datetime.time(0, 5)) == datetime.datetime(
        2026, 12, 1, 0, 5, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("first_day", "at"),
    [
        (datetime.date(2026, 3, 27), datetime.time(0, 5)),  # clocks go forward on Sunday 29 March 2026
        (datetime.date(2026, 10, 23), datetime.time(0, 5)),  # clocks go back on Sunday 25 October 2026
        (datetime.date(2026, 3, 27), datetime.time(1, 30)),  # a time that does not exist on 29 March
        (datetime.date(2026, 10, 23), datetime.time(1, 30)),  # a time that happens twice on 25 October
    ],
)
def test_a_daily_job_is_due_exactly_once_a_day_through_the_clock_changes(first_day, at):
    job = PeriodicJob(name="test.daily", task=sample_tasks.record, daily_at=at)
    start = datetime.datetime.combine(first_day, datetime.time(12, 0), tzinfo=LONDON).astimezone(UTC)
    last = start
    enqueued = []
    # Check every minute for five days, as the scheduler would, and enqueue whenever the job is due.
    for minute in range(5 * 24 * 60):
        now = start + minute * MINUTE
        if job.is_due(last_enqueued_at=last, now=now):
            enqueued.append(now.astimezone(LONDON))
            last = now
    assert len(enqueued) == 5
    assert len({moment.date() for moment in enqueued}) == 5
    if at == datetime.time(0, 5):
        assert all((moment.hour, moment.minute) == (0, 5) for moment in enqueued)


def test_latest_daily_time_is_yesterdays_before_todays_time():
    at = datetime.time(3, 15)
    assert latest_daily_time(at, london(2026, 6, 10, 3, 14)) == london(2026, 6, 9, 3, 15)
    assert latest_daily_time(at, london(2026, 6, 10, 3, 15)) == london(2026, 6, 10, 3, 15)


def test_a_job_needs_exactly_one_of_every_and_daily_at():
    with pytest.raises(ValueError, match="either"):
        PeriodicJob(name="x", task=sample_tasks.record)
    with pytest.raises(ValueError, match="either"):
        PeriodicJob(name="x", task=sample_tasks.record, every=MINUTE, daily_at=datetime.time(1))
    with pytest.raises(ValueError, match="wall-clock"):
        PeriodicJob(name="x", task=sample_tasks.record, daily_at=datetime.time(1, tzinfo=UTC))
    with pytest.raises(TypeError, match="@task"):
        PeriodicJob(name="x", task=print, every=MINUTE)


def test_job_names_are_unique_in_a_schedule():
    jobs = Schedule()
    jobs.register("test.job", sample_tasks.record, every=MINUTE)
    with pytest.raises(ValueError, match="already registered"):
        jobs.register("test.job", sample_tasks.record, every=MINUTE)


def test_the_project_schedule_prunes_finished_task_results_daily():
    schedule.autodiscover()
    job = next(job for job in schedule.jobs() if job.name == "core.prune_task_results")
    assert job.task is prune_finished_task_results
    assert job.daily_at == datetime.time(3, 15)
    assert job.description == "daily at 03:15 Europe/London"
