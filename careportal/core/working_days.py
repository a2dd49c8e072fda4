"""Working days (Monday to Friday, less bank holidays): "we aim to reply within 2 working days" and "released one
working day after the final report" as dates a person can plan around."""

import datetime
from collections.abc import Container

SATURDAY = 5


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


def bank_holidays(*, on_or_after: datetime.date | None = None) -> frozenset[datetime.date]:
    """The bank holidays staff keep at /staff/results/bank-holidays/ (England and Wales loaded by default).

    `on_or_after` leaves out the past, which can never fall inside a count that starts on that day.
    """
    from careportal.core.models import BankHoliday

    holidays = BankHoliday.objects.all()
    if on_or_after is not None:
        holidays = holidays.filter(date__gte=on_or_after)
    return frozenset(holidays.values_list("date", flat=True))
