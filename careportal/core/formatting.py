"""How dates, times and identifiers are written on pages: the NHS.UK content style ("3 November 2026 at 14:02")."""

import datetime

from django.utils import timezone


def format_nhs_number(value: str | None) -> str:
    """Show a stored 10-digit NHS number as 3-3-4, the way patients see it on their letters."""
    if not value:
        return ""
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) != 10:
        return value
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def format_date(value: datetime.date | datetime.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return f"{value.day} {value:%B %Y}"


def format_time(value: datetime.datetime) -> str:
    # 24-hour clock, as the portal's audit and appointment pages use it: unambiguous for every reader.
    return f"{timezone.localtime(value):%H:%M}"


def format_datetime(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    return f"{format_date(value)} at {format_time(value)}"
