"""The FHIR part of "download my record": one collection Bundle (R4) of what the copy may hold.

Every resource is built by the FHIR API's own builders (careportal/fhir/resources.py), so the copy and an app read
the same record in the same shape, validated by the fhir.resources R4B models. The viewer is the requester rebuilt
for the copy (careportal/fhir/export_access.py `export_viewer`): their scopes are the copy's. The caller audits the
read.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from careportal.access.layer import Viewer
from careportal.access.scopes import Scope
from careportal.fhir.export_selectors import RecordContents, record_contents
from careportal.fhir.resources import (
    appointment_resource,
    audit_event_resource,
    communication_resource,
    diagnostic_report_resource,
    document_reference_resource,
    observation_resource,
    patient_resource,
    to_json,
)


def bundle_from_contents(contents: RecordContents, *, now: datetime.datetime | None = None) -> dict[str, Any]:
    viewer = contents.viewer
    now = now or timezone.now()
    base_url = settings.CAREPORTAL_FHIR_BASE_URL
    patient: Any = viewer.patient
    resources: list[Resource] = [patient_resource(patient, with_contact_details=viewer.can(Scope.DETAILS))]
    # Every row is the patient's own: give each the patient already loaded, not one query per row.
    rows: list[Any] = [*contents.reports, *contents.appointments, *contents.letters]
    for row in rows + [copy.thread for copy in contents.threads]:
        row.patient = patient
    for report in contents.reports:
        observations = list(report.observations.all())
        resources.append(diagnostic_report_resource(report, observations))
        resources.extend(observation_resource(observation) for observation in observations)
    resources.extend(appointment_resource(appointment, now=now) for appointment in contents.appointments)
    resources.extend(document_reference_resource(letter, base_url=base_url) for letter in contents.letters)
    for copy in contents.threads:
        for message in copy.messages:
            message.thread = copy.thread  # loaded with the copy: no query per message
            resources.append(communication_resource(message))
    resources.extend(audit_event_resource(event) for event in contents.access_events)
    entries = [to_json(resource) for resource in resources]
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": now.astimezone(datetime.UTC).isoformat(),
            "entry": [{"fullUrl": f"{base_url}{r['resourceType']}/{r['id']}", "resource": r} for r in entries],
        }
    )
    return to_json(bundle)


def record_bundle(viewer: Viewer) -> dict[str, Any]:
    """A FHIR R4 collection Bundle (as JSON-ready data) of the record in view, holding only what `viewer` may
    see: Patient; DiagnosticReport and Observation (released results; a withdrawn one without values);
    Appointment; DocumentReference (letters, metadata only); Communication (messages, not staff notes);
    AuditEvent (the access log, for the patient only)."""
    return bundle_from_contents(record_contents(viewer=viewer))
