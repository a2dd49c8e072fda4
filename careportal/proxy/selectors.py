"""Reads about who acts for whom that other apps share."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.utils import timezone

from careportal.access.proxy_policy import effective_proxy_scopes
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.patients.models import Patient
from careportal.proxy.models import (
    LIVE_PROXY_STATUSES,
    InvitationStatus,
    ProxyInvitation,
    ProxyPolicy,
    ProxyRelationship,
    ProxyRelationshipEvent,
    ProxyStatus,
)


@dataclass(frozen=True)
class PersonToTell:
    """Someone to tell that something new is in a patient's record. `user` carries only its id, first name and
    email address (all a notification may use). `sensitive_categories` is None for the patient themself, who sees
    everything, and for a proxy the sensitive categories staff granted them."""

    user: User
    sensitive_categories: frozenset[str] | None = None

    def may_see(self, sensitive_category: str) -> bool:
        return (
            not sensitive_category
            or self.sensitive_categories is None
            or (sensitive_category in self.sensitive_categories)
        )


# All a notification may use of an account (PersonToTell).
_USER_FIELDS = ["id", "first_name", "email"]


def people_to_tell(
    patient_ids: Iterable[int], *, scope: Scope, today: datetime.date | None = None
) -> dict[int, list[PersonToTell]]:
    """For each patient id, in two queries however many patients: the patient's own active account, then every
    active proxy whose relationship gives `scope` today (the age rules apply: a parent of a 16-year-old keeps
    appointments only). Each person once, the patient first."""
    today = today or timezone.localdate()
    ids = set(patient_ids)
    people: dict[int, dict[int, PersonToTell]] = {pk: {} for pk in ids}
    if not ids:
        return {}
    # Rows rather than Patient and User instances: the release job asks this for hundreds of patients per batch,
    # and building two model instances per patient cost more than the query.
    for patient_pk, user_pk, first_name, email in User.objects.filter(patient__pk__in=ids, is_active=True).values_list(
        "patient__pk", "pk", "first_name", "email"
    ):
        user = User.from_db("default", _USER_FIELDS, (user_pk, first_name, email))
        people[patient_pk][user_pk] = PersonToTell(user=user)
    relationships = (
        ProxyRelationship.objects.filter(patient_id__in=ids, status=ProxyStatus.ACTIVE, proxy__is_active=True)
        .select_related("proxy", "patient")
        .only(
            "patient",
            "proxy",
            "basis",
            "scopes",
            "sensitive_categories_granted",
            "status",
            "valid_from",
            "valid_until",
            "patient__birth_date",
            "proxy__first_name",
            "proxy__email",
        )
    )
    policy = ProxyPolicy.current()
    for relationship in relationships:
        if scope in effective_proxy_scopes(relationship, today=today, policy=policy):
            granted = frozenset(relationship.sensitive_categories_granted or ())
            people[relationship.patient_id].setdefault(
                relationship.proxy_id, PersonToTell(user=relationship.proxy, sensitive_categories=granted)
            )
    return {pk: list(found.values()) for pk, found in people.items()}


# The pages at /access-for-others/ -------------------------------------------------------------------------------


def invitation_problem(*, patient: Patient, user: User, email: str, now: datetime.datetime | None = None) -> str:
    """Why the patient may not invite `email` (the words to show them), or "" when they may."""
    now = now or timezone.now()
    email = email.strip().lower()
    own = {address.lower() for address in (user.email,) if address}
    own |= {e.lower() for e in EmailAddress.objects.filter(user=user).values_list("email", flat=True)}
    if email in own:
        return "This is your own email address. Enter the email address of the person you want to invite."
    if ProxyRelationship.objects.filter(
        patient=patient, status__in=LIVE_PROXY_STATUSES, proxy__email__iexact=email
    ).exists():
        return "The person with this email address can already act for you."
    if ProxyInvitation.objects.filter(
        patient=patient, email=email, status=InvitationStatus.PENDING, expires_at__gt=now
    ).exists():
        return (
            "You have already invited this email address and the invitation has not been accepted yet. "
            "Cancel that invitation first if you want to send a new one."
        )
    return ""


def relationships_for_patient(patient: Patient) -> list[ProxyRelationship]:
    """Everyone who acts or acted for the patient, newest first, in one query."""
    return list(
        ProxyRelationship.objects.filter(patient=patient)
        .exclude(status=ProxyStatus.REQUESTED)
        .select_related("proxy", "patient")
        .order_by("-created_at", "-id")
    )


def invitations_pending(patient: Patient) -> list[ProxyInvitation]:
    return list(
        ProxyInvitation.objects.filter(patient=patient, status=InvitationStatus.PENDING).order_by("-created_at", "-id")
    )


def relationships_as_proxy(user: User) -> list[ProxyRelationship]:
    """Everyone the person acts, asked to act, or acted for, newest first, in one query."""
    return list(ProxyRelationship.objects.filter(proxy=user).select_related("patient").order_by("-created_at", "-id"))


def relationship_history(relationship: ProxyRelationship) -> list[ProxyRelationshipEvent]:
    """The relationship's history, newest first."""
    return list(relationship.events.order_by("-occurred_at", "-id"))
