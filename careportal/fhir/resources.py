"""Builders: our models → fhir.resources R4B models. Constructing the model validates the resource, so nothing is
served that is not valid FHIR R4 (R4B matches R4 for every resource type here).

One exception, for speed: a search page of Observations (the resource apps ask for most, fifty at a time) is built
as the JSON itself (`observation_json`), because building and dumping the models cost three quarters of such a
request. `observation_json` emits exactly what the model would dump; tests/fhir/test_json_builders.py validates
its output with the R4B model and compares, for every shape of value it builds, and the single-resource read still
goes through the model.

Builders take rows already read through the access layer (with what they show fetched up front) and never query
the database themselves, so a page of a search costs the same number of queries however long it is.
"""

import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.binary import Binary as FhirBinary
from fhir.resources.R4B.communication import Communication as FhirCommunication
from fhir.resources.R4B.diagnosticreport import DiagnosticReport as FhirDiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference as FhirDocumentReference
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.relatedperson import RelatedPerson as FhirRelatedPerson
from fhir.resources.R4B.resource import Resource

from careportal.appointments.models import Appointment, AppointmentKind
from careportal.audit.models import AccessAction, AccessEvent, ActorRole
from careportal.fhir.coding import (
    INTERPRETATION,
    NHS_NUMBER_SYSTEM,
    OBSERVATION_CATEGORY,
    V2_DIAGNOSTIC_SECTION,
    hospital_number_system,
    system_uri,
)
from careportal.letters.models import Letter
from careportal.messaging.models import AuthorRole, Message
from careportal.patients.models import Patient
from careportal.proxy.models import ProxyRelationship, ProxyStatus
from careportal.results.models import DiagnosticReport, Observation, ObservationValueType, ResultKind

ENTERED_IN_ERROR = "entered-in-error"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"


def to_json(resource: Resource | dict[str, Any]) -> dict[str, Any]:
    """A resource as JSON: a model dumped, or a resource already built as its JSON (`observation_json`)."""
    if isinstance(resource, dict):
        return resource
    return resource.model_dump(mode="json", exclude_none=True)


def resource_type_and_id(resource: Resource | dict[str, Any]) -> tuple[str, str]:
    if isinstance(resource, dict):
        return str(resource["resourceType"]), str(resource["id"])
    return resource.get_resource_type(), str(resource.id)


def json_instant(value: datetime.datetime) -> str:
    """An instant as the R4B models dump it: ISO 8601, with UTC written `Z`."""
    text = value.isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def observation_id(observation: Observation) -> str:
    """An observation has no id of its own: its report's public id and its place in the report."""
    return f"{observation.report.public_id}-{observation.sequence}"


def _instant(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _patient_ref(patient: Patient) -> dict[str, str]:
    return {"reference": f"Patient/{patient.public_id}"}


# Patient -------------------------------------------------------------------------------------------------------


def patient_resource(patient: Patient, *, with_contact_details: bool) -> FhirPatient:
    """The patient: identifiers (NHS number per UK Core, the trust's hospital number), name and birth date; their
    address and phone numbers only for a viewer with the details scope."""
    identifiers: list[dict[str, Any]] = []
    if patient.nhs_number:
        identifiers.append({"system": NHS_NUMBER_SYSTEM, "value": patient.nhs_number})
    identifiers.append({"system": hospital_number_system(), "value": patient.hospital_number})
    data: dict[str, Any] = {
        "id": str(patient.public_id),
        "identifier": identifiers,
        "active": patient.merged_into_id is None,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "birthDate": patient.birth_date.isoformat(),
    }
    if with_contact_details:
        telecom = []
        if patient.mobile_phone:
            telecom.append({"system": "phone", "value": patient.mobile_phone, "use": "mobile"})
        if patient.home_phone:
            telecom.append({"system": "phone", "value": patient.home_phone, "use": "home"})
        if patient.email:
            telecom.append({"system": "email", "value": patient.email, "use": "home"})
        if telecom:
            data["telecom"] = telecom
        lines = [line for line in (patient.address_line_1, patient.address_line_2) if line]
        if lines or patient.town or patient.postcode:
            address: dict[str, Any] = {"use": "home"}
            if lines:
                address["line"] = lines
            if patient.town:
                address["city"] = patient.town
            if patient.postcode:
                address["postalCode"] = patient.postcode
            data["address"] = [address]
    return FhirPatient(**data)


# Results -------------------------------------------------------------------------------------------------------


def observation_category_code(report: DiagnosticReport) -> str:
    return "imaging" if report.result_kind == ResultKind.IMAGING else "laboratory"


def _category(report: DiagnosticReport) -> list[dict[str, Any]]:
    code = observation_category_code(report)
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": code.capitalize()}]}]


_REPORT_STATUS = {
    "registered": "registered",
    "partial": "partial",
    "preliminary": "preliminary",
    "final": "final",
    "corrected": "corrected",
    "cancelled": "cancelled",
}
_OBX_STATUS = {"F": "final", "C": "corrected", "P": "preliminary", "X": "cancelled", "D": ENTERED_IN_ERROR}


def report_effective(report: DiagnosticReport) -> datetime.datetime:
    return report.collected_at or report.reported_at or report.arrived_at


def observation_effective(observation: Observation) -> datetime.datetime:
    return observation.observed_at or report_effective(observation.report)


def _quantity(value: Decimal, unit: str) -> dict[str, Any]:
    # A whole number is written without a decimal point (`5`, not `5.0` or `5E+0`); anything else as a JSON
    # number, as the R4B models dump a decimal.
    quantity: dict[str, Any] = {"value": int(value) if value == value.to_integral() else float(value)}
    if unit:
        quantity["unit"] = unit
    return quantity


def observation_resource(observation: Observation) -> FhirObservation:
    """One value of a released report, validated by the R4B model (see `observation_json`)."""
    return FhirObservation.model_validate(observation_json(observation))


def observation_json(observation: Observation) -> dict[str, Any]:
    """One value of a released report, as the JSON the R4B model would dump. A withdrawn report's values are
    withheld: status entered-in-error, no value, no range, no interpretation."""
    report = observation.report
    withdrawn = report.retracted_at is not None
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id(observation),
        "status": ENTERED_IN_ERROR
        if withdrawn
        else _OBX_STATUS.get(observation.status, _REPORT_STATUS.get(report.status, "final")),
        "category": _category(report),
        "code": {
            "coding": [
                {"system": system_uri(observation.coding_system), "code": observation.code, "display": observation.name}
            ],
            "text": observation.name,
        },
        "subject": _patient_ref(report.patient),
    }
    effective = observation_effective(observation)
    if effective is not None:
        data["effectiveDateTime"] = json_instant(effective)
    if report.released_at is not None:
        data["issued"] = json_instant(report.released_at)
    if report.status == "cancelled" and not withdrawn:
        data["status"] = "cancelled"
    if withdrawn:
        data["dataAbsentReason"] = {"text": "This result was withdrawn by the hospital."}
        return data
    value_type = observation.value_type
    if value_type in (ObservationValueType.NUMERIC, ObservationValueType.STRUCTURED_NUMERIC) and (
        observation.value_numeric is not None
    ):
        quantity = _quantity(observation.value_numeric, observation.unit)
        if observation.value_comparator in ("<", "<=", ">", ">="):
            quantity["comparator"] = observation.value_comparator
        data["valueQuantity"] = quantity
    elif value_type in (ObservationValueType.CODED, ObservationValueType.CODED_WITH_EXCEPTIONS) and (
        observation.value_code
    ):
        data["valueCodeableConcept"] = {
            "coding": [
                {
                    "system": system_uri(observation.value_code_system),
                    "code": observation.value_code,
                    **({"display": observation.value_text} if observation.value_text else {}),
                }
            ],
            **({"text": observation.value_text} if observation.value_text else {}),
        }
    elif value_type == ObservationValueType.ENCAPSULATED_DATA:
        data["dataAbsentReason"] = {"text": "An attachment: open this result in the portal to see it."}
    elif observation.value_text:
        data["valueString"] = observation.value_text
    else:
        data["dataAbsentReason"] = {"text": "No value was reported."}
    if observation.interpretation:
        data["interpretation"] = [
            {
                "coding": [
                    {
                        "system": INTERPRETATION,
                        "code": observation.interpretation,
                        "display": str(observation.get_interpretation_display()),
                    }
                ]
            }
        ]
    if observation.reference_low is not None or observation.reference_high is not None or observation.reference_range:
        reference: dict[str, Any] = {}
        if observation.reference_low is not None:
            reference["low"] = _quantity(observation.reference_low, observation.unit)
        if observation.reference_high is not None:
            reference["high"] = _quantity(observation.reference_high, observation.unit)
        if observation.reference_range:
            reference["text"] = observation.reference_range
        data["referenceRange"] = [reference]
    if observation.comment:
        data["note"] = [{"text": observation.comment}]
    return data


def diagnostic_report_resource(report: DiagnosticReport, observations: list[Observation]) -> FhirDiagnosticReport:
    """A released report with references to its observations; a withdrawn one says so and carries nothing else."""
    withdrawn = report.retracted_at is not None
    category = _category(report)
    if report.category:
        category.append({"coding": [{"system": V2_DIAGNOSTIC_SECTION, "code": report.category}]})
    data: dict[str, Any] = {
        "id": str(report.public_id),
        "identifier": [{"system": system_uri(f"order-{report.source_system}"), "value": report.filler_order_number}],
        "status": ENTERED_IN_ERROR if withdrawn else _REPORT_STATUS.get(report.status, "final"),
        "category": category,
        "code": {
            "coding": [
                {"system": system_uri(report.test_coding_system), "code": report.test_code, "display": report.test_name}
            ],
            "text": report.test_name,
        },
        "subject": _patient_ref(report.patient),
        "effectiveDateTime": _instant(report_effective(report)),
        "issued": _instant(report.released_at),
    }
    if withdrawn:
        return FhirDiagnosticReport(**data)
    if observations:
        data["result"] = [{"reference": f"Observation/{observation_id(o)}"} for o in observations]
    conclusion = "\n\n".join(text for text in (report.lab_comment, report.clinician_comment) if text)
    if conclusion:
        data["conclusion"] = conclusion
    return FhirDiagnosticReport(**data)


# Appointments, messages, letters ---------------------------------------------------------------------------------


_SERVICE_TYPE_TEXT = {
    AppointmentKind.IN_PERSON: "In person",
    AppointmentKind.TELEPHONE: "Telephone",
    AppointmentKind.VIDEO: "Video",
}


def appointment_status(appointment: Appointment, *, now: datetime.datetime) -> str:
    """As the portal shows it: a booked appointment whose end has passed is "fulfilled"."""
    if appointment.status == "booked" and appointment.end < now:
        return "fulfilled"
    return str(appointment.status)


def appointment_resource(appointment: Appointment, *, now: datetime.datetime) -> FhirAppointment:
    """An appointment as the patient sees it. The video join link is a credential: never served."""
    participants: list[dict[str, Any]] = [
        {"actor": {**_patient_ref(appointment.patient)}, "status": "accepted", "required": "required"}
    ]
    if appointment.clinician_name:
        participants.append({"actor": {"display": appointment.clinician_name}, "status": "accepted"})
    location = appointment.location_name or (appointment.clinic.site_name if appointment.clinic else "")
    if location:
        participants.append({"actor": {"display": location}, "status": "accepted"})
    service = appointment.service_name or (appointment.care_team.name if appointment.care_team else "")
    data: dict[str, Any] = {
        "id": str(appointment.public_id),
        "status": appointment_status(appointment, now=now),
        "start": _instant(appointment.start),
        "end": _instant(appointment.end),
        "created": _instant(appointment.booked_at),
        "participant": participants,
        "appointmentType": {"text": _SERVICE_TYPE_TEXT.get(appointment.kind, "In person")},  # type: ignore[call-overload]
    }
    if service:
        data["serviceType"] = [{"text": service}]
    if appointment.status == "cancelled":
        data["cancelationReason"] = {"text": "Cancelled"}
    return FhirAppointment(**data)


def communication_resource(message: Message) -> FhirCommunication:
    """One message the patient's side can see (never a care team's internal note)."""
    thread = message.thread
    from_team = message.author_role == AuthorRole.STAFF
    team = {"display": thread.care_team.name}
    patient = _patient_ref(thread.patient)
    sender: dict[str, Any] = {"display": message.author_display} if from_team else {**patient}
    if not from_team:
        sender["display"] = message.author_display
    return FhirCommunication.model_validate(
        {
            "id": str(message.public_id),
            "status": "completed",
            "subject": patient,
            "topic": {"text": thread.subject},
            "sent": _instant(message.created_at),
            "sender": sender,
            "recipient": [patient if from_team else team],
            "payload": [{"contentString": message.body}],
            "identifier": [{"system": system_uri("careportal-thread"), "value": str(thread.public_id)}],
        }
    )


def document_reference_resource(letter: Letter, *, base_url: str) -> FhirDocumentReference:
    """A letter; its PDF is the Binary at `Binary/<id>`."""
    type_coding: dict[str, Any] = {"text": letter.document_type}
    if letter.document_type_code:
        type_coding["coding"] = [
            {
                "system": system_uri(f"document-type-{letter.source_system}"),
                "code": letter.document_type_code,
                "display": letter.document_type,
            }
        ]
    data: dict[str, Any] = {
        "id": str(letter.public_id),
        "status": "current",
        "type": type_coding,
        "subject": _patient_ref(letter.patient),
        "date": _instant(letter.letter_date),
        "description": letter.document_type,
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "url": f"{base_url}Binary/{letter.public_id}",
                    "size": letter.size,
                    "title": letter.document_type,
                    "creation": _instant(letter.letter_date),
                }
            }
        ],
    }
    if letter.author:
        data["author"] = [{"display": letter.author}]
    if letter.care_team is not None:
        data["custodian"] = {"display": letter.care_team.name}
    return FhirDocumentReference(**data)


def binary_resource(letter: Letter, data: bytes) -> FhirBinary:
    import base64

    return FhirBinary(id=str(letter.public_id), contentType="application/pdf", data=base64.b64encode(data))


# The patient's own: their proxies and their access log ------------------------------------------------------


_RELATED_ACTIVE = {ProxyStatus.ACTIVE}


def related_person_resource(relationship: ProxyRelationship) -> FhirRelatedPerson:
    """Someone who acts or acted for the patient, as the patient sees them on "Access for others"."""
    proxy = relationship.proxy
    name = proxy.get_full_name() if hasattr(proxy, "get_full_name") else ""
    data: dict[str, Any] = {
        "id": str(relationship.public_id),
        "active": relationship.status in _RELATED_ACTIVE,
        "patient": _patient_ref(relationship.patient),
        "relationship": [{"text": relationship.relationship}],
        "period": {
            "start": relationship.valid_from.isoformat(),
            **({"end": relationship.valid_until.isoformat()} if relationship.valid_until else {}),
        },
    }
    if name:
        data["name"] = [{"text": name}]
    return FhirRelatedPerson(**data)


_AUDIT_ACTION = {
    AccessAction.VIEW: "R",
    AccessAction.DOWNLOAD: "R",
    AccessAction.CREATE: "C",
    AccessAction.UPDATE: "U",
    AccessAction.DELETE: "D",
}


def audit_event_resource(event: AccessEvent) -> FhirAuditEvent:
    """One line of "who has viewed your record": who, in which role, on whose behalf, through which app."""
    who = event.actor_name or ("The hospital" if event.actor_role == ActorRole.SYSTEM else "Someone")
    agent: dict[str, Any] = {
        "who": {"display": who},
        "requestor": True,
        "type": {"text": event.get_actor_role_display()},
    }
    agents = [agent]
    if event.care_team is not None:
        agents.append({"who": {"display": event.care_team.name}, "requestor": False})
    if event.app_name:
        agents.append({"who": {"display": event.app_name}, "requestor": False, "type": {"text": "App"}})
    entity: dict[str, Any] = {"what": {"display": event.object_label}}
    return FhirAuditEvent.model_validate(
        {
            "id": str(event.pk),
            "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
            "action": _AUDIT_ACTION.get(event.action, "E"),  # type: ignore[call-overload]
            "recorded": _instant(event.occurred_at),
            "outcome": "0" if event.succeeded else "4",
            "agent": agents,
            "source": {"observer": {"display": settings.CAREPORTAL_SERVICE_NAME}},
            "entity": [entity],
        }
    )
