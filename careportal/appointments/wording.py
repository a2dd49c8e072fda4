"""How appointment times are said to patients, in the NHS.UK content style: "2pm", "1:30pm", "midday",
"Thursday 19 November". Always in the trust's time zone (TIME_ZONE)."""

import datetime

from django.utils import timezone


def clock(value: datetime.datetime) -> str:
    """12-hour clock as NHS.UK writes it: 9am, 2:30pm, midday, midnight."""
    local = timezone.localtime(value)
    if local.minute == 0 and local.hour == 12:
        return "midday"
    if local.minute == 0 and local.hour == 0:
        return "midnight"
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    if local.minute:
        return f"{hour}:{local.minute:02d}{suffix}"
    return f"{hour}{suffix}"


def day(value: datetime.datetime, *, with_year: bool = False) -> str:
    """Thursday 19 November (2026)."""
    local = timezone.localtime(value)
    text = f"{local:%A} {local.day} {local:%B}"
    return f"{text} {local.year}" if with_year else text


def spoken_when(value: datetime.datetime, *, with_on: bool = True, with_year: bool = False) -> str:
    """ "on Thursday 19 November at 2pm": the day and time only (a reminder may say no more)."""
    text = f"{day(value, with_year=with_year)} at {clock(value)}"
    return f"on {text}" if with_on else text


def time_range(start: datetime.datetime, end: datetime.datetime) -> str:
    """ "2pm to 2:30pm"."""
    return f"{clock(start)} to {clock(end)}"
