"""What the helpdesk does to relationships besides deciding applications: set one up with the patient's recorded
consent, change the sensitive categories it shows, and end it. Each change is locked, recorded in the
relationship's history and the patient's access log in the same transaction, and emailed (after commit) in plain
words with no patient data."""

import datetime
from dataclasses import dataclass, field

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from careportal.access.layer import Viewer, staff_change_record
from careportal.accounts.models import User
from careportal.patients.models import Patient
from careportal.proxy.application_access import RELATIONSHIPS_LABEL
from careportal.proxy.application_selectors import accounts_matching, live_relationship
from careportal.proxy.application_services import tell_about_change
from careportal.proxy.eligibility import basis_age_problem, evidence_problem
from careportal.proxy.history import relationship_event_record
from careportal.proxy.models import ProxyEventKind, ProxyOrigin, ProxyPolicy, ProxyRelationship, ProxyStatus

logger = structlog.get_logger(__name__)


class StaffChangeRefused(Exception):
    """The change was not made; `message` says why and what to do, `field` names the form field ("" for none)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class StaffSetUp:
    account: str  # the proxy's username or email address, as the helpdesk typed it
    relationship: str
    basis: str
    scopes: list[str]
    consent_note: str
    identity_evidence: str
    relationship_evidence: str
    evidence_note: str = ""
    valid_until: datetime.date | None = None
    sensitive_categories: list[str] = field(default_factory=list)


def proxy_account_find(*, patient: Patient, username_or_email: str) -> User:
    """The one active account with this username or email address that may act for `patient`, or
    `StaffChangeRefused` with what to do."""
    found = accounts_matching(username_or_email=username_or_email)
    if not found:
        raise StaffChangeRefused(
            "No account has that username or email address. Check it with the person, or ask them to create a "
            "CarePortal account first.",
            field="account",
        )
    if len(found) > 1:
        raise StaffChangeRefused(
            "More than one account matches that email address. Ask for their username and use it instead.",
            field="account",
        )
    account = found[0]
    if patient.user_id is not None and account.pk == patient.user_id:
        raise StaffChangeRefused(
            "That is the patient's own account. Enter the account of the person who will act for them.",
            field="account",
        )
    if not account.is_active:
        raise StaffChangeRefused(
            "That account is deactivated and cannot sign in. Reactivate it first, or ask them to create a new one.",
            field="account",
        )
    return account


@transaction.atomic
def proxy_access_set_up_by_staff(
    *, viewer: Viewer, patient: Patient, set_up: StaffSetUp, today: datetime.date | None = None
) -> ProxyRelationship:
    """Give someone access to act for `patient`, with the patient's consent recorded and the evidence seen."""
    today = today or timezone.localdate()
    proxy = proxy_account_find(patient=patient, username_or_email=set_up.account)
    if not set_up.consent_note.strip():
        raise StaffChangeRefused("Enter how and when the patient gave their consent", field="consent_note")
    problem = evidence_problem(
        basis=set_up.basis,
        identity_evidence=set_up.identity_evidence,
        relationship_evidence=set_up.relationship_evidence,
    )
    if problem:
        raise StaffChangeRefused(problem, field="relationship_evidence")
    problem = basis_age_problem(
        basis=set_up.basis, birth_date=patient.birth_date, today=today, policy=ProxyPolicy.current(), applicant=False
    )
    if problem:
        raise StaffChangeRefused(problem, field="basis")
    if set_up.valid_until is not None and set_up.valid_until < today:
        raise StaffChangeRefused("The end date must be today or in the future", field="valid_until")
    existing = live_relationship(proxy=proxy, patient=patient)
    if existing is not None:
        waiting = existing.status == ProxyStatus.REQUESTED
        raise StaffChangeRefused(
            "This person has already applied to act for this patient: decide their application instead."
            if waiting
            else "This person can already act for this patient. Open their access below to change it.",
            field="account",
        )
    try:
        with transaction.atomic():
            relationship = ProxyRelationship.objects.create(
                proxy=proxy,
                patient=patient,
                relationship=set_up.relationship,
                basis=set_up.basis,
                origin=ProxyOrigin.STAFF,
                scopes=sorted(set_up.scopes),
                sensitive_categories_granted=sorted(set_up.sensitive_categories),
                status=ProxyStatus.ACTIVE,
                valid_from=today,
                valid_until=set_up.valid_until,
                identity_evidence=set_up.identity_evidence,
                relationship_evidence=set_up.relationship_evidence,
                evidence_note=set_up.evidence_note,
                consent_note=set_up.consent_note.strip(),
                verified_by=viewer.user,
                verified_at=timezone.now(),
            )
    except IntegrityError:
        raise StaffChangeRefused("This person can already act for this patient.", field="account") from None
    relationship_event_record(
        relationship=relationship, kind=ProxyEventKind.SET_UP_BY_STAFF, actor=viewer.user, scopes_after=set_up.scopes
    )
    staff_change_record(viewer=viewer, patient=patient, object_label=RELATIONSHIPS_LABEL, obj=relationship)
    tell_about_change(
        relationship=relationship,
        to_proxy="the helpdesk has set up access for you to act for someone",
        to_patient="the helpdesk has set up access for someone to act for you, with your consent",
        today=today,
    )
    logger.info("proxy_set_up_by_staff", relationship_id=relationship.pk)
    return relationship


def _locked_active(relationship: ProxyRelationship) -> ProxyRelationship:
    locked = ProxyRelationship.objects.select_for_update().select_related("patient", "proxy").get(pk=relationship.pk)
    if locked.status != ProxyStatus.ACTIVE:
        raise StaffChangeRefused(
            f"This access is no longer active ({locked.get_status_display().lower()}), so it cannot be changed."
        )
    return locked


@transaction.atomic
def proxy_sensitive_categories_change(
    *, viewer: Viewer, relationship: ProxyRelationship, categories: list[str], today: datetime.date | None = None
) -> ProxyRelationship:
    """Change which sensitive categories the proxy may see. The history and the emails do not name them."""
    locked = _locked_active(relationship)
    wanted = sorted(set(categories))
    if wanted == sorted(locked.sensitive_categories_granted or []):
        raise StaffChangeRefused("Nothing was changed: these are the categories already shared.")
    locked.sensitive_categories_granted = wanted
    locked.save(update_fields=["sensitive_categories_granted"])
    relationship_event_record(relationship=locked, kind=ProxyEventKind.SENSITIVE_CHANGED, actor=viewer.user)
    staff_change_record(viewer=viewer, patient=locked.patient, object_label=RELATIONSHIPS_LABEL, obj=locked)
    tell_about_change(
        relationship=locked,
        to_proxy="the helpdesk has changed what you can see for someone you act for",
        to_patient="the helpdesk has changed what someone acting for you can see",
        today=today or timezone.localdate(),
    )
    return locked


@transaction.atomic
def proxy_access_end_by_staff(
    *, viewer: Viewer, relationship: ProxyRelationship, reason: str, today: datetime.date | None = None
) -> ProxyRelationship:
    """End the access at once (the proxy's next request is refused). The reason goes into the history, which both
    sides read."""
    if not reason.strip():
        raise StaffChangeRefused("Enter the reason for ending their access", field="reason")
    locked = _locked_active(relationship)
    scopes = list(locked.scopes)
    locked.status = ProxyStatus.REVOKED
    locked.ended_at = timezone.now()
    locked.decision_reason = reason.strip()
    locked.save(update_fields=["status", "ended_at", "decision_reason"])
    relationship_event_record(
        relationship=locked, kind=ProxyEventKind.REVOKED, actor=viewer.user, scopes_before=scopes, note=reason.strip()
    )
    staff_change_record(viewer=viewer, patient=locked.patient, object_label=RELATIONSHIPS_LABEL, obj=locked)
    tell_about_change(
        relationship=locked,
        to_proxy="the helpdesk has ended your access to act for someone",
        to_patient="the helpdesk has ended someone's access to act for you",
        today=today or timezone.localdate(),
    )
    logger.info("proxy_access_ended_by_staff", relationship_id=locked.pk)
    return locked
