"""What the helpdesk reads: account search, account status (lockout, two-step, activation), the request queue.

Nothing here reads clinical data. Patients are found through the access layer's `patients_for_staff`, so a helpdesk
search sees exactly what the access layer allows the helpdesk to see.
"""

import datetime
from dataclasses import dataclass
from uuid import UUID

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Case, Count, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.accounts.models import AccountEvent, ActivationCode, User
from careportal.helpdesk.forms import SearchBy
from careportal.helpdesk.models import OPEN_STATUSES, STATUS_ORDER, SupportRequest, SupportStatus
from careportal.notifications.selectors import notifications_needing_attention
from careportal.patients.access import patients_for_staff
from careportal.patients.models import CareTeamMembership, Patient
from careportal.proxy.models import ProxyRelationship

SEARCH_RESULT_LIMIT = 25
ACCOUNT_EVENTS_SHOWN = 50


# Search ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResults:
    patients: list[Patient]
    # Accounts that are not a patient's own: proxies and staff (a username search only).
    other_accounts: list[User]
    more_than_shown: bool

    @property
    def count(self) -> int:
        return len(self.patients) + len(self.other_accounts)


def _with_roles(users: QuerySet[User]) -> QuerySet[User]:
    return users.annotate(
        is_proxy=Exists(ProxyRelationship.objects.filter(proxy=OuterRef("pk"))),
        is_care_team_member=Exists(CareTeamMembership.objects.filter(user=OuterRef("pk"), is_active=True)),
    )


def account_search(*, viewer: Viewer, search_by: str, term: str) -> SearchResults:
    """Patients (through the access layer) and other accounts matching a validated search term.

    A username search matches from the start of the username, case-insensitively; hospital and NHS numbers must
    match exactly. At most SEARCH_RESULT_LIMIT of each kind are returned.
    """
    patients = patients_for_staff(viewer).select_related("user").order_by("family_name", "given_name", "pk")
    other_accounts = User.objects.none()
    if search_by == SearchBy.HOSPITAL_NUMBER:
        patients = patients.filter(hospital_number__iexact=term)
    elif search_by == SearchBy.NHS_NUMBER:
        patients = patients.filter(nhs_number=term)
    elif search_by == SearchBy.USERNAME:
        patients = patients.filter(user__username__istartswith=term)
        other_accounts = _with_roles(
            User.objects.filter(username__istartswith=term, patient__isnull=True).order_by("username")
        )
    else:
        patients = patients.none()
    found_patients = list(patients[: SEARCH_RESULT_LIMIT + 1])
    found_accounts = list(other_accounts[: SEARCH_RESULT_LIMIT + 1])
    return SearchResults(
        patients=found_patients[:SEARCH_RESULT_LIMIT],
        other_accounts=found_accounts[:SEARCH_RESULT_LIMIT],
        more_than_shown=len(found_patients) > SEARCH_RESULT_LIMIT or len(found_accounts) > SEARCH_RESULT_LIMIT,
    )


# One account -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lockout:
    """django-axes locks a username at one IP address after AXES_FAILURE_LIMIT failures within the cool-off time."""

    locked: bool
    locked_until: datetime.datetime | None
    addresses_locked: int
    recent_failures: int


def account_lockout(*, username: str, now: datetime.datetime | None = None) -> Lockout:
    now = now or timezone.now()
    threshold = now - settings.AXES_COOLOFF_TIME
    per_address = (
        AccessAttempt.objects.filter(username__iexact=username, attempt_time__gte=threshold)
        .values("ip_address")
        .annotate(failures=Sum("failures_since_start"), last_attempt=Max("attempt_time"))
        .order_by()
    )
    locked = [row for row in per_address if row["failures"] >= settings.AXES_FAILURE_LIMIT]
    last_locking_attempt = max((row["last_attempt"] for row in locked), default=None)
    return Lockout(
        locked=bool(locked),
        locked_until=last_locking_attempt + settings.AXES_COOLOFF_TIME if last_locking_attempt else None,
        addresses_locked=len(locked),
        recent_failures=sum(row["failures"] for row in per_address),
    )


def account_events(*, user: User) -> QuerySet[AccountEvent]:
    return AccountEvent.objects.filter(user=user).select_related("actor")[:ACCOUNT_EVENTS_SHOWN]


def account_support_requests(*, user: User) -> QuerySet[SupportRequest]:
    return SupportRequest.objects.filter(user=user).order_by("-created_at")[:20]


def account_roles(*, user: User) -> dict[str, bool]:
    return {
        "is_proxy": ProxyRelationship.objects.filter(proxy=user).exists(),
        "is_care_team_member": CareTeamMembership.objects.filter(user=user, is_active=True).exists(),
    }


def latest_activation_code(*, patient: Patient) -> ActivationCode | None:
    """The newest code issued for the patient (never the code itself: only its keyed hash is stored)."""
    return ActivationCode.objects.filter(patient=patient).select_related("issued_by").order_by("-issued_at").first()


def patient_by_public_id_for_helpdesk(*, viewer: Viewer, public_id: UUID) -> Patient | None:
    return patients_for_staff(viewer).select_related("user").filter(public_id=public_id).first()


# Requests for help -------------------------------------------------------------------------------------------


def support_queue() -> QuerySet[SupportRequest]:
    """Every request: new first, then in progress, answered and closed; oldest first within each."""
    status_rank = Case(
        *[When(status=status, then=Value(rank)) for rank, status in enumerate(STATUS_ORDER)],
        output_field=IntegerField(),
    )
    return (
        SupportRequest.objects.select_related("user", "assigned_to")
        .annotate(status_rank=status_rank)
        .order_by("status_rank", "created_at", "id")
    )


def support_request_by_public_id(*, public_id: UUID | str) -> SupportRequest | None:
    return (
        SupportRequest.objects.select_related("user", "assigned_to")
        .prefetch_related("replies__author")
        .filter(public_id=public_id)
        .first()
    )


def is_overdue(support_request: SupportRequest, *, today: datetime.date | None = None) -> bool:
    today = today or timezone.localdate()
    return support_request.status in OPEN_STATUSES and today > support_request.reply_due_on


@dataclass(frozen=True)
class ConsoleCounts:
    new_requests: int
    overdue_requests: int
    notifications_needing_attention: int


def console_counts(*, today: datetime.date | None = None) -> ConsoleCounts:
    today = today or timezone.localdate()
    counts = SupportRequest.objects.aggregate(
        new=Count("id", filter=Q(status=SupportStatus.NEW)),
        overdue=Count("id", filter=Q(status__in=OPEN_STATUSES, reply_due_on__lt=today)),
    )
    return ConsoleCounts(
        new_requests=counts["new"],
        overdue_requests=counts["overdue"],
        notifications_needing_attention=notifications_needing_attention().count(),
    )
