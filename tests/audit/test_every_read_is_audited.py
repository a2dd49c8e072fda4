"""Every page that shows a patient's record writes an access event for that record (issue 16, item 6). The walk
starts from every view marked `patient_area` (tests/access/patient_area.py), so a new page that shows patient data
without auditing it fails here, as does a new page nobody listed."""

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from careportal.audit.models import AccessEvent
from tests.access.patient_area import patient_area_url_names
from tests.appointments.factories import AppointmentFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory, PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

# The pages, read as the patient: url name -> URL kwargs from the record's objects.
READS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "home:home": lambda o: {},
    "results:list": lambda o: {},
    "results:report": lambda o: {"public_id": o["report"].public_id},
    "results:comments": lambda o: {"public_id": o["report"].public_id},
    "results:trend": lambda o: {"code": "HB"},
    "messaging:list": lambda o: {},
    "messaging:thread": lambda o: {"public_id": o["thread"].public_id},
    "messaging:sent": lambda o: {"public_id": o["thread"].public_id},
    "appointments:list": lambda o: {},
    "appointments:detail": lambda o: {"public_id": o["appointment"].public_id},
    "appointments:change": lambda o: {"public_id": o["appointment"].public_id},
    "appointments:calendar": lambda o: {"public_id": o["appointment"].public_id},
    "appointments:join": lambda o: {"public_id": o["video"].public_id},
    "letters:list": lambda o: {},
    "letters:letter": lambda o: {"public_id": o["letter"].public_id},
    "patients:your-details": lambda o: {},
    "patients:address": lambda o: {},
    "patients:mobile-phone": lambda o: {},
    "patients:home-phone": lambda o: {},
    "patients:contact-preferences": lambda o: {},
    "patients:email": lambda o: {},
    "audit:access-log": lambda o: {},
}
# Patient-area URLs not walked here, each with why.
NOT_WALKED = {
    "results:attachment": "a file download (needs a stored file)",
    "messaging:attachment": "a file download: tests/messaging/test_patient_pages.py checks its event",
    "letters:view": "the PDF itself (needs a stored file)",
    "letters:download": "the PDF itself: tests/letters/test_patient_pages.py checks its event",
    "export:detail": "a copy of the record: tests/fhir/test_export.py checks the build audits each part read",
    "export:download-json": "a file download: tests/fhir/test_export.py checks its event",
    "export:download-pdf": "a file download: tests/fhir/test_export.py checks its event",
    "export:request": "POST only",
    "patients:email-resend": "POST only",
    "patients:email-cancel": "POST only",
    "patients:email-sent": "a confirmation that shows no record data",
    "results:preferences": "the patient's notification choices, not their record",
    "messaging:compose": "lists care teams to write to, no record data",
    "messaging:compose-write": "a blank form to write in",
    "video:camera-check": "a camera test, no record data",
    "export:start": "explains the download before it is asked for, no record data",
}


def test_every_patient_area_url_is_walked_or_named() -> None:
    names = set(patient_area_url_names())
    assert not names - set(READS) - set(NOT_WALKED), "add them to READS or NOT_WALKED"
    assert not (set(READS) | set(NOT_WALKED)) - names, "stale names"


def test_every_read_of_the_record_writes_an_access_event() -> None:
    patient = PatientWithAccountFactory(birth_date=datetime.date(1980, 1, 1))
    team = CareTeamFactory()
    CareRelationshipFactory(patient=patient, care_team=team)
    report = DiagnosticReportFactory(patient=patient, released=True, care_team=team)
    ObservationFactory(report=report, code="HB")
    record = {
        "report": report,
        "thread": MessageFactory(thread=ThreadFactory(patient=patient, care_team=team)).thread,
        "appointment": AppointmentFactory(patient=patient, care_team=team),
        "video": AppointmentFactory(patient=patient, care_team=team, kind="video"),
        "letter": LetterFactory(patient=patient, stored=False),
    }
    client = Client()
    client.force_login(patient.user)

    not_audited = {}
    for url_name, kwargs_for in READS.items():
        before = AccessEvent.objects.filter(patient=patient, succeeded=True).count()
        response = client.get(reverse(url_name, kwargs=kwargs_for(record)))
        after = AccessEvent.objects.filter(patient=patient, succeeded=True).count()
        if response.status_code != 200 or after == before:
            not_audited[url_name] = response.status_code

    assert not not_audited, f"pages that read the record without an access event (status): {not_audited}"
