"""Which release rule applies to a report and when it makes the report due; and the staff pages' changes to rules
and bank holidays (/staff/results/rules/, /staff/results/bank-holidays/).

A rule changes `release_due_at` only for reports that arrive after the change: a report's due date is set once, on
arrival, from the rule then in force. Adding a bank holiday is the one exception, because releasing on a day the
hospital is closed is exactly what working days are meant to prevent: reports already due on that day move to the
next working day (see `bank_holiday_add`).
"""

import dataclasses
import datetime
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from careportal.accounts.models import User
from careportal.core.models import BankHoliday, CalendarChange
from careportal.core.working_days import (
    add_working_days,
    bank_holidays,
    is_working_day,
    national_bank_holidays,
    national_bank_holidays_between,
    region_name,
)
from careportal.results.models import DiagnosticReport, ReleaseMode, ReleaseRule

logger = structlog.get_logger(__name__)

# Due reports are released at the start of the working day they fall due on, in the trust's time zone (the
# project's TIME_ZONE, Europe/London), whatever time zone a request may have activated.
RELEASE_TIME_OF_DAY = datetime.time(7, 0)
MAX_WORKING_DAYS = 60


def release_rule_for(*, test_code: str, category: str) -> ReleaseRule | None:
    """The most specific rule: one for the test code, then one for the category, then the default rule.

    Codes match whatever their case ("fbc" is FBC): the rules page stores codes in capitals, and a rule that
    silently never matched because of a lower-case letter would release results it was meant to hold.
    """
    test_code, category = test_code.strip(), category.strip()
    wanted = Q(test_code="", category="")
    if test_code:
        wanted |= Q(test_code__iexact=test_code)
    if category:
        wanted |= Q(test_code="", category__iexact=category)
    best: ReleaseRule | None = None
    best_rank = 3
    for rule in ReleaseRule.objects.filter(wanted):
        rank = 0 if rule.test_code else 1 if rule.category else 2
        if rank < best_rank:
            best, best_rank = rule, rank
    return best


def release_due_at_for(rule: ReleaseRule | None, *, final_at: datetime.datetime) -> datetime.datetime | None:
    """When a report that became final at `final_at` may be released automatically; None for review-only.

    "After N working days" is 07:00 on the Nth working day after the day of the final report (weekends and bank
    holidays do not count): final on Friday at 17:00 with 1 working day is Monday 07:00, or Tuesday when that
    Monday is a bank holiday. 0 days is at once. With no rule at all (a trust that deleted the default rule in the
    admin), nothing is released without a clinician.
    """
    if rule is None or rule.mode == ReleaseMode.AFTER_REVIEW:
        return None
    if rule.working_days == 0:
        return final_at
    trust_zone = timezone.get_default_timezone()
    final_day = timezone.localtime(final_at, trust_zone).date()
    due_day = add_working_days(final_day, rule.working_days, holidays=bank_holidays(on_or_after=final_day))
    return datetime.datetime.combine(due_day, RELEASE_TIME_OF_DAY, tzinfo=trust_zone)


# Release rules: the staff page's reads and changes ---------------------------------------------------------------


def can_manage_release_rules(user: Any) -> bool:
    """Who may see and change release rules and bank holidays: superusers, staff given the Django permission
    `results.change_releaserule` (in the admin, usually to a clinical lead's group), and the helpdesk."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_helpdesk or user.is_superuser or user.has_perm("results.change_releaserule"))


def release_rule_get(pk: int) -> ReleaseRule:
    rule = ReleaseRule.objects.filter(pk=pk).first()
    if rule is None:
        raise Http404("Page not found")
    return rule


@dataclasses.dataclass(frozen=True)
class ReleaseRuleGroups:
    test_codes: list[ReleaseRule]
    categories: list[ReleaseRule]
    default: ReleaseRule | None


def release_rules_grouped() -> ReleaseRuleGroups:
    rules = list(ReleaseRule.objects.select_related("updated_by").order_by("test_code", "category", "pk"))
    return ReleaseRuleGroups(
        test_codes=[rule for rule in rules if rule.test_code],
        categories=[rule for rule in rules if not rule.test_code and rule.category],
        default=next((rule for rule in rules if not rule.test_code and not rule.category), None),
    )


def is_default_rule(rule: ReleaseRule) -> bool:
    return not rule.test_code and not rule.category


def rule_scope_text(*, test_code: str, category: str) -> str:
    if test_code:
        return f"test code {test_code}"
    if category:
        return f"category {category}"
    return "every other result (the default rule)"


class ReleaseRuleError(Exception):
    """A change to the rules that cannot be made, with the message to show on the page."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def release_rule_clash(*, test_code: str, category: str, exclude_pk: int | None = None) -> ReleaseRule | None:
    """The existing rule for the same test code, category or default, if any (codes compared in any case)."""
    if test_code:
        rules = ReleaseRule.objects.filter(test_code__iexact=test_code)
    elif category:
        rules = ReleaseRule.objects.filter(test_code="", category__iexact=category)
    else:
        rules = ReleaseRule.objects.filter(test_code="", category="")
    if exclude_pk is not None:
        rules = rules.exclude(pk=exclude_pk)
    return rules.first()


def _duplicate_message(*, test_code: str, category: str) -> tuple[str, str | None]:
    if test_code:
        return f"There is already a rule for test code {test_code}", "test_code"
    if category:
        return f"There is already a rule for category {category}", "category"
    return "There is already a default rule. Change that rule instead", "applies_to"


def release_rule_save(
    *,
    rule: ReleaseRule | None,
    by: User,
    test_code: str,
    category: str,
    description: str,
    mode: str,
    working_days: int,
    result_kind: str,
    sensitive_category: str,
) -> ReleaseRule:
    """Create a rule (`rule` None) or change one. It applies to reports that arrive from now on.

    A rule is for exactly one of: a test code, a category, or every other result (the default). The default rule
    keeps that shape: it can be changed but not turned into a rule for one test.
    """
    test_code, category = test_code.strip().upper(), category.strip().upper()
    if test_code:
        category = ""
    if rule is not None and is_default_rule(rule):
        test_code, category = "", ""
    if mode == ReleaseMode.AFTER_REVIEW:
        working_days = 0
    elif not 0 <= working_days <= MAX_WORKING_DAYS:
        raise ReleaseRuleError(f"Number of working days must be between 0 and {MAX_WORKING_DAYS}", field="working_days")
    if release_rule_clash(test_code=test_code, category=category, exclude_pk=rule.pk if rule else None):
        message, field = _duplicate_message(test_code=test_code, category=category)
        raise ReleaseRuleError(message, field=field)
    created = rule is None
    rule = rule or ReleaseRule()
    rule.test_code, rule.category = test_code, category
    rule.description = description.strip()
    rule.mode = mode
    rule.working_days = working_days
    rule.result_kind = result_kind
    rule.sensitive_category = sensitive_category
    rule.updated_by = by
    try:
        # Two people adding the same rule at once: the unique constraints decide, and the loser is told why.
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        message, field = _duplicate_message(test_code=test_code, category=category)
        raise ReleaseRuleError(message, field=field) from None
    logger.info("release_rule_saved", rule_id=rule.pk, created=created, by_user_id=by.pk)
    return rule


def release_rule_delete(*, rule: ReleaseRule, by: User) -> None:
    """Delete a rule for a test code or a category; its reports then follow the next most specific rule."""
    if is_default_rule(rule):
        raise ReleaseRuleError("The default rule cannot be deleted. Change it instead")
    rule_id = rule.pk
    rule.delete()
    logger.info("release_rule_deleted", rule_id=rule_id, by_user_id=by.pk)


# Bank holidays ------------------------------------------------------------------------------------------------

# How far ahead the staff page lists the national bank holidays.
CALENDAR_DAYS_AHEAD = 400


@dataclasses.dataclass(frozen=True)
class CalendarDay:
    """One line of the bank holidays page: a national bank holiday, a local closure, or both sides of an opening."""

    date: datetime.date
    name: str
    national_name: str  # the national bank holiday on this day, if any
    entry: BankHoliday | None  # the trust's own change, if any (it can be removed)

    @property
    def is_working_day(self) -> bool:
        return self.entry is not None and self.entry.change == CalendarChange.OPEN


@dataclasses.dataclass(frozen=True)
class BankHolidayLists:
    upcoming: list[CalendarDay]
    past: list[CalendarDay]


def bank_holidays_listed(*, today: datetime.date) -> BankHolidayLists:
    """The national bank holidays of the past year and the next CALENDAR_DAYS_AHEAD days, with the trust's changes
    among them (all of its changes, however far off)."""
    entries = {entry.date: entry for entry in BankHoliday.objects.order_by("date")}
    national = dict(
        national_bank_holidays_between(
            today - datetime.timedelta(days=365), today + datetime.timedelta(days=CALENDAR_DAYS_AHEAD)
        )
    )
    for day in entries:
        if day not in national and day in national_bank_holidays(day.year):
            national[day] = national_bank_holidays(day.year)[day]
    days = [
        CalendarDay(
            date=day,
            name=entries[day].name if day in entries else national[day],
            national_name=national.get(day, ""),
            entry=entries.get(day),
        )
        for day in sorted(set(national) | set(entries))
    ]
    return BankHolidayLists(
        upcoming=[day for day in days if day.date >= today],
        past=[day for day in reversed(days) if day.date < today],
    )


@dataclasses.dataclass(frozen=True)
class BankHolidayAdded:
    holiday: BankHoliday
    reports_moved: int


def bank_holiday_problem(*, day: datetime.date, change: str) -> str:
    """Why this change cannot be made, in words for the page; empty when it can."""
    existing = BankHoliday.objects.filter(date=day).first()
    national = national_bank_holidays(day.year).get(day, "")
    if existing is not None and existing.change == CalendarChange.CLOSED:
        return f"{day:%-d %B %Y} is already a bank holiday ({existing.name})"
    if existing is not None:
        return f"{day:%-d %B %Y} is already marked as a working day ({existing.name}). Remove that first"
    if change == CalendarChange.CLOSED and national:
        return f"{day:%-d %B %Y} is already a bank holiday ({national})"
    if change == CalendarChange.OPEN and not national:
        return f"{day:%-d %B %Y} is not a bank holiday in {region_name()}, so it is a working day already"
    return ""


@transaction.atomic
def bank_holiday_add(
    *, day: datetime.date, name: str, by: User, change: str = CalendarChange.CLOSED
) -> BankHolidayAdded:
    """Add a local closure, or make a national bank holiday a working day (`change`). Reports that arrive from now
    on count it. For a closure, reports not yet released that were already due during that day move to 07:00 on
    the next working day, so that nothing is released while the hospital is closed; an opening moves nothing (a
    report due the day after is at worst a day late, never early)."""
    problem = bank_holiday_problem(day=day, change=change)
    if problem:
        raise ReleaseRuleError(problem, field="date")
    try:
        with transaction.atomic():
            holiday = BankHoliday.objects.create(date=day, name=name.strip(), change=change)
    except IntegrityError:
        raise ReleaseRuleError(f"{day:%-d %B %Y} is already a bank holiday", field="date") from None
    moved = _move_reports_due_on(day) if change == CalendarChange.CLOSED else 0
    logger.info("bank_holiday_added", bank_holiday_id=holiday.pk, change=change, reports_moved=moved, by_user_id=by.pk)
    return BankHolidayAdded(holiday=holiday, reports_moved=moved)


def _move_reports_due_on(day: datetime.date) -> int:
    """Reports not yet released that were due during `day`, now not a working day, move to 07:00 on the next one.
    Only reports not yet due: one already due (a "release at once" rule, today) is the release job's to send now."""
    trust_zone = timezone.get_default_timezone()
    now = timezone.now()
    day_starts = max(datetime.datetime.combine(day, datetime.time(0, 0), tzinfo=trust_zone), now)
    next_day_starts = datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time(0, 0), tzinfo=trust_zone
    )
    next_working_day = add_working_days(day, 1, holidays=bank_holidays(on_or_after=day))
    return DiagnosticReport.objects.filter(
        released_at__isnull=True,
        release_due_at__gt=day_starts,
        release_due_at__lt=next_day_starts,
    ).update(
        release_due_at=datetime.datetime.combine(next_working_day, RELEASE_TIME_OF_DAY, tzinfo=trust_zone),
        updated_at=now,
    )


def bank_holiday_get(pk: int) -> BankHoliday:
    holiday = BankHoliday.objects.filter(pk=pk).first()
    if holiday is None:
        raise Http404("Page not found")
    return holiday


@transaction.atomic
def bank_holiday_remove(*, holiday: BankHoliday, by: User) -> int:
    """Remove the trust's change to one day. Removing a closure leaves due dates already set as they are (at worst a
    day late, never early); removing an opening makes the day a bank holiday again, so reports due during it move
    to the next working day, as when a closure is added. Returns how many reports moved."""
    holiday_id, day, change = holiday.pk, holiday.date, holiday.change
    holiday.delete()
    moved = _move_reports_due_on(day) if change == CalendarChange.OPEN else 0
    logger.info("bank_holiday_removed", bank_holiday_id=holiday_id, reports_moved=moved, by_user_id=by.pk)
    return moved


def is_weekend(day: datetime.date) -> bool:
    return not is_working_day(day)
