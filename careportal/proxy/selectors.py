"""Reads about who acts for whom that other apps share."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from careportal.access.proxy_policy import effective_proxy_scopes
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.patients.models import Patient
from careportal.proxy.models import ProxyPolicy, ProxyRelationship, ProxyStatus


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
    for patient in (
        Patient.objects.filter(pk__in=ids, user__isnull=False, user__is_active=True)
        .select_related("user")
        .only("pk", "user__id", "user__first_name", "user__email")
    ):
        user = patient.user
        assert user is not None  # noqa: S101 - filtered above
        people[patient.pk][user.pk] = PersonToTell(user=user)
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
