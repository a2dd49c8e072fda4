"""Reads for applications to act for someone and for the helpdesk's work on relationships."""

import datetime
import unicodedata

from django.db.models import Q, QuerySet

from careportal.accounts.models import User
from careportal.patients.models import Patient
from careportal.proxy.models import LIVE_PROXY_STATUSES, ProxyOrigin, ProxyRelationship, ProxyStatus


def name_key(name: str) -> str:
    """A name compared without case, accents, spaces, hyphens or apostrophes: "O'Sullivan", "o sullivan" and
    "Ó Súllivan" are the same; "Patel" and "Patal" are not."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in letters.casefold() if ch.isalnum())


def patient_matching(
    *, family_name: str, birth_date: datetime.date, nhs_number: str = "", hospital_number: str = ""
) -> Patient | None:
    """The one patient with exactly this date of birth and NHS number (or hospital number, or both when both are
    given) whose last name matches; None otherwise. One query: the numbers are unique, so at most one row comes back
    and the name is compared here, without case or accents. Records merged into another are never matched."""
    if not nhs_number and not hospital_number:
        return None
    candidates = Patient.objects.filter(birth_date=birth_date, merged_into__isnull=True)
    if nhs_number:
        candidates = candidates.filter(nhs_number=nhs_number)
    if hospital_number:
        candidates = candidates.filter(hospital_number__iexact=hospital_number)
    found = candidates.select_related("user").first()
    if found is None or name_key(found.family_name) != name_key(family_name):
        return None
    return found


def live_relationship(*, proxy: User, patient: Patient) -> ProxyRelationship | None:
    """The requested or active relationship between these two, if any (there is at most one)."""
    return ProxyRelationship.objects.filter(proxy=proxy, patient=patient, status__in=LIVE_PROXY_STATUSES).first()


def applications_of(*, user: User) -> QuerySet[ProxyRelationship]:
    """The applications this person has made (any status), newest first, for their own pages: each opens at
    `proxy:application` (/access-for-others/apply/<id>/), which shows the status and any decline reason."""
    return (
        ProxyRelationship.objects.filter(proxy=user, origin=ProxyOrigin.APPLICATION)
        .select_related("patient")
        .order_by("-created_at", "-pk")
    )


def applications_waiting() -> QuerySet[ProxyRelationship]:
    """Applications waiting for the helpdesk, oldest first, with the applicant and the patient in the same query."""
    return (
        ProxyRelationship.objects.filter(status=ProxyStatus.REQUESTED)
        .select_related("patient", "proxy")
        .order_by("created_at", "pk")
    )


def applications_waiting_count() -> int:
    return ProxyRelationship.objects.filter(status=ProxyStatus.REQUESTED).count()


def relationships_of_patient(*, patient: Patient) -> list[ProxyRelationship]:
    """Everyone who acts, acted or asked to act for this patient: live ones first, then the newest."""
    rows = list(
        ProxyRelationship.objects.filter(patient=patient).select_related("proxy").order_by("-created_at", "-pk")
    )
    return sorted(rows, key=lambda r: r.status not in LIVE_PROXY_STATUSES)


def accounts_matching(*, username_or_email: str) -> list[User]:
    """Accounts whose username, or whose email address, is exactly this (without case): at most a few."""
    term = username_or_email.strip()
    if not term:
        return []
    return list(User.objects.filter(Q(username__iexact=term) | Q(email__iexact=term)).order_by("pk")[:3])
