"""The clinicians' results inbox (/staff/results/): what a clinician sees, in which order, and the review actions
from a report's page. Who may not see it: another team's clinician, the helpdesk, patients — all get 404."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessAction, AccessEvent
from careportal.results.models import (
    DiagnosticReport,
    DiagnosticReportVersion,
    ReleaseMode,
    ReportAction,
    ReportStatus,
)
from tests.patients.factories import CareTeamFactory, CareTeamMembershipFactory, PatientFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory, ResultPreferenceFactory

pytestmark = pytest.mark.django_db

INBOX = reverse("results:inbox")
ACTIONS = [
    "results:inbox-report-review",
    "results:inbox-report-comment",
    "results:inbox-report-release",
    "results:inbox-report-hold",
    "results:inbox-report-unhold",
    "results:inbox-report-retract",
]


def report_url(report: DiagnosticReport, name: str = "results:inbox-report") -> str:
    return reverse(name, kwargs={"report_id": report.public_id})


@pytest.fixture
def team(clinician_membership):
    return clinician_membership.care_team


def _in_team(team, **kwargs):  # type: ignore[no-untyped-def]
    return DiagnosticReportFactory(care_team=team, **kwargs)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", response.content.decode())


def _row_order(response, names: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    return sorted(names, key=html.index)


# The list ----------------------------------------------------------------------------------------------------


def test_the_inbox_lists_the_teams_reports_with_patient_name_and_hospital_number(clinician_client, team):
    patient = PatientFactory(given_name="Ada", family_name="Lovelace", hospital_number="40012345")
    _in_team(team, patient=patient, test_name="Full blood count")
    elsewhere = DiagnosticReportFactory(
        patient=PatientFactory(family_name="Okonkwo-Blythe"),
        care_team=CareTeamFactory(name="Cardiology"),
        test_name="Troponin",
    )

    response = clinician_client.get(INBOX)

    text = _text(response)
    assert response.status_code == 200
    assert "Ada Lovelace" in text
    assert "Hospital number 40012345" in text
    assert "Full blood count" in text
    assert "Troponin" not in text
    assert elsewhere.patient.family_name not in text


def test_the_inbox_orders_unreviewed_then_critical_then_abnormal_then_newest(clinician_client, team):
    now = timezone.now()
    _in_team(team, test_name="Reviewed critical", is_critical=True, reviewed_at=now)
    _in_team(team, test_name="Old normal", collected_at=now - datetime.timedelta(days=3))
    _in_team(team, test_name="New normal", collected_at=now - datetime.timedelta(hours=1))
    _in_team(team, test_name="Abnormal one", is_abnormal=True, collected_at=now - datetime.timedelta(days=5))
    nine_days_ago = now - datetime.timedelta(days=9)
    _in_team(team, test_name="Critical one", is_critical=True, is_abnormal=True, collected_at=nine_days_ago)

    response = clinician_client.get(INBOX)

    names = ["Reviewed critical", "Old normal", "New normal", "Abnormal one", "Critical one"]
    assert _row_order(response, names) == [
        "Critical one",
        "Abnormal one",
        "New normal",
        "Old normal",
        "Reviewed critical",
    ]


def test_flags_are_words_in_tags_not_colour_alone(clinician_client, team):
    _in_team(team, is_critical=True, is_abnormal=True)
    _in_team(team, is_abnormal=True)

    html = clinician_client.get(INBOX).content.decode()

    assert re.search(r'nhsuk-tag nhsuk-tag--red"\s*>\s*Critical\s*<', html)
    assert re.search(r'nhsuk-tag nhsuk-tag--orange"\s*>\s*Abnormal\s*<', html)


def test_release_states_are_in_words(clinician_client, team, clinician_membership):
    now = timezone.now()
    user = clinician_membership.user
    due = _in_team(team, test_name="Due one")
    _in_team(team, test_name="Released one", released=True)
    _in_team(team, test_name="Held one", held_at=now, held_by=user, hold_reason="Repeat sample requested")
    _in_team(team, test_name="Review one", release_mode=ReleaseMode.AFTER_REVIEW, release_due_at=None)
    _in_team(team, test_name="Withdrawn one", released=True, retracted_at=now, retraction_reason="Wrong sample")
    waiting = _in_team(team, test_name="Histology", result_kind="histology")
    ResultPreferenceFactory(patient=waiting.patient, result_kind="histology")
    _in_team(team, test_name="Amended one", status=ReportStatus.CORRECTED, is_amended=True)
    _in_team(team, test_name="Early one", status=ReportStatus.PRELIMINARY)

    text = _text(clinician_client.get(INBOX))

    due_day = f"{timezone.localtime(due.release_due_at).day} {timezone.localtime(due.release_due_at):%B %Y}"
    assert f"Due for release on {due_day}" in text
    assert f"Released on {now.day}" in text
    assert "Held: Repeat sample requested" in text
    assert "Waiting for review before release" in text
    assert f"Withdrawn on {now.day}" in text
    assert "Patient asked to wait for a clinician" in text
    assert "Amended" in text and "Preliminary" in text and "Final" in text
    assert "Not final yet: released automatically only once the final report arrives" in text


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        ("unreviewed", {"Unreviewed", "Held"}),
        ("held", {"Held"}),
        ("released", {"Released"}),
        ("all", {"Unreviewed", "Held", "Released"}),
        ("nonsense", {"Unreviewed", "Held", "Released"}),
    ],
)
def test_filters(clinician_client, team, show, expected):
    now = timezone.now()
    _in_team(team, test_name="Unreviewed")
    _in_team(team, test_name="Held", held_at=now, hold_reason="Wait")
    _in_team(team, test_name="Released", released=True, reviewed_at=now)

    text = _text(clinician_client.get(INBOX, {"show": show}))

    shown = {name for name in ("Unreviewed", "Held", "Released") if _cell_has(text, name)}
    assert shown == expected


def _cell_has(text: str, test_name: str) -> bool:
    # The test name is the first thing in the "Test" cell.
    return re.search(rf">Test </span>\s*(?:<span>)?{test_name}\b", text) is not None


# The team picker and the audit of the rows listed are the same for every inbox: tests/staff/test_inbox.py.


def test_the_list_is_paged(clinician_client, team):
    for n in range(30):
        _in_team(team, test_name=f"Test number {n:02d}")
    first = _text(clinician_client.get(INBOX))
    second = _text(clinician_client.get(INBOX, {"page": 2}))
    # Each report's test name appears twice: in its column and in its link's hidden words (which result it opens).
    assert len(set(re.findall(r"Test number \d\d", first))) == 25
    assert len(set(re.findall(r"Test number \d\d", second))) == 5
    assert "Page 2 of 2" in first


def test_the_number_of_queries_does_not_grow_with_the_list(clinician_client, team, django_assert_num_queries):
    def make(n: int) -> None:
        for _ in range(n):
            report = _in_team(team, is_abnormal=True)
            ResultPreferenceFactory(patient=report.patient, result_kind="lab")

    make(2)
    clinician_client.get(INBOX)  # warm the session and the user
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        clinician_client.get(INBOX)
    make(18)
    with django_assert_num_queries(len(small.captured_queries)):
        response = clinician_client.get(INBOX)
    assert _text(response).count("Hospital number") == 20


# The report page ---------------------------------------------------------------------------------------------


def test_the_report_page_shows_values_versions_and_history(clinician_client, team):
    report = _in_team(team, lab_comment="Sample slightly haemolysed", is_amended=True, status=ReportStatus.CORRECTED)
    ObservationFactory(report=report, name="Haemoglobin", value_text="98", unit="g/L", reference_range="115-165")
    ObservationFactory(
        report=report, name="Potassium", value_text="6.8", unit="mmol/L", reference_range="3.5-5.3", interpretation="HH"
    )
    DiagnosticReportVersion.objects.create(
        report=report,
        version=1,
        status=ReportStatus.FINAL,
        replaced_at=timezone.now(),
        reason="corrected",
        was_released=True,
        observations=[{"name": "Potassium", "value_text": "5.9", "unit": "mmol/L", "interpretation": "H"}],
    )
    ReportAction.objects.create(report=report, kind="arrived", actor_name="CarePortal", at=timezone.now())

    response = clinician_client.get(report_url(report))

    text = _text(response)
    assert response.status_code == 200
    for expected in (
        "Haemoglobin",
        "98",
        "g/L",
        "115-165",
        "6.8",
        "Far above the reference range",
        "Critical",
        "Sample slightly haemolysed",
        "Version 1",
        "5.9",
        "The patient could see this version",
        "Arrived",
        "Amended",
    ):
        assert expected in text, expected
    event = AccessEvent.objects.get(action=AccessAction.VIEW, object_label="test result")
    assert (event.patient, event.care_team, event.object_id) == (report.patient, team, str(report.public_id))


def test_a_structured_number_keeps_its_comparator_once(clinician_client, team):
    report = _in_team(team)
    ObservationFactory(report=report, name="eGFR", value_type="SN", value_text=">90", value_comparator=">")
    html = clinician_client.get(report_url(report)).content.decode()
    assert "&gt;90" in html
    assert "&gt;&gt;90" not in html


def test_earlier_versions_with_unexpected_json_still_show(clinician_client, team):
    report = _in_team(team)
    DiagnosticReportVersion.objects.create(
        report=report, version=1, status="final", replaced_at=timezone.now(), reason="corrected", observations=[1, {}]
    )
    assert clinician_client.get(report_url(report)).status_code == 200


def test_the_report_page_offers_only_the_actions_that_make_sense(clinician_client, team):
    released = _in_team(team, released=True, reviewed_at=timezone.now())
    html = clinician_client.get(report_url(released)).content.decode()
    assert report_url(released, "results:inbox-report-retract") in html
    assert report_url(released, "results:inbox-report-release") not in html
    assert report_url(released, "results:inbox-report-hold") not in html
    assert report_url(released, "results:inbox-report-review") not in html

    held = _in_team(team, held_at=timezone.now(), hold_reason="Wait")
    html = clinician_client.get(report_url(held)).content.decode()
    assert report_url(held, "results:inbox-report-unhold") in html
    assert report_url(held, "results:inbox-report-release") not in html
    assert "This result is held, so it cannot be released" in html

    preliminary = _in_team(team, status="preliminary", release_due_at=None)
    html = clinician_client.get(report_url(preliminary)).content.decode()
    assert report_url(preliminary, "results:inbox-report-release") not in html
    assert "The lab has not sent the final report yet" in html


# Actions -----------------------------------------------------------------------------------------------------


def _post(client: Client, report: DiagnosticReport, name: str, data: dict | None = None):  # type: ignore[no-untyped-def]
    return client.post(report_url(report, name), data or {})


def _updates() -> int:
    return AccessEvent.objects.filter(action=AccessAction.UPDATE, succeeded=True).count()


@pytest.mark.parametrize(
    ("name", "data", "kind", "check"),
    [
        ("results:inbox-report-review", {}, "reviewed", lambda r: r.reviewed_at is not None),
        (
            "results:inbox-report-comment",
            {"comment-comment": "All normal."},
            "commented",
            lambda r: r.clinician_comment == "All normal.",
        ),
        ("results:inbox-report-release", {}, "released", lambda r: r.released_at is not None),
        (
            "results:inbox-report-hold",
            {"hold-reason": "Repeat sample"},
            "held",
            lambda r: r.hold_reason == "Repeat sample",
        ),
    ],
)
def test_each_action_changes_the_report_and_is_recorded(clinician_client, team, name, data, kind, check):
    report = _in_team(team)

    response = _post(clinician_client, report, name, data)

    assert response.status_code == 302
    assert response["Location"] == report_url(report)
    report.refresh_from_db()
    assert check(report)
    assert ReportAction.objects.filter(report=report, kind=kind).exists()
    assert _updates() == 1
    follow = clinician_client.get(response["Location"])
    assert "nhsuk-notification-banner--success" in follow.content.decode()


def test_unhold_and_retract_from_the_page(clinician_client, team):
    held = _in_team(team, held_at=timezone.now(), hold_reason="Wait")
    assert _post(clinician_client, held, "results:inbox-report-unhold").status_code == 302
    held.refresh_from_db()
    assert held.held_at is None

    released = _in_team(team, released=True)
    response = _post(clinician_client, released, "results:inbox-report-retract", {"retract-reason": "Wrong sample"})
    assert response.status_code == 302
    released.refresh_from_db()
    assert released.retraction_reason == "Wrong sample"
    assert _updates() == 2


@pytest.mark.parametrize(
    ("setup", "name", "data", "message"),
    [
        ({"held_at": "now", "hold_reason": "Wait"}, "results:inbox-report-release", {}, "Remove the hold"),
        ({}, "results:inbox-report-retract", {"retract-reason": "Oops"}, "nothing to withdraw"),
        ({"released": True}, "results:inbox-report-hold", {"hold-reason": "Late"}, "withdraw it"),
        ({}, "results:inbox-report-hold", {"hold-reason": "  "}, "Enter why you are holding this result"),
        ({}, "results:inbox-report-hold", {"hold-reason": "x" * 501}, "Reason must be 500 characters or fewer"),
        ({}, "results:inbox-report-comment", {"comment-comment": ""}, "Enter a comment for the patient"),
        ({}, "results:inbox-report-comment", {"comment-comment": "x" * 2001}, "2000 characters or fewer"),
        ({"released": True}, "results:inbox-report-retract", {"retract-reason": ""}, "Enter why you are withdrawing"),
        ({}, "results:inbox-report-unhold", {}, "This result is not held"),
        ({"status": "cancelled"}, "results:inbox-report-release", {}, "cancelled"),
    ],
)
def test_impossible_changes_are_refused_on_the_page_and_change_nothing(
    clinician_client, team, setup, name, data, message
):
    if setup.get("held_at") == "now":
        setup = {**setup, "held_at": timezone.now()}
    report = _in_team(team, **setup)
    before = DiagnosticReport.objects.filter(pk=report.pk).values().get()

    response = _post(clinician_client, report, name, data)

    text = _text(response)
    assert response.status_code == 400
    assert "nhsuk-error-summary" in text
    assert "There is a problem" in text
    assert message in text
    assert text.count(message) >= 1
    assert "<title>Error: " in text
    assert DiagnosticReport.objects.filter(pk=report.pk).values().get() == before
    assert not ReportAction.objects.filter(report=report).exists()
    assert _updates() == 0


def test_a_too_long_comment_is_kept_in_the_box_for_correction(clinician_client, team):
    report = _in_team(team)
    response = _post(clinician_client, report, "results:inbox-report-comment", {"comment-comment": "y" * 2001})
    assert ("y" * 2001) in response.content.decode()
    assert 'href="#id_comment-comment"' in response.content.decode()


def test_actions_need_a_csrf_token(team, clinician_membership):
    report = _in_team(team)
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician_membership.user)
    assert client.post(report_url(report, "results:inbox-report-release")).status_code == 403
    report.refresh_from_db()
    assert report.released_at is None


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_are_post_only(clinician_client, team, name):
    report = _in_team(team)
    assert clinician_client.get(report_url(report, name)).status_code == 405


# Who may not ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["results:inbox-report", *ACTIONS])
def test_a_clinician_of_another_team_gets_404_and_the_refusal_is_audited(clinician_client, team, name):
    report = DiagnosticReportFactory(
        care_team=CareTeamFactory(name="Cardiology"), released=True, held_at=None, test_name="Troponin"
    )
    before = DiagnosticReport.objects.filter(pk=report.pk).values().get()
    data = {"comment-comment": "x", "hold-reason": "x", "retract-reason": "x"}

    response = clinician_client.get(report_url(report)) if name == "results:inbox-report" else None
    if response is None:
        response = clinician_client.post(report_url(report, name), data)

    assert response.status_code == 404
    assert "Troponin" not in response.content.decode()
    assert DiagnosticReport.objects.filter(pk=report.pk).values().get() == before
    denied = AccessEvent.objects.get(action=AccessAction.DENIED)
    assert denied.patient is None
    assert denied.object_id == str(report.public_id)
    assert not AccessEvent.objects.filter(patient=report.patient).exists()


def test_a_former_team_member_gets_404(clinician_client, team, clinician_membership):
    report = _in_team(team)
    CareTeamMembershipFactory(user=clinician_membership.user, care_team__name="Cardiology")
    clinician_membership.is_active = False
    clinician_membership.save()
    assert clinician_client.get(report_url(report)).status_code == 404


@pytest.mark.parametrize("who", ["helpdesk_client", "patient_client", "proxy_client"])
def test_helpdesk_patients_and_proxies_get_404(request, team, who):
    client = request.getfixturevalue(who)
    report = _in_team(team, patient=request.getfixturevalue("patient"), released=True)

    for response in (
        client.get(INBOX),
        client.get(report_url(report)),
        client.post(report_url(report, "results:inbox-report-retract"), {"retract-reason": "x"}),
    ):
        assert response.status_code == 404
    report.refresh_from_db()
    assert report.retracted_at is None
    assert AccessEvent.objects.filter(action=AccessAction.DENIED).count() == 3


def test_signed_out_visitors_are_sent_to_sign_in(client, team):
    report = _in_team(team)
    for url in (INBOX, report_url(report)):
        response = client.get(url)
        assert response.status_code == 302
        assert "/sign-in/" in response["Location"]
