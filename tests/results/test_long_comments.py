"""Long comments from the lab (NTE): stored whole, shown cut on the report page with a link to a page that shows
them whole (through the access layer, audited; another patient's report is not found); folded away on the
clinician's page."""

import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.results.models import DiagnosticReport, DiagnosticReportVersion
from careportal.results.presenters import COMMENT_SHOWN_CHARACTERS
from tests.hl7.test_services import ack_code, receive, sample
from tests.patients.factories import PatientWithAccountFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db

WORDS = "Film reviewed by the duty haematologist; no blasts seen. "
LONG = (WORDS * 20_000)[:1_000_000].strip()  # 1 MB
ENDING = " The end of the comment."


@pytest.fixture
def patient(db):
    return PatientWithAccountFactory(hospital_number="40012345", nhs_number="9990000018")


def report_url(report: DiagnosticReport) -> str:
    return reverse("results:report", kwargs={"public_id": report.public_id})


def comments_url(report: DiagnosticReport) -> str:
    return reverse("results:comments", kwargs={"public_id": report.public_id})


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    html = html.split("<main", 1)[-1].split("</main>", 1)[0]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_1_mb_comment_from_hl7_is_stored_whole_and_shown_cut_with_a_link(patient, patient_client) -> None:
    raw = sample("oru_r01_fbc_final.hl7").replace(
        b"NTE|1|L|Microcytic", ("NTE|1|L|" + LONG + ENDING + "\rNTE|2|L|Microcytic").encode()
    )
    assert ack_code(receive(raw)) == "AA"
    report = DiagnosticReport.objects.get()
    assert report.lab_comment.startswith(LONG) and ENDING.strip() in report.lab_comment
    report.released_at = timezone.now()
    report.save(update_fields=["released_at"])

    response = patient_client.get(report_url(report))

    assert response.status_code == 200
    assert len(response.content) < 100_000
    text = text_of(response)
    assert "Film reviewed by the duty haematologist" in text
    assert ENDING.strip() not in text
    assert "…" in text
    assert f'href="{comments_url(report)}#lab-comment"' in response.content.decode()
    assert "Read the whole comment from the lab" in text

    whole = patient_client.get(comments_url(report))
    assert whole.status_code == 200
    assert 'id="lab-comment"' in whole.content.decode()
    page = text_of(whole)
    assert ENDING.strip() in page and "Microcytic picture" in page
    assert AccessEvent.objects.filter(patient=patient, object_label="test result comments", action="view").exists()


def test_the_cut_ends_at_a_word_within_the_limit(patient, patient_client) -> None:
    report = DiagnosticReportFactory(patient=patient, released=True, lab_comment=LONG)
    html = patient_client.get(report_url(report)).content.decode()
    shown = re.search(r"Comment from the lab</h2>\s*<p>(.*?)</p>", html, re.S).group(1)
    shown = unescape(shown)
    assert shown.endswith("…")
    assert len(shown) <= COMMENT_SHOWN_CHARACTERS + 1
    assert LONG.startswith(shown[:-1]) and LONG[len(shown) - 1] == " "


def test_a_comment_at_the_limit_is_shown_whole_without_a_link(patient, patient_client) -> None:
    exact = ("x" * (COMMENT_SHOWN_CHARACTERS - 4)) + " end"
    report = DiagnosticReportFactory(patient=patient, released=True, lab_comment=exact)
    response = patient_client.get(report_url(report))
    assert exact in response.content.decode()
    assert comments_url(report) not in response.content.decode()


def test_a_long_note_on_a_value_links_to_its_anchor(patient, patient_client) -> None:
    report = DiagnosticReportFactory(patient=patient, released=True)
    ObservationFactory(report=report, sequence=3, name="Haemoglobin", comment=LONG + ENDING)
    response = patient_client.get(report_url(report))
    html = response.content.decode()
    assert f'href="{comments_url(report)}#comment-3"' in html
    assert "Read the whole note on Haemoglobin" in text_of(response)
    assert ENDING.strip() not in text_of(response)
    whole = patient_client.get(comments_url(report))
    assert 'id="comment-3"' in whole.content.decode()
    assert "Note from the lab on Haemoglobin" in text_of(whole) and ENDING.strip() in text_of(whole)


def test_a_long_comment_of_an_earlier_version_links_to_its_anchor(patient, patient_client) -> None:
    report = DiagnosticReportFactory(patient=patient, released=True, is_amended=True, version=2)
    DiagnosticReportVersion.objects.create(
        report=report,
        version=1,
        status="final",
        reported_at=timezone.now(),
        replaced_at=timezone.now(),
        reason="corrected",
        was_released=True,
        lab_comment=LONG + ENDING,
        observations=[],
    )
    html = patient_client.get(report_url(report)).content.decode()
    assert f'href="{comments_url(report)}#version-1-lab-comment"' in html
    whole = patient_client.get(comments_url(report))
    assert 'id="version-1-lab-comment"' in whole.content.decode() and ENDING.strip() in text_of(whole)


def test_another_patients_comments_are_not_found_and_the_attempt_is_audited(patient_client, other_patient) -> None:
    report = DiagnosticReportFactory(patient=other_patient, released=True, lab_comment=LONG + ENDING)
    response = patient_client.get(comments_url(report))
    assert response.status_code == 404
    assert ENDING.strip() not in response.content.decode()
    assert AccessEvent.objects.filter(action="denied").count() == 1


def test_comments_of_a_report_not_released_or_withdrawn_are_not_found(patient, patient_client) -> None:
    waiting = DiagnosticReportFactory(patient=patient, lab_comment=LONG)
    withdrawn = DiagnosticReportFactory(patient=patient, released=True, retracted_at=timezone.now(), lab_comment=LONG)
    assert patient_client.get(comments_url(waiting)).status_code == 404
    assert patient_client.get(comments_url(withdrawn)).status_code == 404


def test_the_clinician_sees_the_start_and_the_whole_comment_folded_away(clinician_client, clinician_membership):
    report = DiagnosticReportFactory(
        patient=clinician_membership.care_team.care_relationships.first().patient,
        care_team=clinician_membership.care_team,
        lab_comment=LONG + ENDING,
    )
    ObservationFactory(report=report, sequence=1, name="Haemoglobin", comment=LONG + ENDING)
    response = clinician_client.get(reverse("results:inbox-report", kwargs={"report_id": report.public_id}))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Read the whole lab comment" in html and "Read the whole note on Haemoglobin" in html
    assert html.count("<details") >= 2
    assert ENDING.strip() in html  # inside the folded-away whole text, readable without JavaScript
