"""Periodic jobs: which task the scheduler enqueues, and when.

Each app registers its jobs in its own `jobs.py` (loaded by `schedule.autodiscover()`), for example:

    schedule.register("results.release_due", release_due_results, every=timedelta(minutes=1))
    schedule.register("proxy.age_changes", apply_proxy_age_changes, daily_at=time(0, 5))

A job is either every N (`every`), or once a day at a wall-clock time in Europe/London (`daily_at`), so "just after
midnight" stays just after midnight through the clock changes. `manage.py run_scheduler` asks each job whether it is
due against the last time it was enqueued (stored in `ScheduledJobRun`):

- a job never enqueued before is due at once;
- an `every` job is due when `every` has passed since it was last enqueued;
- a `daily_at` job is due when it has not been enqueued since the most recent daily time. A scheduler that was down
  over that time enqueues it once when it comes back, however many days it missed; one restarted after the daily
  time, having already enqueued the job, does not enqueue it again.

Jobs must be idempotent (act on the state they find, e.g. "release every report now due"): a catch-up run may come
late, and a job enqueued twice must do no harm.
"""

import dataclasses
import datetime
import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps

# Daily times are NHS trust (England) wall-clock times, whatever TIME_ZONE a deployment sets.
LONDON = ZoneInfo("Europe/London")
UTC = datetime.UTC


def daily_time_on(day: datetime.date, at: datetime.time) -> datetime.datetime:
    """The moment (UTC) of the London wall-clock time `at` on `day`.

    On the spring clock change a time between 01:00 and 02:00 does not exist and is taken an hour later; on the
    autumn change such a time happens twice and the first is taken. Either way each day has exactly one moment.
    """
    return datetime.datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def latest_daily_time(at: datetime.time, now: datetime.datetime) -> datetime.datetime:
    """The most recent moment, at or before `now`, when London clocks showed `at`."""
    today = now.astimezone(LONDON).date()
    moment = daily_time_on(today, at)
    if moment > now:
        moment = daily_time_on(today - datetime.timedelta(days=1), at)
    return moment


@dataclasses.dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: Any  # a django_tasks Task (a function decorated with @task)
    every: datetime.timedelta | None = None
    daily_at: datetime.time | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.every is None) == (self.daily_at is None):
            raise ValueError(f"Job {self.name!r}: give either `every` or `daily_at`")
        if self.every is not None and self.every < datetime.timedelta(seconds=1):
            raise ValueError(f"Job {self.name!r}: `every` must be at least one second")
        if self.daily_at is not None and self.daily_at.tzinfo is not None:
            raise ValueError(f"Job {self.name!r}: `daily_at` is a London wall-clock time, without a time zone")
        if not hasattr(self.task, "enqueue"):
            raise TypeError(f"Job {self.name!r}: `task` must be a task (decorate the function with @task)")

    @property
    def description(self) -> str:
        if self.every is not None:
            return f"every {self.every}"
        return f"daily at {self.daily_at:%H:%M} Europe/London"

    def is_due(self, *, last_enqueued_at: datetime.datetime | None, now: datetime.datetime) -> bool:
        if last_enqueued_at is None:
            return True
        if self.every is not None:
            return now >= last_enqueued_at + self.every
        assert self.daily_at is not None  # noqa: S101 - guaranteed by __post_init__
        return last_enqueued_at < latest_daily_time(self.daily_at, now)

    def next_due_at(self, *, last_enqueued_at: datetime.datetime | None, now: datetime.datetime) -> datetime.datetime:
        """When the job will next be due (`now` if it is due already)."""
        if self.is_due(last_enqueued_at=last_enqueued_at, now=now):
            return now
        assert last_enqueued_at is not None  # noqa: S101 - a job never enqueued is always due
        if self.every is not None:
            return last_enqueued_at + self.every
        assert self.daily_at is not None  # noqa: S101
        tomorrow = latest_daily_time(self.daily_at, now).astimezone(LONDON).date() + datetime.timedelta(days=1)
        return daily_time_on(tomorrow, self.daily_at)


class Schedule:
    """The registry of periodic jobs, by name. The name is the key of the job's `ScheduledJobRun` row."""

    def __init__(self) -> None:
        self._jobs: dict[str, PeriodicJob] = {}

    def register(
        self,
        name: str,
        task: Any,
        *,
        every: datetime.timedelta | None = None,
        daily_at: datetime.time | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> PeriodicJob:
        if name in self._jobs:
            raise ValueError(f"A periodic job named {name!r} is already registered")
        job = PeriodicJob(name=name, task=task, every=every, daily_at=daily_at, kwargs=dict(kwargs or {}))
        self._jobs[name] = job
        return job

    def jobs(self) -> list[PeriodicJob]:
        return [self._jobs[name] for name in sorted(self._jobs)]

    def autodiscover(self) -> None:
        """Import `jobs.py` from each CarePortal app, which registers that app's jobs."""
        for app_config in apps.get_app_configs():
            if not app_config.name.startswith("careportal."):
                continue
            module_name = f"{app_config.name}.jobs"
            if importlib.util.find_spec(module_name) is not None:
                importlib.import_module(module_name)


# The project's schedule, filled by each app's jobs.py.
schedule = Schedule()
