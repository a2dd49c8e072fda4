from dataclasses import dataclass

from careportal.core.formatting import format_date, format_nhs_number
from careportal.patients.models import ContactPreference, Patient
from careportal.patients.voice import Voice


@dataclass(frozen=True)
class DetailRow:
    label: str
    value: str | list[str]


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


def contact_detail_rows(patient: Patient, *, voice: Voice) -> list[DetailRow]:
    return [
        DetailRow("Address", patient.address_lines or NOT_RECORDED),
        DetailRow("Mobile phone", patient.mobile_phone or NOT_RECORDED),
        DetailRow("Home phone", patient.home_phone or NOT_RECORDED),
        DetailRow("Email address", patient.email or NOT_RECORDED),
        DetailRow(
            f"How we send {voice.possessive} letters",
            "Through CarePortal (paperless)"
            if patient.contact_preference == ContactPreference.PORTAL
            else f"By post to {voice.possessive} address",
        ),
    ]
