"""Which release rule applies to a report, and when that rule makes the report due."""

import datetime

from django.db.models import Q
from django.utils import timezone

from careportal.core.working_days import add_working_days, bank_holidays
from careportal.results.models import ReleaseMode, ReleaseRule

# Due reports are released at the start of the working day they fall due on, in the trust's time zone.
RELEASE_TIME_OF_DAY = datetime.time(7, 0)


def release_rule_for(*, test_code: str, category: str) -> ReleaseRule | None:
    """The most specific rule: one for the test code, then one for the category, then the default rule."""
    wanted = Q(test_code="", category="")
    if test_code:
        wanted |= Q(test_code=test_code)
    if category:
        wanted |= Q(test_code="", category=category)
    candidates = ReleaseRule.objects.filter(wanted)
    best: ReleaseRule | None = None
    best_rank = 3
    for rule in candidates:
        rank = 0 if rule.test_code else 1 if rule.category else 2
        if rank < best_rank:
            best, best_rank = rule, rank
    return best


def release_due_at_for(rule: ReleaseRule | None, *, final_at: datetime.datetime) -> datetime.datetime | None:
    """When a report that became final at `final_at` may be released automatically; None for review-only.

    With no rule at all (a trust that deleted the default rule), nothing is released without a clinician.
    """
    if rule is None or rule.mode == ReleaseMode.AFTER_REVIEW:
        return None
    local_final = timezone.localtime(final_at)
    if rule.working_days == 0:
        return final_at
    due_day = add_working_days(local_final.date(), rule.working_days, holidays=bank_holidays())
    return timezone.make_aware(datetime.datetime.combine(due_day, RELEASE_TIME_OF_DAY))
