"""Working days (Monday to Friday, less bank holidays and the trust's own closures): "we aim to reply within 2
working days" and "released one working day after the final report" as dates a person can plan around.

The national bank holidays come from the `holidays` package (the United Kingdom, for the part of it set by
BANK_HOLIDAY_REGION: England by default), which computes them for any year, Easter and substitute days included,
so the calendar never runs out. Staff keep the exceptions at /staff/results/bank-holidays/ (`BankHoliday` rows):
a local closure adds a day that is not a working day; an opening makes a national bank holiday a working day.
"""

import datetime
import functools
from collections.abc import Container, Iterator

import holidays
from django.conf import settings

SATURDAY = 5

# BANK_HOLIDAY_REGION values and the `holidays` package's United Kingdom subdivisions.
REGIONS = {
    "england": ("ENG", "England"),
    "wales": ("WLS", "Wales"),
    "scotland": ("SCT", "Scotland"),
    "northern-ireland": ("NIR", "Northern Ireland"),
}


def is_working_day(day: datetime.date, *, holidays: Container[datetime.date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def add_working_days(start: datetime.date, days: int, *, holidays: Container[datetime.date] = ()) -> datetime.date:
    """The date `days` working days after `start`: counting starts the day after, so a request sent on a Friday
    with a 2-day target is due on Tuesday, and one sent on a Saturday is due on Tuesday too. With 0 days the answer
    is `start` itself, working day or not."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    remaining = days
    while remaining:
        day += datetime.timedelta(days=1)
        if is_working_day(day, holidays=holidays):
            remaining -= 1
    return day


def region_name() -> str:
    return REGIONS[settings.BANK_HOLIDAY_REGION][1]


@functools.cache
def _national_year(subdivision: str, year: int) -> dict[datetime.date, str]:
    # One immutable dict per region and year, computed once per process: the package's own lazy expansion mutates
    # a shared object, which several listener and worker threads would then race on.
    return dict(holidays.country_holidays("GB", subdiv=subdivision, years=year).items())


def national_bank_holidays(year: int) -> dict[datetime.date, str]:
    """The national bank holidays of the trust's region in `year`, by date, with their names."""
    return _national_year(REGIONS[settings.BANK_HOLIDAY_REGION][0], year)


def national_bank_holidays_between(start: datetime.date, end: datetime.date) -> Iterator[tuple[datetime.date, str]]:
    """(date, name) of the national bank holidays from `start` to `end` inclusive, in date order."""
    for year in range(start.year, end.year + 1):
        for day, name in sorted(national_bank_holidays(year).items()):
            if start <= day <= end:
                yield day, name


class NonWorkingDays(Container[datetime.date]):
    """The weekdays that are not working days: national bank holidays, less the ones the trust opens on, plus its
    local closures. Answers for any year from `since` on (a count that starts on that day never looks earlier)."""

    def __init__(
        self,
        *,
        closed: frozenset[datetime.date],
        opened: frozenset[datetime.date],
        since: datetime.date | None = None,
    ) -> None:
        self.closed = closed
        self.opened = opened
        self.since = since

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, datetime.date) or (self.since is not None and day < self.since):
            return False
        if day in self.closed:
            return True
        if day in self.opened:
            return False
        return day in national_bank_holidays(day.year)


def bank_holidays(*, on_or_after: datetime.date | None = None) -> NonWorkingDays:
    """The days that are not working days although they are weekdays, for counting working days from a date on.

    `on_or_after` leaves out the days before it (and so the trust's past changes out of the one query), as they can
    never fall inside a count that starts on that day.
    """
    from careportal.core.models import BankHoliday, CalendarChange

    entries = BankHoliday.objects.all()
    if on_or_after is not None:
        entries = entries.filter(date__gte=on_or_after)
    closed: set[datetime.date] = set()
    opened: set[datetime.date] = set()
    for day, change in entries.values_list("date", "change"):
        (opened if change == CalendarChange.OPEN else closed).add(day)
    return NonWorkingDays(closed=frozenset(closed), opened=frozenset(opened), since=on_or_after)
