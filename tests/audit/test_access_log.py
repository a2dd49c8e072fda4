import datetime

import pytest
import time_machine
from django.urls import reverse

from careportal.audit.models import AccessEvent
from careportal.audit.presenters import access_log_entry
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


def _event_at(when: str, **fields):  # type: ignore[no-untyped-def]
    with time_machine.travel(datetime.datetime.fromisoformat(when), tick=False):
        return AccessEvent.objects.create(action="view", **fields)


def test_a_clinicians_view_reads_as_plain_english(patient, clinician_membership):
    event = _event_at(
        "2026-11-03T14:02:00+00:00",
        actor=clinician_membership.user,
        actor_name="Dr A Okafor",
        actor_role="clinician",
        care_team=clinician_membership.care_team,
        patient=patient,
        object_label="blood test results",
    )
    entry = access_log_entry(event, patient=patient)
    assert entry.sentence == ("Dr A Okafor, Haematology, viewed your blood test results on 3 November 2026 at 14:02")


def test_summer_times_are_shown_in_uk_local_time(patient):
    event = _event_at(
        "2026-07-01T08:30:00+00:00",
        actor=patient.user,
        actor_role="patient",
        patient=patient,
        object_label="letters",
    )
    assert access_log_entry(event, patient=patient).sentence == "You viewed your letters on 1 July 2026 at 09:30"


def test_a_proxys_view_says_they_acted_for_the_patient(patient):
    relationship = ProxyRelationshipFactory(patient=patient, proxy__display_name="Sam Jones")
    event = _event_at(
        "2026-11-03T09:00:00+00:00",
        actor=relationship.proxy,
        actor_name="Sam Jones",
        actor_role="proxy",
        patient=patient,
        on_behalf_of=patient,
        object_label="test results",
    )
    assert access_log_entry(event, patient=patient).sentence.startswith(
        "Sam Jones (acting for you) viewed your test results"
    )


def test_the_access_log_page_lists_the_patients_own_events_newest_first(patient_client, patient, other_patient):
    _event_at(
        "2026-11-01T10:00:00+00:00",
        actor_name="Dr B",
        actor_role="clinician",
        patient=patient,
        object_label="letters",
    )
    _event_at(
        "2026-11-02T10:00:00+00:00",
        actor_name="Dr C",
        actor_role="clinician",
        patient=patient,
        object_label="results",
    )
    _event_at(
        "2026-11-02T11:00:00+00:00",
        actor_name="Dr D",
        actor_role="clinician",
        patient=other_patient,
        object_label="x",
    )
    body = patient_client.get(reverse("audit:access-log")).content.decode()
    assert body.index("Dr C viewed your results") < body.index("Dr B viewed your letters")
    assert "Dr D" not in body


def test_refused_attempts_are_not_shown_in_the_patients_log(patient_client, patient):
    AccessEvent.objects.create(
        actor_role="patient", patient=patient, action="denied", object_label="x", succeeded=False
    )
    body = patient_client.get(reverse("audit:access-log")).content.decode()
    assert "was refused" not in body


def test_the_access_log_is_paged_with_a_constant_number_of_queries(patient_client, patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert patient_client.get(reverse("audit:access-log")).status_code == 200
        return len(captured)

    def add_events(count: int) -> None:
        for n in range(count):
            AccessEvent.objects.create(
                actor_name=f"Dr {n}", actor_role="clinician", patient=patient, action="view", object_label="letters"
            )

    add_events(5)
    patient_client.get(reverse("audit:access-log"))  # settle session bookkeeping
    few = queries_for_a_page()
    add_events(200)
    many = queries_for_a_page()
    assert many == few
    response = patient_client.get(reverse("audit:access-log"))
    assert "Page 2 of 5" in response.content.decode()


def test_a_nonsense_page_number_shows_the_first_or_last_page(patient_client):
    assert patient_client.get(reverse("audit:access-log") + "?page=abc").status_code == 200
    assert patient_client.get(reverse("audit:access-log") + "?page=99999").status_code == 200


def test_events_older_than_the_configured_window_are_not_shown(patient_client, patient, settings):
    settings.CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS = 8
    _event_at(
        "2017-01-01T10:00:00+00:00", actor_name="Dr Old", actor_role="clinician", patient=patient, object_label="x"
    )
    _event_at(
        "2025-01-01T10:00:00+00:00", actor_name="Dr New", actor_role="clinician", patient=patient, object_label="x"
    )
    body = patient_client.get(reverse("audit:access-log")).content.decode()
    assert "Dr New" in body
    assert "Dr Old" not in body


def test_the_log_includes_events_of_records_the_pas_merged_into_the_patients(patient_client, patient):
    from django.utils import timezone

    from tests.patients.factories import PatientFactory

    older = PatientFactory(merged_into=patient, merged_at=timezone.now())
    oldest = PatientFactory(merged_into=older, merged_at=timezone.now())
    unrelated = PatientFactory()
    for record, name in [(older, "Dr Older"), (oldest, "Dr Oldest"), (unrelated, "Dr Elsewhere")]:
        _event_at(
            "2026-11-01T10:00:00+00:00", actor_name=name, actor_role="clinician", patient=record, object_label="letters"
        )

    body = patient_client.get(reverse("audit:access-log")).content.decode()

    assert "Dr Older viewed your letters" in body and "Dr Oldest viewed your letters" in body
    assert "Dr Elsewhere" not in body
