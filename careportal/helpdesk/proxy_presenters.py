"""What the helpdesk's proxy pages show: the queue of applications, one application, one relationship with its
history, and the list on a patient's page. Account and identity data only, never clinical."""

import datetime
from dataclasses import dataclass

from django.urls import reverse
from django.utils import timezone

from careportal.access.proxy_policy import age_on
from careportal.accounts.models import User
from careportal.accounts.security_selectors import TwoStepStatus
from careportal.core.formatting import format_date, format_datetime
from careportal.core.table_rows import Cell, bdi, link_html, status_tag_html
from careportal.helpdesk.presenters import Row, Tag, text_paragraphs, two_step_text
from careportal.patients.models import Patient, SensitiveCategory
from careportal.proxy.models import (
    IdentityEvidence,
    ProxyBasis,
    ProxyOrigin,
    ProxyRelationship,
    ProxyRelationshipEvent,
    ProxyScope,
    ProxyStatus,
    RelationshipEvidence,
)

NONE_YET = "None"
STATUS_COLOURS = {
    ProxyStatus.REQUESTED: "blue",
    ProxyStatus.ACTIVE: "green",
    ProxyStatus.DECLINED: "red",
    ProxyStatus.REVOKED: "grey",
    ProxyStatus.ENDED: "grey",
}


def status_tag(relationship: ProxyRelationship) -> Tag:
    return Tag(relationship.get_status_display(), STATUS_COLOURS[ProxyStatus(relationship.status)])


def scope_words(scopes: list[str]) -> str:
    return ", ".join(ProxyScope(s).label for s in ProxyScope.values if s in scopes) or NONE_YET


def sensitive_words(categories: list[str]) -> str:
    return ", ".join(SensitiveCategory(c).label for c in SensitiveCategory.values if c in categories) or NONE_YET


def _choice_label(choices: type[IdentityEvidence] | type[RelationshipEvidence], value: str) -> str:
    return str(dict(choices.choices).get(value, "Not recorded")) if value else "Not recorded"


def age_text(birth_date: datetime.date, *, today: datetime.date | None = None) -> str:
    age = age_on(birth_date, today or timezone.localdate())
    return f"{age} year{'s' if age != 1 else ''} old"


def waiting_text(created_at: datetime.datetime, *, today: datetime.date | None = None) -> str:
    days = ((today or timezone.localdate()) - timezone.localdate(created_at)).days
    if days <= 0:
        return "Today"
    return f"{days} day{'s' if days != 1 else ''}"


# The queue ---------------------------------------------------------------------------------------------------


def queue_table_rows(applications: list[ProxyRelationship], *, today: datetime.date | None = None) -> list[list[Cell]]:
    """Received, waiting, applicant (linked to the application), patient, date of birth, basis."""
    return [
        [
            {"text": format_date(r.created_at)},
            {"text": waiting_text(r.created_at, today=today)},
            {
                "html": link_html(
                    reverse("helpdesk:proxy-request", kwargs={"relationship_id": r.public_id}), r.proxy.audit_name
                )
            },
            {"html": bdi(r.patient.full_name)},
            {"text": format_date(r.patient.birth_date)},
            {"text": r.get_basis_display()},
        ]
        for r in applications
    ]


# One application or relationship -----------------------------------------------------------------------------


def applicant_rows(account: User, two_step: TwoStepStatus) -> list[Row]:
    return [
        Row("Name", account.audit_name),
        Row("Username", account.username),
        Row("Email address", account.email or "None"),
        Row("2-step verification", two_step_text(two_step)),
        Row("Account created", format_date(account.date_joined)),
    ]


def patient_rows(patient: Patient, *, today: datetime.date | None = None) -> list[Row]:
    return [
        Row("Name", patient.full_name),
        Row("Date of birth", format_date(patient.birth_date)),
        Row("Age today", age_text(patient.birth_date, today=today)),
        Row("Hospital number", patient.hospital_number),
        Row("Has a CarePortal account", "Yes" if patient.user_id else "No"),
    ]


def request_rows(relationship: ProxyRelationship) -> list[Row]:
    return [
        Row("Received", format_datetime(relationship.created_at)),
        Row("Relationship (their words)", relationship.relationship),
        Row("Why they can act", relationship.get_basis_display()),
        Row("What they asked to see", scope_words(relationship.scopes)),
    ]


def relationship_rows(relationship: ProxyRelationship) -> list[Row]:
    rows = [
        Row("How it began", relationship.get_origin_display()),
        Row("Relationship", relationship.relationship),
        Row("Why they can act", relationship.get_basis_display()),
        Row("What they can see", scope_words(relationship.scopes)),
        Row("Sensitive information shared", sensitive_words(relationship.sensitive_categories_granted or [])),
        Row("From", format_date(relationship.valid_from)),
        Row("Until", format_date(relationship.valid_until) if relationship.valid_until else "No end date"),
        Row("Evidence of identity", _choice_label(IdentityEvidence, relationship.identity_evidence)),
        Row("Evidence of relationship", _choice_label(RelationshipEvidence, relationship.relationship_evidence)),
    ]
    if relationship.evidence_note:
        rows.append(Row("Evidence notes", relationship.evidence_note.splitlines()))
    if relationship.origin == ProxyOrigin.STAFF or relationship.consent_note:
        rows.append(Row("Patient's consent", relationship.consent_note.splitlines() or "Not recorded"))
    if relationship.verified_by_id:
        rows.append(
            Row(
                "Checked by",
                f"{relationship.verified_by.audit_name}, {format_datetime(relationship.verified_at)}",  # type: ignore[union-attr]
            )
        )
    if relationship.decision_reason:
        label = "Reason declined" if relationship.status == ProxyStatus.DECLINED else "Reason ended"
        rows.append(Row(label, relationship.decision_reason.splitlines()))
    return rows


def note_paragraphs(relationship: ProxyRelationship) -> list[list[str]]:
    return text_paragraphs(relationship.applicant_note)


def history_table_rows(events: list[ProxyRelationshipEvent]) -> list[list[Cell]]:
    return [
        [
            {"text": format_datetime(e.occurred_at)},
            {"text": e.get_kind_display()},
            {"html": bdi(e.actor_name)},
            {"text": scope_words(e.scopes_after) if e.scopes_after else ""},
            {"html": bdi(e.note)},
        ]
        for e in events
    ]


@dataclass(frozen=True)
class BasisWarning:
    """What the helpdesk should look for, for this basis (docs/proxy-access-helpdesk.md)."""

    text: str


EVIDENCE_TO_CHECK = {
    ProxyBasis.PARENTAL_RESPONSIBILITY: "Check photo ID, and a birth certificate naming them as parent, an adoption "
    "certificate, or a parental responsibility order or agreement.",
    ProxyBasis.LASTING_POWER_OF_ATTORNEY: "Check photo ID, and a lasting power of attorney for HEALTH AND WELFARE "
    "(not property and financial affairs) that is registered with the Office of the Public Guardian.",
    ProxyBasis.COURT_DEPUTY: "Check photo ID, and a Court of Protection order appointing them deputy for PERSONAL "
    "WELFARE (a property and affairs deputyship is not enough).",
    ProxyBasis.PATIENT_GRANTED: "Check photo ID, and that the patient themselves has given consent.",
}


def evidence_to_check(relationship: ProxyRelationship) -> str:
    return EVIDENCE_TO_CHECK.get(ProxyBasis(relationship.basis), "")


# A patient's page --------------------------------------------------------------------------------------------


def patient_relationship_table_rows(relationships: list[ProxyRelationship]) -> list[list[Cell]]:
    """Everyone who acts or asked to act for the patient: person (linked), relationship, status, since."""
    rows: list[list[Cell]] = []
    for r in relationships:
        name = "helpdesk:proxy-request" if r.status == ProxyStatus.REQUESTED else "helpdesk:proxy-relationship"
        rows.append(
            [
                {"html": link_html(reverse(name, kwargs={"relationship_id": r.public_id}), r.proxy.audit_name)},
                {"html": bdi(r.relationship)},
                {"text": r.get_basis_display()},
                {"html": status_tag_html(status_tag(r))},
                {"text": format_date(r.valid_from)},
            ]
        )
    return rows
