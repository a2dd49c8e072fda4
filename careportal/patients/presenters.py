"""What /your-details/ shows, as NHS.UK summary-list parameters built here, so the templates hold no logic."""

from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from markupsafe import Markup, escape

from careportal.core.formatting import format_date, format_datetime, format_nhs_number
from careportal.notifications.services import sms_available
from careportal.patients.models import ContactPreference, Patient, PendingEmailChange
from careportal.patients.voice import Voice


@dataclass(frozen=True)
class DetailRow:
    label: str
    value: str | list[str]
    change_href: str = ""
    # What the "Change" link changes, for screen readers ("Change address").
    change_label: str = ""
    extra: list[str] = field(default_factory=list)


NOT_RECORDED = "Not recorded"


def patient_detail_rows(patient: Patient) -> list[DetailRow]:
    return [
        DetailRow("Name", patient.full_name),
        DetailRow("Date of birth", format_date(patient.birth_date)),
        DetailRow("NHS number", format_nhs_number(patient.nhs_number) or NOT_RECORDED),
        DetailRow("Hospital number", patient.hospital_number),
    ]


def details_title(voice: Voice) -> str:
    """ "Your details", or "Arjun's details" for someone acting for Arjun."""
    return f"{voice.Possessive} details"


def letters_text(patient: Patient, voice: Voice) -> str:
    if patient.contact_preference == ContactPreference.PORTAL:
        return "Through CarePortal (paperless)"
    return f"By post to {voice.possessive} address"


def notifications_text(patient: Patient) -> str:
    ways = []
    if patient.notify_by_email:
        ways.append("email")
    if patient.notify_by_sms and sms_available():
        ways.append("text message")
    return f"By {' and '.join(ways)}" if ways else "By email"


def contact_detail_rows(
    patient: Patient, *, voice: Voice, can_change: bool = False, can_change_email: bool = False
) -> list[DetailRow]:
    def change(name: str) -> str:
        return reverse(f"patients:{name}") if can_change else ""

    return [
        DetailRow("Address", patient.address_lines or NOT_RECORDED, change("address"), "address"),
        DetailRow("Mobile phone", patient.mobile_phone or NOT_RECORDED, change("mobile-phone"), "mobile phone"),
        DetailRow("Home phone", patient.home_phone or NOT_RECORDED, change("home-phone"), "home phone"),
        DetailRow(
            "Email address",
            patient.email or NOT_RECORDED,
            reverse("patients:email") if can_change_email else "",
            "email address",
        ),
    ]


def preference_rows(patient: Patient, *, voice: Voice, can_change: bool, own: bool) -> list[DetailRow]:
    href = reverse("patients:contact-preferences") if can_change else ""
    rows = [
        DetailRow(f"How we send {voice.possessive} letters", letters_text(patient, voice), href, "how we send letters")
    ]
    if own:
        rows.append(
            DetailRow("How we tell you about something new", notifications_text(patient), href, "notifications")
        )
    return rows


def summary_list(rows: list[DetailRow]) -> dict[str, Any]:
    """The NHS.UK summaryList parameters: several lines shown one under another, every value escaped."""
    items = []
    for row in rows:
        if isinstance(row.value, str):
            value: dict[str, Any] = {"text": row.value}
        else:
            value = {"html": Markup("<br>").join(escape(line) for line in row.value)}
        item: dict[str, Any] = {"key": {"text": row.label}, "value": value}
        if row.change_href:
            item["actions"] = {
                "items": [{"href": row.change_href, "text": "Change", "visuallyHiddenText": row.change_label}]
            }
        items.append(item)
    return {"rows": items}


@dataclass(frozen=True)
class WaitingEmail:
    new_email: str
    sent_at: str
    expires_at: str


def waiting_email(pending: PendingEmailChange | None) -> WaitingEmail | None:
    if pending is None:
        return None
    return WaitingEmail(
        new_email=pending.new_email,
        sent_at=format_datetime(pending.created_at),
        expires_at=format_datetime(pending.expires_at),
    )


PART_DONE = {
    "address": "address",
    "mobile_phone": "mobile phone number",
    "home_phone": "home phone number",
}


def changed_message(parts: list[str], voice: Voice) -> str:
    """ "Your address has been changed." — or, when nothing was different, that nothing changed."""
    if not parts:
        return "Nothing was changed: the details you entered are the ones we already have."
    names = [PART_DONE[part] for part in parts if part in PART_DONE]
    return f"{voice.Possessive} {' and '.join(names)} {'has' if len(names) == 1 else 'have'} been changed."
