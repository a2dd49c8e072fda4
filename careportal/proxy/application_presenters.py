"""What the applicant's page about their application shows, worked out here so that the template holds no logic."""

from dataclasses import dataclass

from django.conf import settings

from careportal.core.formatting import format_date
from careportal.core.table_rows import Cell, summary_rows
from careportal.proxy.models import ProxyBasis, ProxyRelationship, ProxyScope, ProxyStatus

BASIS_WORDS = {
    ProxyBasis.PARENTAL_RESPONSIBILITY: "Parent or guardian",
    ProxyBasis.LASTING_POWER_OF_ATTORNEY: "Lasting power of attorney for health and welfare",
    ProxyBasis.COURT_DEPUTY: "Deputy for personal welfare (Court of Protection)",
    ProxyBasis.PATIENT_GRANTED: "Given by the patient",
}

# What to have ready when the helpdesk calls, for each basis (docs/proxy-access-helpdesk.md has the staff side).
DOCUMENTS = {
    ProxyBasis.PARENTAL_RESPONSIBILITY: [
        "photo ID for yourself, such as a passport or photocard driving licence",
        "the child's birth certificate naming you, or an adoption certificate, or a court order or agreement "
        "that gives you parental responsibility",
    ],
    ProxyBasis.LASTING_POWER_OF_ATTORNEY: [
        "photo ID for yourself, such as a passport or photocard driving licence",
        "the lasting power of attorney for health and welfare, registered with the Office of the Public Guardian "
        "(a property and financial affairs one is not enough)",
    ],
    ProxyBasis.COURT_DEPUTY: [
        "photo ID for yourself, such as a passport or photocard driving licence",
        "the Court of Protection order that appoints you as deputy for personal welfare",
    ],
}


@dataclass(frozen=True)
class ApplicationPage:
    title: str
    status: str
    first_name: str
    rows: list[dict[str, Cell]]
    documents: list[str]
    decision_reason: list[list[str]]  # paragraphs of lines, as the helpdesk typed them
    helpdesk_phone: str
    helpdesk_hours: str
    response_days: int


TITLES = {
    ProxyStatus.REQUESTED: "We have your request",
    ProxyStatus.ACTIVE: "Your request has been approved",
    ProxyStatus.DECLINED: "Your request was not approved",
    ProxyStatus.REVOKED: "Your access has ended",
    ProxyStatus.ENDED: "Your access has ended",
}


def _paragraphs(text: str) -> list[list[str]]:
    blocks = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block.split("\n") for block in blocks if block.strip()]


def application_page(relationship: ProxyRelationship) -> ApplicationPage:
    """The applicant's own page: their request in their words, and what happens next or what was decided. The
    patient is named by first name only, as the applicant typed it."""
    scopes = [ProxyScope(s).label for s in relationship.scopes if s in ProxyScope.values]
    return ApplicationPage(
        title=TITLES[ProxyStatus(relationship.status)],
        status=relationship.status,
        first_name=relationship.patient.given_name,
        rows=summary_rows(
            [
                ("Sent", format_date(relationship.created_at)),
                ("Your relationship", relationship.relationship),
                ("Why you can act for them", BASIS_WORDS.get(ProxyBasis(relationship.basis), "")),
                (
                    "What you can see" if relationship.status == ProxyStatus.ACTIVE else "What you asked to see",
                    ", ".join(scopes),
                ),
            ]
        ),
        documents=DOCUMENTS.get(ProxyBasis(relationship.basis), []),
        decision_reason=_paragraphs(relationship.decision_reason)
        if relationship.status == ProxyStatus.DECLINED
        else [],
        helpdesk_phone=settings.CAREPORTAL_HELPDESK_PHONE,
        helpdesk_hours=settings.CAREPORTAL_HELPDESK_HOURS,
        response_days=settings.CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS,
    )
