"""What the bank holidays page shows: the rows of its tables, built here so that the template holds no logic."""

import dataclasses

from django.urls import reverse
from markupsafe import escape

from careportal.core.formatting import format_date
from careportal.core.table_rows import Cell, format_markup
from careportal.core.working_days import region_name
from careportal.results.models import ReleaseRule
from careportal.results.release_rules import BankHolidayLists, CalendarDay, ReleaseRuleGroups


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


def rule_table_rows(rules: list[ReleaseRule], *, first_heading: str, show_delete: bool = True) -> list[list[Cell]]:
    """One table of release rules, responsive (on a narrow screen each rule becomes a block of labelled rows);
    `show_delete` is False for the default rule, which can be changed but not deleted."""
    table_rows: list[list[Cell]] = []
    for rule in rules:
        covers_html = escape(rule.description)
        if rule.sensitive_category:
            covers_html = format_markup(
                '{}<br><span class="nhsuk-body-s">Sensitive: {} (hidden from proxies unless granted)</span>',
                rule.description,
                rule.get_sensitive_category_display(),
            )
        changed = format_date(rule.updated_at)
        changed_html = escape(changed)
        if rule.updated_by:
            by = rule.updated_by.audit_name
            changed_html = format_markup('{}<br><span class="nhsuk-body-s">by {}</span>', changed, by)
        applies_to = rule.applies_to.lower()
        actions_html = format_markup(
            '<a href="{}">Change<span class="nhsuk-u-visually-hidden"> the rule for {}</span></a>',
            reverse("results:rule-edit", kwargs={"pk": rule.pk}),
            applies_to,
        )
        if show_delete:
            actions_html = format_markup(
                '{}<br><a href="{}">Delete<span class="nhsuk-u-visually-hidden"> the rule for {}</span></a>',
                actions_html,
                reverse("results:rule-delete", kwargs={"pk": rule.pk}),
                applies_to,
            )
        table_rows.append(
            [
                {"header": first_heading, "text": rule.test_code or rule.category or "Every other result"},
                {"header": "Covers", "html": covers_html},
                {"header": "Released to the patient", "text": rule.summary},
                {"header": "Kind of result", "text": rule.get_result_kind_display()},
                {"header": "Last changed", "html": changed_html},
                {"header": "Actions", "html": actions_html},
            ]
        )
    return table_rows


@dataclasses.dataclass(frozen=True)
class RuleTables:
    test_codes: list[list[Cell]]
    categories: list[list[Cell]]
    default: list[list[Cell]]


def rule_tables(groups: ReleaseRuleGroups) -> RuleTables:
    return RuleTables(
        test_codes=rule_table_rows(groups.test_codes, first_heading="Test code"),
        categories=rule_table_rows(groups.categories, first_heading="Category"),
        default=rule_table_rows([groups.default], first_heading="Applies to", show_delete=False)
        if groups.default
        else [],
    )
