"""Applications to act for someone: a parent or guardian for a child, a carer with a lasting power of attorney or a
court deputyship for an adult who lacks capacity; and the helpdesk's decision on each (DESIGN.md, Proxy).

An application is a `ProxyRelationship` with status REQUESTED and origin APPLICATION. It gives no access until
the helpdesk has seen evidence of the applicant's identity and of their relationship or legal authority, and
approved it. Failed patient look-ups are throttled per account and per IP address, and one message answers every
mismatch, so the form cannot be used to find out who is a patient here.
"""

import datetime
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from careportal.access.layer import Viewer, staff_change_record
from careportal.access.proxy_policy import age_on
from careportal.accounts.models import User
from careportal.audit.models import AccessAction
from careportal.audit.services import access_event_record
from careportal.core.throttle import attempt_count, attempt_record
from careportal.notifications.kinds import Kind
from careportal.notifications.services import notification_send
from careportal.patients.models import Patient
from careportal.proxy.application_access import APPLICATION_LABEL, RELATIONSHIPS_LABEL
from careportal.proxy.application_selectors import live_relationship, patient_matching
from careportal.proxy.eligibility import approval_age_problem, basis_age_problem, evidence_problem
from careportal.proxy.history import relationship_event_record
from careportal.proxy.models import (
    ProxyEventKind,
    ProxyOrigin,
    ProxyPolicy,
    ProxyRelationship,
    ProxyStatus,
)

logger = structlog.get_logger(__name__)

LOOKUP_WINDOW_SECONDS = 60 * 60

NOT_FOUND = (
    "We could not find a patient with those details. Check their last name, date of birth and NHS number or "
    "hospital number against a letter from the hospital, and try again."
)
OWN_RECORD = (
    "These are your own details. You do not need to apply to see your own record: it is already in your account."
)
ALREADY_ASKED = (
    "You have already asked to act for this person. The helpdesk will contact you to check your documents: you "
    "do not need to apply again."
)
ALREADY_ACTIVE = "You can already act for this person. Choose their name after you sign in to open their record."


class ApplicationRefused(Exception):
    """The application was not made; `message` says why in plain words, `field` names the form field it is about
    ("" for the form as a whole). Nothing was written."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ApplicationAlreadyDecided(Exception):
    """Someone else decided the application first; nothing was changed."""


@dataclass(frozen=True)
class ApplicationDetails:
    given_name: str
    family_name: str
    birth_date: datetime.date
    relationship: str
    basis: str
    scopes: list[str]
    nhs_number: str = ""
    hospital_number: str = ""
    note: str = ""


def _account_key(user: User) -> str:
    return f"careportal:proxy-apply:account:{user.pk}"


def _ip_key(ip_address: str | None) -> str:
    return f"careportal:proxy-apply:ip:{ip_address or 'unknown'}"


def application_lookup_is_throttled(*, user: User, ip_address: str | None) -> bool:
    return (
        attempt_count(_account_key(user)) >= settings.CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_ACCOUNT
        or attempt_count(_ip_key(ip_address)) >= settings.CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_IP
    )


def throttled_message() -> str:
    return (
        "You have tried too many times with details that did not match. To keep patients' records safe, wait an "
        f"hour before trying again, or call the helpdesk on {settings.CAREPORTAL_HELPDESK_PHONE} "
        f"({settings.CAREPORTAL_HELPDESK_HOURS})."
    )


def proxy_application_submit(
    *, viewer: Viewer, details: ApplicationDetails, today: datetime.date | None = None
) -> ProxyRelationship:
    """Make an application for the patient these details match, or raise `ApplicationRefused` (nothing written).

    The basis is checked against the typed date of birth first (that tells the applicant nothing they did not
    type); then the patient is looked up, and a miss counts against the account and the IP address."""
    applicant = viewer.user
    today = today or timezone.localdate()
    if application_lookup_is_throttled(user=applicant, ip_address=viewer.ip_address):
        logger.warning("proxy_application_throttled")
        raise ApplicationRefused(throttled_message())
    policy = ProxyPolicy.current()
    problem = basis_age_problem(basis=details.basis, birth_date=details.birth_date, today=today, policy=policy)
    if problem:
        raise ApplicationRefused(problem, field="basis")
    patient = patient_matching(
        family_name=details.family_name,
        birth_date=details.birth_date,
        nhs_number=details.nhs_number,
        hospital_number=details.hospital_number,
    )
    if patient is None:
        attempt_record(_account_key(applicant), window_seconds=LOOKUP_WINDOW_SECONDS)
        attempt_record(_ip_key(viewer.ip_address), window_seconds=LOOKUP_WINDOW_SECONDS)
        raise ApplicationRefused(NOT_FOUND)
    if patient.user_id is not None and patient.user_id == applicant.pk:
        raise ApplicationRefused(OWN_RECORD)
    return _application_create(viewer=viewer, patient=patient, details=details, today=today)


def _application_create(
    *, viewer: Viewer, patient: Patient, details: ApplicationDetails, today: datetime.date
) -> ProxyRelationship:
    existing = live_relationship(proxy=viewer.user, patient=patient)
    if existing is not None:
        raise ApplicationRefused(ALREADY_ASKED if existing.status == ProxyStatus.REQUESTED else ALREADY_ACTIVE)
    try:
        with transaction.atomic():
            relationship = ProxyRelationship.objects.create(
                proxy=viewer.user,
                patient=patient,
                relationship=details.relationship,
                basis=details.basis,
                origin=ProxyOrigin.APPLICATION,
                scopes=sorted(details.scopes),
                status=ProxyStatus.REQUESTED,
                valid_from=today,
                applicant_note=details.note,
            )
            relationship_event_record(
                relationship=relationship, kind=ProxyEventKind.APPLIED, actor=viewer.user, scopes_after=details.scopes
            )
            # The patient's log says who asked to act for them ("Priya Patel (your mother) added a request ...").
            access_event_record(
                viewer=viewer,
                patient=patient,
                action=AccessAction.CREATE,
                object_label=APPLICATION_LABEL,
                obj=relationship,
            )
    except IntegrityError:
        # Another request from the same person got there first (one live relationship per pair).
        raise ApplicationRefused(ALREADY_ASKED) from None
    logger.info("proxy_application_made", relationship_id=relationship.pk)
    return relationship


# The helpdesk's decision -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    approve: bool
    identity_evidence: str = ""
    relationship_evidence: str = ""
    evidence_note: str = ""
    scopes: list[str] = field(default_factory=list)
    sensitive_categories: list[str] = field(default_factory=list)
    reason: str = ""


class DecisionRefused(Exception):
    """The decision cannot be recorded as it stands; `message` says why and what to do. Nothing was changed."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def patient_should_be_told(patient: Patient, *, today: datetime.date, policy: ProxyPolicy) -> bool:
    """The patient hears of changes to who acts for them when they have an active account and are old enough to
    manage it (the policy's first age, 16)."""
    user = patient.user
    return (
        user is not None
        and user.is_active
        and age_on(patient.birth_date, today) >= policy.parental_full_access_until_age
    )


def tell_about_change(*, relationship: ProxyRelationship, to_proxy: str, to_patient: str, today: datetime.date) -> None:
    """Email the proxy and, when `patient_should_be_told`, the patient: plain words, never a name or a detail of
    the record (the email says to sign in and look)."""
    if to_proxy:
        notification_send(kind=Kind.PROXY_ACCESS_CHANGED, user=relationship.proxy, personalisation={"change": to_proxy})
    patient = relationship.patient
    if to_patient and patient_should_be_told(patient, today=today, policy=ProxyPolicy.current()):
        notification_send(kind=Kind.PROXY_ACCESS_CHANGED, user=patient.user, personalisation={"change": to_patient})


@transaction.atomic
def proxy_application_decide(
    *, viewer: Viewer, relationship: ProxyRelationship, decision: Decision, today: datetime.date | None = None
) -> ProxyRelationship:
    """Approve or decline an application. The row is locked first, so when two people decide at once the second
    gets `ApplicationAlreadyDecided` and changes nothing. Approval needs both kinds of evidence, evidence that fits
    the basis, and the age rules as they stand today; a decline needs a reason, which the applicant reads."""
    today = today or timezone.localdate()
    locked = ProxyRelationship.objects.select_for_update().select_related("patient", "proxy").get(pk=relationship.pk)
    if locked.status != ProxyStatus.REQUESTED:
        raise ApplicationAlreadyDecided
    asked = list(locked.scopes)
    now = timezone.now()
    locked.identity_evidence = decision.identity_evidence
    locked.relationship_evidence = decision.relationship_evidence
    locked.evidence_note = decision.evidence_note
    if decision.approve:
        problem = evidence_problem(
            basis=locked.basis,
            identity_evidence=decision.identity_evidence,
            relationship_evidence=decision.relationship_evidence,
        )
        if problem:
            raise DecisionRefused(
                problem, field="relationship_evidence" if decision.identity_evidence else "identity_evidence"
            )
        if not decision.scopes:
            raise DecisionRefused("Select what they can see", field="scopes")
        problem = approval_age_problem(
            basis=locked.basis,
            birth_date=locked.patient.birth_date,
            scopes=decision.scopes,
            today=today,
            policy=ProxyPolicy.current(),
        )
        if problem:
            raise DecisionRefused(problem, field="scopes")
        locked.status = ProxyStatus.ACTIVE
        locked.scopes = sorted(decision.scopes)
        locked.sensitive_categories_granted = sorted(decision.sensitive_categories)
        locked.verified_by = viewer.user
        locked.verified_at = now
        locked.valid_from = today
        locked.save()
        relationship_event_record(
            relationship=locked,
            kind=ProxyEventKind.APPROVED,
            actor=viewer.user,
            scopes_before=asked,
            scopes_after=locked.scopes,
        )
        staff_change_record(viewer=viewer, patient=locked.patient, object_label=RELATIONSHIPS_LABEL, obj=locked)
    else:
        if not decision.reason.strip():
            raise DecisionRefused("Enter the reason for declining: the applicant reads it", field="reason")
        locked.status = ProxyStatus.DECLINED
        locked.decision_reason = decision.reason.strip()
        locked.ended_at = now
        locked.save()
        relationship_event_record(
            relationship=locked,
            kind=ProxyEventKind.DECLINED,
            actor=viewer.user,
            scopes_before=asked,
            note=locked.decision_reason,
        )
        staff_change_record(viewer=viewer, patient=locked.patient, object_label=APPLICATION_LABEL, obj=locked)
    notification_send(kind=Kind.PROXY_APPLICATION_DECIDED, user=locked.proxy)
    if decision.approve:
        tell_about_change(
            relationship=locked,
            to_proxy="",
            to_patient="the helpdesk has checked someone's documents and they can now act for you",
            today=today,
        )
    logger.info("proxy_application_decided", relationship_id=locked.pk, approved=decision.approve)
    return locked
