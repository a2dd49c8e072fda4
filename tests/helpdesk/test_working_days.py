import datetime

import pytest

from careportal.core.working_days import add_working_days

MONDAY = datetime.date(2026, 11, 23)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (MONDAY, 0, MONDAY),
        (MONDAY, 2, datetime.date(2026, 11, 25)),  # Wednesday
        (datetime.date(2026, 11, 26), 2, datetime.date(2026, 11, 30)),  # Thursday -> Monday
        (datetime.date(2026, 11, 27), 2, datetime.date(2026, 12, 1)),  # Friday -> Tuesday
        (datetime.date(2026, 11, 28), 2, datetime.date(2026, 12, 1)),  # Saturday -> Tuesday
        (datetime.date(2026, 11, 29), 1, datetime.date(2026, 11, 30)),  # Sunday -> Monday
        (MONDAY, 5, datetime.date(2026, 11, 30)),
    ],
)
def test_working_days_skip_weekends(start, days, expected):
    assert add_working_days(start, days) == expected


def test_holidays_are_skipped_when_given():
    boxing_day = datetime.date(2026, 12, 28)  # the substitute bank holiday, a Monday
    holidays = {datetime.date(2026, 12, 25), boxing_day}
    # Thursday 24 December: Christmas Day, the weekend and the substitute day are skipped.
    assert add_working_days(datetime.date(2026, 12, 24), 2, holidays=holidays) == datetime.date(2026, 12, 30)


def test_negative_days_are_refused():
    with pytest.raises(ValueError, match="negative"):
        add_working_days(MONDAY, -1)
