"""The FHIR part of "download my record": one collection Bundle (R4, built and validated with fhir.resources R4B
models) of what the copy may hold.

Kept behind the one function `record_bundle(viewer)` so that its insides can be replaced by the FHIR API's own
resource builders without touching the task, the pages or the tests. The viewer is the requester rebuilt for the
copy (careportal/fhir/export_access.py `export_viewer`): their scopes are the copy's. The caller audits the read.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication as FhirCommunication
from fhir.resources.R4B.diagnosticreport import DiagnosticReport as FhirDiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference as FhirDocumentReference
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.patient import Patient as FhirPatient

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction
from careportal.fhir.export_selectors import RecordContents, is_withdrawn, record_contents

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
WITHDRAWN_NOTE = "This result was withdrawn by the hospital after it was released. Its values are not shown."
AUDIT_ACTIONS = {
    AccessAction.VIEW: "R",
    AccessAction.DOWNLOAD: "R",
    AccessAction.CREATE: "C",
    AccessAction.UPDATE: "U",
    AccessAction.DELETE: "D",
}


def _instant(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).isoformat() if value else None


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _coding(code: str, display: str, system: str = "") -> dict[str, Any]:
    coding: dict[str, Any] = {"code": code or "unknown", "display": display or code}
    if system:
        coding["system"] = system
    return {"coding": [coding], "text": display or code}


def _patient(viewer: Viewer) -> dict[str, Any]:
    patient: Any = viewer.patient
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.public_id),
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "birthDate": patient.birth_date.isoformat(),
    }
    if viewer.can(Scope.DETAILS):
        if patient.nhs_number:
            resource["identifier"] = [{"system": NHS_NUMBER_SYSTEM, "value": patient.nhs_number}]
        lines = [line for line in (patient.address_line_1, patient.address_line_2) if line]
        if lines or patient.town or patient.postcode:
            resource["address"] = [
                {k: v for k, v in {"line": lines, "city": patient.town, "postalCode": patient.postcode}.items() if v}
            ]
        telecom = [
            {"system": system, "value": value, "use": use}
            for system, value, use in (
                ("email", patient.email, "home"),
                ("phone", patient.mobile_phone, "mobile"),
                ("phone", patient.home_phone, "home"),
            )
            if value
        ]
        if telecom:
            resource["telecom"] = telecom
    return FhirPatient.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _observation(observation: Any, report: Any, subject: dict[str, str]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{report.public_id}-{observation.sequence}",
        "status": "amended" if report.is_amended else "final",
        "code": _coding(observation.code, observation.name, observation.coding_system),
        "subject": subject,
    }
    effective = observation.observed_at or report.collected_at
    if effective:
        resource["effectiveDateTime"] = _instant(effective)
    if observation.value_numeric is not None:
        quantity: dict[str, Any] = {"value": _number(observation.value_numeric)}
        if observation.unit:
            quantity["unit"] = observation.unit
        if observation.value_comparator:
            quantity["comparator"] = observation.value_comparator
        resource["valueQuantity"] = quantity
    elif observation.value_text:
        resource["valueString"] = observation.value_text
    if observation.reference_range or observation.reference_low is not None or observation.reference_high is not None:
        reference: dict[str, Any] = {}
        if observation.reference_range:
            reference["text"] = observation.reference_range
        if observation.reference_low is not None:
            reference["low"] = {"value": _number(observation.reference_low), "unit": observation.unit or None}
        if observation.reference_high is not None:
            reference["high"] = {"value": _number(observation.reference_high), "unit": observation.unit or None}
        resource["referenceRange"] = [reference]
    if observation.interpretation:
        resource["interpretation"] = [
            _coding(observation.interpretation, observation.get_interpretation_display(), INTERPRETATION_SYSTEM)
        ]
    if observation.comment:
        resource["note"] = [{"text": observation.comment}]
    return FhirObservation.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _report(report: Any, subject: dict[str, str]) -> list[dict[str, Any]]:
    withdrawn = is_withdrawn(report)
    observations = [] if withdrawn else [_observation(o, report, subject) for o in report.observations.all()]
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(report.public_id),
        "status": "entered-in-error" if withdrawn else report.status,
        "code": _coding(report.test_code, report.test_name, report.test_coding_system),
        "subject": subject,
        "result": [{"reference": f"Observation/{o['id']}"} for o in observations] or None,
    }
    if report.collected_at:
        resource["effectiveDateTime"] = _instant(report.collected_at)
    if report.reported_at:
        resource["issued"] = _instant(report.reported_at)
    if withdrawn:
        resource["conclusion"] = WITHDRAWN_NOTE
    elif report.lab_comment:
        resource["conclusion"] = report.lab_comment
    report_resource = FhirDiagnosticReport.model_validate(resource).model_dump(mode="json", exclude_none=True)
    return [report_resource, *observations]


def _appointment(appointment: Any, subject: dict[str, str]) -> dict[str, Any]:
    description = appointment.service_name or (appointment.clinic.name if appointment.clinic else "") or "Appointment"
    resource = {
        "resourceType": "Appointment",
        "id": str(appointment.public_id),
        "status": appointment.status,
        "description": description,
        "start": _instant(appointment.start),
        "end": _instant(appointment.end),
        "participant": [{"actor": subject, "status": "accepted"}],
    }
    return FhirAppointment.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _letter(letter: Any, subject: dict[str, str]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": str(letter.public_id),
        "status": "current",
        "type": _coding(letter.document_type_code, letter.document_type),
        "subject": subject,
        "date": _instant(letter.letter_date),
        "description": letter.document_type,
        # Metadata only: the letter itself is downloaded from the Letters page.
        "content": [
            {"attachment": {"contentType": "application/pdf", "title": letter.document_type, "size": letter.size}}
        ],
    }
    if letter.author:
        resource["author"] = [{"display": letter.author}]
    return FhirDocumentReference.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _communication(message: Any, thread: Any, subject: dict[str, str]) -> dict[str, Any]:
    from_team = message.author_role == "staff"
    team = {"display": thread.care_team.name}
    person = {"display": message.author_display or "Patient"}
    resource = {
        "resourceType": "Communication",
        "id": str(message.public_id),
        "status": "completed",
        "subject": subject,
        "topic": {"text": thread.subject},
        "sent": _instant(message.created_at),
        "sender": team if from_team else person,
        "recipient": [subject if from_team else team],
        "payload": [{"contentString": message.body}],
    }
    return FhirCommunication.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _audit_event(event: Any, sentence: str, subject: dict[str, str]) -> dict[str, Any]:
    resource = {
        "resourceType": "AuditEvent",
        "id": str(event.pk),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "action": AUDIT_ACTIONS.get(event.action, "E"),
        "recorded": _instant(event.occurred_at),
        "outcome": "0",
        "outcomeDesc": sentence,
        "agent": [{"who": {"display": event.actor_name or "CarePortal"}, "requestor": True}],
        "source": {"observer": {"display": "CarePortal"}},
        "entity": [{"what": subject, "description": event.object_label}],
    }
    return FhirAuditEvent.model_validate(resource).model_dump(mode="json", exclude_none=True)


def bundle_from_contents(contents: RecordContents, *, now: datetime.datetime | None = None) -> dict[str, Any]:
    viewer = contents.viewer
    patient = _patient(viewer)
    subject = {"reference": f"Patient/{patient['id']}"}
    resources: list[dict[str, Any]] = [patient]
    for report in contents.reports:
        resources.extend(_report(report, subject))
    resources.extend(_appointment(a, subject) for a in contents.appointments)
    resources.extend(_letter(letter, subject) for letter in contents.letters)
    for copy in contents.threads:
        resources.extend(_communication(m, copy.thread, subject) for m in copy.messages)
    for event, entry in zip(contents.access_events, contents.access_log, strict=True):
        resources.append(_audit_event(event, entry.sentence, subject))
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": _instant(now or timezone.now()),
            "entry": [{"fullUrl": f"urn:careportal:{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
        }
    )
    return bundle.model_dump(mode="json", exclude_none=True)


def record_bundle(viewer: Viewer) -> dict[str, Any]:
    """A FHIR R4 collection Bundle (as JSON-ready data) of the record in view, holding only what `viewer` may
    see: Patient; DiagnosticReport and Observation (released results; a withdrawn one without values);
    Appointment; DocumentReference (letters, metadata only); Communication (messages, not staff notes);
    AuditEvent (the access log, for the patient only)."""
    return bundle_from_contents(record_contents(viewer=viewer))
