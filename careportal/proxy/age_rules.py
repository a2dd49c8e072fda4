"""The daily age rules for parents' access (DESIGN.md, Proxy; docs/proxy-age-rules.md).

The access layer already narrows and ends a parent's access on the birthday itself, on every request
(`effective_proxy_scopes`). This daily job makes the stored record match and tells people:

- Both sides (the parent, and the young person if they have an active account) are told `notice_days_before` days
  before the birthday on which access narrows (16 by default) or ends (18), and again on the day. No clinical detail
  and no name: "a parent's access to a young person's record narrows to appointments only", "3 May 2031".
- On the narrowing birthday a NARROWED_BY_AGE event is recorded once. The relationship's `scopes` stay as granted:
  the access layer narrows them on every request, so a later change to the policy still applies.
- On the ending birthday the relationship is ENDED, with an ENDED_BY_AGE event.
- Any active relationship past its `valid_until` is ENDED, with an EXPIRED event (whatever its basis).

Only relationships with the basis PARENTAL_RESPONSIBILITY are age-limited: a lasting power of attorney, a court
deputy or access the patient granted themselves is never touched by age.

Runs once or many times a day, or after days without running, and the outcome is the same: each change is
recorded once (an ENDED relationship is not active any more; a NARROWED_BY_AGE event is looked for) and each
notice is sent once (`ProxyAgeNotice` has one row per relationship, milestone and timing, under a unique
constraint). When runs were missed:

- an advance notice is still sent late, as long as the change has not happened yet;
- an on-the-day notice is sent up to `ON_THE_DAY_GRACE_DAYS` days late ("changes on 3 May 2031"), and not after
  that: a week after a birthday both sides have long seen the change for themselves;
- the changes themselves are always made, however late.

Candidates are found by the young person's date of birth, in a few queries, whatever the number of relationships
in the trust; they are then handled in batches, each in a transaction of its own.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from careportal.access.proxy_policy import age_on, birthday_at_age
from careportal.accounts.models import User
from careportal.core.formatting import format_date
from careportal.core.schedule import LONDON
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.proxy.history import relationship_events_record_many
from careportal.proxy.models import (
    AgeMilestone,
    NoticeTiming,
    ProxyAgeNotice,
    ProxyBasis,
    ProxyEventKind,
    ProxyPolicy,
    ProxyRelationship,
    ProxyRelationshipEvent,
    ProxyScope,
    ProxyStatus,
)

logger = structlog.get_logger(__name__)

# How late an on-the-day notice may still go out after a missed run (module docstring).
ON_THE_DAY_GRACE_DAYS = 7
BATCH_SIZE = 200

_RELATIONSHIP_FIELDS = (
    "id",
    "proxy_id",
    "patient_id",
    "basis",
    "scopes",
    "status",
    "valid_from",
    "valid_until",
    "patient__id",
    "patient__birth_date",
    "patient__user_id",
    "proxy__id",
    "proxy__first_name",
    "proxy__email",
    "proxy__is_active",
)


@dataclass
class AgeRulesOutcome:
    """What one run did, for the log and the management command."""

    expired: int = 0
    narrowed: int = 0
    ended: int = 0
    notices: int = 0  # ProxyAgeNotice rows: one per relationship, milestone and timing
    emails: int = 0
    skipped_batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "expired": self.expired,
            "narrowed": self.narrowed,
            "ended": self.ended,
            "notices": self.notices,
            "emails": self.emails,
            "skipped_batches": self.skipped_batches,
        }


def london_today() -> datetime.date:
    """The day in England, whatever TIME_ZONE a deployment sets: the job runs just after midnight London time."""
    return timezone.now().astimezone(LONDON).date()


def years_before(day: datetime.date, years: int) -> datetime.date:
    """`day` moved back `years` years (29 February becomes 28 February in a year without one)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _birth_dates_reaching(age: int, *, first: datetime.date, last: datetime.date) -> Q:
    """Dates of birth whose `age`th birthday falls between `first` and `last` (a day wider on each side, for
    29 February birthdays, which fall on 1 March in other years; callers check the exact day in Python)."""
    return Q(
        patient__birth_date__gte=years_before(first, age) - datetime.timedelta(days=1),
        patient__birth_date__lte=years_before(last, age) + datetime.timedelta(days=1),
    )


def _parental_active() -> QuerySet[ProxyRelationship]:
    return ProxyRelationship.objects.filter(status=ProxyStatus.ACTIVE, basis=ProxyBasis.PARENTAL_RESPONSIBILITY)


def _scope_words(scopes: Iterable[str]) -> str:
    labels = [ProxyScope(s).label.lower() for s in ProxyScope.values if s in set(scopes)]
    if not labels:
        return ""
    if len(labels) == 1:
        return f"{labels[0]} only"
    return f"{', '.join(labels[:-1])} and {labels[-1]} only"


def change_words(milestone: AgeMilestone, *, policy: ProxyPolicy) -> str:
    """The change, in plain words both sides may read: no name, no clinical detail. It follows "changes on <date>:"
    in the email (careportal/notifications/jinja2/notifications/email/proxy_age_notice.txt)."""
    kept = _scope_words(policy.scopes_kept_after_narrowing)
    if milestone == AgeMilestone.NARROWS and kept:
        return f"a parent's access to a young person's record narrows to {kept}"
    return (
        "a parent's access to a young person's record ends. The young person can choose to give access again themselves"
    )


def _milestone_age(milestone: AgeMilestone, policy: ProxyPolicy) -> int:
    if milestone == AgeMilestone.NARROWS:
        return policy.parental_full_access_until_age
    return policy.parental_access_ends_at_age


def _narrowing_changes_anything(relationship: ProxyRelationship, policy: ProxyPolicy) -> bool:
    return bool(set(relationship.scopes) - set(policy.scopes_kept_after_narrowing))


# Notices -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DueNotice:
    relationship: ProxyRelationship
    milestone: AgeMilestone
    timing: NoticeTiming
    change_on: datetime.date


def _notices_due(
    relationship: ProxyRelationship, *, today: datetime.date, policy: ProxyPolicy, sent: set[tuple[int, str]]
) -> list[_DueNotice]:
    due = []
    for milestone in AgeMilestone:
        if milestone == AgeMilestone.NARROWS and not _narrowing_changes_anything(relationship, policy):
            continue  # nothing would change at 16 (appointments only were granted): nobody is told
        change_on = birthday_at_age(relationship.patient.birth_date, _milestone_age(milestone, policy))
        if milestone == AgeMilestone.NARROWS and age_on(relationship.patient.birth_date, today) >= _milestone_age(
            AgeMilestone.ENDS, policy
        ):
            continue  # already past the end: the narrowing is history
        timing: NoticeTiming | None = None
        if today < change_on <= today + datetime.timedelta(days=policy.notice_days_before):
            timing = NoticeTiming.IN_ADVANCE
        elif change_on <= today <= change_on + datetime.timedelta(days=ON_THE_DAY_GRACE_DAYS):
            timing = NoticeTiming.ON_THE_DAY
        if timing is not None and (milestone.value, timing.value) not in sent:
            due.append(_DueNotice(relationship, milestone, timing, change_on))
    return due


def _people_to_tell(relationship: ProxyRelationship, users: dict[int, User]) -> list[User]:
    people = []
    if relationship.proxy.is_active:
        people.append(relationship.proxy)
    young_person = users.get(relationship.patient.user_id or 0)
    if young_person is not None:
        people.append(young_person)
    return people


def _notices_send(candidates: list[ProxyRelationship], *, today: datetime.date, policy: ProxyPolicy) -> tuple[int, int]:
    """Tell both sides of every notice due for these relationships (already locked), once each. Returns (notice
    rows, emails)."""
    sent: dict[int, set[tuple[int, str]]] = {}
    for relationship_id, milestone, timing in ProxyAgeNotice.objects.filter(
        relationship_id__in=[r.pk for r in candidates]
    ).values_list("relationship_id", "milestone", "timing"):
        sent.setdefault(relationship_id, set()).add((milestone, timing))
    due = [
        notice
        for relationship in candidates
        for notice in _notices_due(relationship, today=today, policy=policy, sent=sent.get(relationship.pk, set()))
    ]
    if not due:
        return 0, 0
    user_ids = {n.relationship.patient.user_id for n in due if n.relationship.patient.user_id}
    users = {
        user.pk: user for user in User.objects.filter(pk__in=user_ids, is_active=True).only("id", "first_name", "email")
    }
    ProxyAgeNotice.objects.bulk_create(
        [
            ProxyAgeNotice(relationship=n.relationship, milestone=n.milestone, timing=n.timing, change_on=n.change_on)
            for n in due
        ]
    )
    events = []
    emails = 0
    for notice in due:
        change = change_words(notice.milestone, policy=policy)
        for person in _people_to_tell(notice.relationship, users):
            notification_send(
                kind=Kind.PROXY_AGE_NOTICE,
                user=person,
                personalisation={"change": change, "when": format_date(notice.change_on)},
            )
            emails += 1
        if notice.timing == NoticeTiming.IN_ADVANCE:
            events.append(
                {
                    "relationship": notice.relationship,
                    "kind": ProxyEventKind.AGE_NOTICE_SENT,
                    "note": f"Told that on {format_date(notice.change_on)} {change}.",
                }
            )
    relationship_events_record_many(events)
    return len(due), emails


# Changes -----------------------------------------------------------------------------------------------------------


def _changes_make(
    candidates: list[ProxyRelationship], *, today: datetime.date, policy: ProxyPolicy, outcome: AgeRulesOutcome
) -> None:
    """Narrow (in the history) or end the relationships among these (already locked) that have reached a
    birthday, and end those past their end date."""
    narrowed_already = set(
        ProxyRelationshipEvent.objects.filter(
            relationship_id__in=[r.pk for r in candidates], kind=ProxyEventKind.NARROWED_BY_AGE
        ).values_list("relationship_id", flat=True)
    )
    now = timezone.now()
    events: list[dict[str, object]] = []
    to_end: dict[int, ProxyEventKind] = {}
    for relationship in candidates:
        granted = sorted(relationship.scopes)
        if relationship.valid_until is not None and relationship.valid_until < today:
            to_end[relationship.pk] = ProxyEventKind.EXPIRED
            events.append(
                {
                    "relationship": relationship,
                    "kind": ProxyEventKind.EXPIRED,
                    "scopes_before": granted,
                    "note": f"The end date, {format_date(relationship.valid_until)}, has passed.",
                }
            )
            continue
        if relationship.basis != ProxyBasis.PARENTAL_RESPONSIBILITY:
            continue
        birth_date = relationship.patient.birth_date
        age = age_on(birth_date, today)
        if age >= policy.parental_access_ends_at_age:
            ends_on = birthday_at_age(birth_date, policy.parental_access_ends_at_age)
            to_end[relationship.pk] = ProxyEventKind.ENDED_BY_AGE
            events.append(
                {
                    "relationship": relationship,
                    "kind": ProxyEventKind.ENDED_BY_AGE,
                    "scopes_before": granted,
                    "note": f"The young person turned {policy.parental_access_ends_at_age} on {format_date(ends_on)}.",
                }
            )
        elif age >= policy.parental_full_access_until_age and relationship.pk not in narrowed_already:
            narrows_on = birthday_at_age(birth_date, policy.parental_full_access_until_age)
            kept = sorted(set(granted) & set(policy.scopes_kept_after_narrowing))
            events.append(
                {
                    "relationship": relationship,
                    "kind": ProxyEventKind.NARROWED_BY_AGE,
                    "scopes_before": granted,
                    "scopes_after": kept,
                    "note": f"The young person turned {policy.parental_full_access_until_age} on "
                    f"{format_date(narrows_on)}.",
                }
            )
            outcome.narrowed += 1
    for kind in (ProxyEventKind.EXPIRED, ProxyEventKind.ENDED_BY_AGE):
        ids = [pk for pk, why in to_end.items() if why == kind]
        if ids:
            ProxyRelationship.objects.filter(pk__in=ids, status=ProxyStatus.ACTIVE).update(
                status=ProxyStatus.ENDED, ended_at=now
            )
    outcome.expired += sum(1 for why in to_end.values() if why == ProxyEventKind.EXPIRED)
    outcome.ended += sum(1 for why in to_end.values() if why == ProxyEventKind.ENDED_BY_AGE)
    relationship_events_record_many(events)


# The run -----------------------------------------------------------------------------------------------------------


def candidate_ids(*, today: datetime.date, policy: ProxyPolicy) -> list[int]:
    """The active relationships with something to do today, in one query, found by the young person's date of birth
    (and by end date) rather than by reading every relationship:

    - parental, with a birthday at either age between `ON_THE_DAY_GRACE_DAYS` days ago and `notice_days_before`
      days ahead (notices);
    - parental, aged at least the ending age (to end), or at least the narrowing age with no narrowing recorded;
    - any basis, past its end date.
    """
    window_first = today - datetime.timedelta(days=ON_THE_DAY_GRACE_DAYS)
    window_last = today + datetime.timedelta(days=policy.notice_days_before)
    narrows_at = policy.parental_full_access_until_age
    ends_at = policy.parental_access_ends_at_age
    narrowed = ProxyRelationshipEvent.objects.filter(relationship=OuterRef("pk"), kind=ProxyEventKind.NARROWED_BY_AGE)
    # One day of slack either way for 29 February birthdays; the exact day is checked in Python.
    reached_narrowing = Q(patient__birth_date__lte=years_before(today, narrows_at) + datetime.timedelta(days=1))
    reached_end = Q(patient__birth_date__lte=years_before(today, ends_at) + datetime.timedelta(days=1))
    parental = Q(basis=ProxyBasis.PARENTAL_RESPONSIBILITY) & (
        _birth_dates_reaching(narrows_at, first=window_first, last=window_last)
        | _birth_dates_reaching(ends_at, first=window_first, last=window_last)
        | reached_end
        | (reached_narrowing & ~Q(Exists(narrowed)))
    )
    return list(
        ProxyRelationship.objects.filter(status=ProxyStatus.ACTIVE)
        .filter(parental | Q(valid_until__lt=today))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _batch_apply(ids: list[int], *, today: datetime.date, policy: ProxyPolicy, outcome: AgeRulesOutcome) -> None:
    with transaction.atomic():
        # Locked, so that two runs at once (the scheduler and an operator's command) cannot both act on one row.
        candidates = list(
            ProxyRelationship.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, status=ProxyStatus.ACTIVE)
            .select_related("patient", "proxy")
            .only(*_RELATIONSHIP_FIELDS)
            .order_by("pk")
        )
        if not candidates:
            return
        # Notices first: the on-the-day notice of the ending birthday goes to the relationship it ends.
        notices, emails = _notices_send(
            [r for r in candidates if r.basis == ProxyBasis.PARENTAL_RESPONSIBILITY], today=today, policy=policy
        )
        _changes_make(candidates, today=today, policy=policy, outcome=outcome)
    outcome.notices += notices
    outcome.emails += emails


def proxy_age_rules_apply(
    *, today: datetime.date | None = None, batch_size: int = BATCH_SIZE, policy: ProxyPolicy | None = None
) -> AgeRulesOutcome:
    """Apply the age rules and end dates as of `today` (the London date by default). Idempotent."""
    today = today or london_today()
    policy = policy or ProxyPolicy.current()
    outcome = AgeRulesOutcome()
    ids = candidate_ids(today=today, policy=policy)
    for start in range(0, len(ids), batch_size):
        try:
            _batch_apply(ids[start : start + batch_size], today=today, policy=policy, outcome=outcome)
        except IntegrityError:
            # Another run recorded the same notice between our read and our write: that batch is theirs. The
            # next run picks up anything left.
            outcome.skipped_batches += 1
            logger.warning("proxy_age_rules_batch_skipped", first_id=ids[start])
    logger.info("proxy_age_rules_applied", day=today.isoformat(), candidates=len(ids), **outcome.as_dict())
    return outcome
