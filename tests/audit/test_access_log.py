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
    assert entry.sentence == ("Dr A Okafor from Haematology viewed your blood test results on 3 November 2026 at 14:02")


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
        "Sam Jones, on your behalf, viewed your test results"
    )


def test_a_read_through_a_connected_app_names_the_app(patient):
    own = _event_at(
        "2026-11-03T09:00:00+00:00",
        actor=patient.user,
        actor_role="patient",
        patient=patient,
        object_label="test results",
        app_name="Health Diary",
    )
    assert access_log_entry(own, patient=patient).sentence == (
        "You, through Health Diary, viewed your test results on 3 November 2026 at 09:00"
    )
    relationship = ProxyRelationshipFactory(patient=patient, proxy__display_name="Sam Jones")
    proxys = _event_at(
        "2026-11-03T09:05:00+00:00",
        actor=relationship.proxy,
        actor_name="Sam Jones",
        actor_role="proxy",
        patient=patient,
        on_behalf_of=patient,
        object_label="test results",
        app_name="Health Diary",
    )
    assert access_log_entry(proxys, patient=patient).sentence.startswith(
        "Sam Jones, on your behalf, through Health Diary, viewed your test results"
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


# Whose actions the log shows, and how each line reads ------------------------------------------------------------


def _a_log_with_everyone(patient, clinician_membership, helpdesk_user):  # type: ignore[no-untyped-def]
    from tests.results.factories import DiagnosticReportFactory

    report = DiagnosticReportFactory(patient=patient, test_name="Full blood count")
    relationship = ProxyRelationshipFactory(patient=patient, proxy__display_name="Priya Patel", relationship="mother")
    _event_at(
        "2026-12-01T09:00:00+00:00",
        actor=patient.user,
        actor_name="Eleanor",
        actor_role="patient",
        patient=patient,
        object_label="letters",
    )
    _event_at(
        "2026-12-02T10:15:00+00:00",
        actor=relationship.proxy,
        actor_name="Priya Patel",
        actor_role="proxy",
        patient=patient,
        on_behalf_of=patient,
        object_label="test results",
    )
    _event_at(
        "2026-12-03T14:05:00+00:00",
        actor=helpdesk_user,
        actor_name="Sam Reid",
        actor_role="helpdesk",
        patient=patient,
        object_label="contact details",
    )
    _event_at(
        "2026-12-03T16:30:00+00:00",
        actor=clinician_membership.user,
        actor_name="Dr C Okafor",
        actor_role="clinician",
        care_team=clinician_membership.care_team,
        patient=patient,
        object_label="test result",
        object_type="results.diagnosticreport",
        object_id=str(report.public_id),
    )
    _event_at(
        "2026-12-04T07:00:00+00:00",
        actor_role="system",
        patient=patient,
        object_label="your details, updated by the hospital's records system",
    )


def _lines(response) -> list[str]:  # type: ignore[no-untyped-def]
    import re
    from html import unescape

    html = response.content.decode()
    match = re.search(r'<ul class="nhsuk-list nhsuk-list--border careportal-audit-list">(.*?)</ul>', html, re.S)
    if not match:
        return []
    return [" ".join(unescape(item).split()) for item in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)]


def test_every_line_is_a_plain_sentence_naming_who_and_what(
    patient_client, patient, clinician_membership, helpdesk_user
):
    _a_log_with_everyone(patient, clinician_membership, helpdesk_user)

    lines = _lines(patient_client.get(reverse("audit:access-log") + "?who=everyone"))

    assert "Dr C Okafor from Haematology viewed your full blood count result on 3 December 2026 at 16:30." in lines
    assert "Sam Reid from the CarePortal helpdesk viewed your contact details on 3 December 2026 at 14:05." in lines
    assert "Priya Patel (your mother), on your behalf, viewed your test results on 2 December 2026 at 10:15." in lines
    assert "You viewed your letters on 1 December 2026 at 09:00." in lines
    assert "Your details, updated by the hospital's records system on 4 December 2026 at 07:00." in lines


def test_by_default_the_log_shows_everyone_but_the_patient_first(
    patient_client, patient, clinician_membership, helpdesk_user
):
    _a_log_with_everyone(patient, clinician_membership, helpdesk_user)

    response = patient_client.get(reverse("audit:access-log"))
    lines = _lines(response)

    assert len(lines) == 4
    assert not any(line.startswith("You ") for line in lines), "the patient's own views do not bury the others"
    assert '<strong aria-current="page">Everyone but you</strong>' in response.content.decode()


@pytest.mark.parametrize(
    ("who", "starts"),
    [
        ("hospital", ["Your details, updated", "Dr C Okafor from Haematology", "Sam Reid from the CarePortal"]),
        ("acting-for-you", ["Priya Patel (your mother)"]),
        ("you", ["You viewed your record access log", "You viewed your letters"]),
    ],
)
def test_the_log_can_be_filtered_by_who(patient_client, patient, clinician_membership, helpdesk_user, who, starts):
    _a_log_with_everyone(patient, clinician_membership, helpdesk_user)

    lines = _lines(patient_client.get(reverse("audit:access-log") + f"?who={who}"))

    for line in lines:
        assert any(line.startswith(start) for start in starts), line
    for start in starts:
        assert any(line.startswith(start) for line in lines), start


@pytest.mark.parametrize(
    ("who", "empty_state"),
    [
        ("", "Nobody else has looked at or changed your record in CarePortal yet."),
        ("hospital", "Nobody at the hospital has looked at or changed your record in CarePortal yet."),
        ("acting-for-you", "Nobody acting for you has looked at or changed your record in CarePortal."),
    ],
)
def test_each_filter_has_its_own_empty_state(patient_client, who, empty_state):
    body = patient_client.get(reverse("audit:access-log") + (f"?who={who}" if who else "")).content.decode()

    assert empty_state in body


def test_an_unknown_filter_shows_the_default(patient_client):
    response = patient_client.get(reverse("audit:access-log") + "?who=9990000018")

    assert response.status_code == 200
    assert '<strong aria-current="page">Everyone but you</strong>' in response.content.decode()


def test_the_filter_links_and_paging_carry_only_a_fixed_word(patient_client, patient):
    import re

    for n in range(60):
        AccessEvent.objects.create(
            actor_name=f"Dr {n}", actor_role="clinician", patient=patient, action="view", object_label="letters"
        )

    body = patient_client.get(reverse("audit:access-log") + "?who=hospital").content.decode()

    assert "?page=2&amp;who=hospital" in body
    queries = set(re.findall(r'href="/who-has-viewed-your-record/\?([^"]*)"', body))
    allowed = {"page=2&amp;who=hospital"} | {f"who={w}" for w in ("hospital", "acting-for-you", "you", "everyone")}
    assert queries <= allowed


def test_each_filter_takes_a_constant_number_of_queries(patient_client, patient, clinician_membership):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.results.factories import DiagnosticReportFactory

    relationship = ProxyRelationshipFactory(patient=patient)

    def add_events(count: int) -> None:
        for _ in range(count):
            report = DiagnosticReportFactory(patient=patient)
            AccessEvent.objects.create(
                actor=clinician_membership.user,
                actor_name="Dr A Okafor",
                actor_role="clinician",
                care_team=clinician_membership.care_team,
                patient=patient,
                action="view",
                object_label="test result",
                object_type="results.diagnosticreport",
                object_id=str(report.public_id),
            )
            AccessEvent.objects.create(
                actor=relationship.proxy,
                actor_name="Sam Jones",
                actor_role="proxy",
                patient=patient,
                action="view",
                object_label="test results",
            )

    def queries_for(who: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert patient_client.get(reverse("audit:access-log") + f"?who={who}").status_code == 200
        return len(captured)

    add_events(3)
    patient_client.get(reverse("audit:access-log"))  # settle session bookkeeping
    few = {who: queries_for(who) for who in ("others", "everyone", "hospital", "acting-for-you", "you")}
    add_events(60)
    many = {who: queries_for(who) for who in ("others", "everyone", "hospital", "acting-for-you", "you")}
    assert many == few
