"""Working days (Monday to Friday): "we aim to reply within 2 working days" as a date a person can plan around."""

import datetime
from collections.abc import Container

SATURDAY = 5


def is_working_day(day: datetime.date, *, holidays: Container[datetime.date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def add_working_days(start: datetime.date, days: int, *, holidays: Container[datetime.date] = ()) -> datetime.date:
    """The date `days` working days after `start`: counting starts the day after, so a request sent on a Friday
    with a 2-day target is due on Tuesday, and one sent on a Saturday is due on Tuesday too."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    remaining = days
    while remaining:
        day += datetime.timedelta(days=1)
        if is_working_day(day, holidays=holidays):
            remaining -= 1
    return day


def bank_holidays() -> frozenset[datetime.date]:
    """The bank holidays staff keep at /staff/results/bank-holidays/ (England and Wales loaded by default)."""
    from careportal.core.models import BankHoliday

    return frozenset(BankHoliday.objects.values_list("date", flat=True))
