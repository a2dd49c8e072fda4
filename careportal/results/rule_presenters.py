"""What the bank holidays page shows: the rows of its tables, built here so that the template holds no logic."""

import dataclasses

from django.urls import reverse

from careportal.core.formatting import format_date
from careportal.core.working_days import region_name
from careportal.results.release_rules import BankHolidayLists, CalendarDay


@dataclasses.dataclass(frozen=True)
class CalendarRow:
    date_text: str
    name: str
    status: str  # what the day is, in words
    remove_url: str  # empty for a national bank holiday, which cannot be removed
    remove_label: str


@dataclasses.dataclass(frozen=True)
class BankHolidaysPage:
    region: str
    upcoming: list[CalendarRow]
    past: list[CalendarRow]


def _row(day: CalendarDay) -> CalendarRow:
    date_text = f"{day.date:%A} {format_date(day.date)}"
    if day.entry is None:
        status, remove_url, remove_label = "No: national bank holiday", "", ""
    elif day.is_working_day:
        status = f"Yes: the hospital works as normal ({day.national_name})"
        remove_url = reverse("results:bank-holiday-delete", kwargs={"pk": day.entry.pk})
        remove_label = f"Make {date_text} a bank holiday again"
    else:
        status = "No: local closure" if not day.national_name else "No: national bank holiday"
        remove_url = reverse("results:bank-holiday-delete", kwargs={"pk": day.entry.pk})
        remove_label = f"Remove {day.name}, {date_text}"
    return CalendarRow(
        date_text=date_text, name=day.name, status=status, remove_url=remove_url, remove_label=remove_label
    )


def bank_holidays_page(lists: BankHolidayLists) -> BankHolidaysPage:
    return BankHolidaysPage(
        region=region_name(),
        upcoming=[_row(day) for day in lists.upcoming],
        past=[_row(day) for day in lists.past],
    )
