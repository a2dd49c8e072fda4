"""Embargo (issue 16, item 2): a result that is held, withdrawn, not yet due, or waiting for a clinician's review
shows nothing of itself on any surface the patient (or their proxy) reaches: the results pages, the home page's
count, the FHIR API (read, search, Patient/$everything), the downloaded copy of the record (JSON bundle and PDF) and
the notifications.

The held and the withdrawn reports are held and withdrawn by a clinician in the team's results inbox, as in real
use. Every report carries values no other page holds (a text value, an NTE comment, a lab comment, a clinician's
comment, a number, and for the held one its hold reason), so finding one anywhere can only mean the embargo leaked.
The control: a report the release job releases during the test carries the same kinds of values, and they must show
on every surface that shows values, so that a surface that shows nothing at all cannot pass.

A withdrawn report may say that it was withdrawn and a pending one that the test was done (DESIGN.md, Results):
their test names are not checked, only their values.
"""

import datetime
import html
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.fhir.models import RecordExport
from careportal.notifications.kinds import Kind
from careportal.notifications.models import Notification
from careportal.results.release_job import results_release_due
from tests.fhir.conftest import api_for
from tests.fhir.test_export import pdf_text
from tests.patients.factories import CareTeamFactory, CareTeamMembershipFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory
from tests.security.world import body_of

pytestmark = pytest.mark.django_db

NOW = timezone.now()

# Each state: the report's fields, and the number its value carries (unique to it).
EMBARGOED: dict[str, dict[str, Any]] = {
    # Held by a clinician in the team's inbox once due (below), with this reason.
    "held": {"release_due_at": NOW - datetime.timedelta(days=2)},
    # Released, then withdrawn by a clinician in the team's inbox (below).
    "retracted": {
        "released_at": NOW - datetime.timedelta(days=5),
        "release_notified_at": NOW - datetime.timedelta(days=5),
    },
    "notdue": {"release_due_at": NOW + datetime.timedelta(days=3)},
    "review": {"release_mode": "after_review", "release_due_at": None, "release_rule_description": "After review"},
}
HOLD_REASON = "Qzheldwhy: to discuss in clinic first"
NUMBERS = {"held": "7101.25", "retracted": "7202.25", "notdue": "7303.25", "review": "7404.25", "due": "7505.25"}


def _markers(state: str) -> list[str]:
    return [f"Qz{state}value", f"Qz{state}note", f"Qz{state}lab", f"Qz{state}doctor", NUMBERS[state]]


def _report(patient: Any, state: str, fields: dict[str, Any], team: Any) -> Any:
    value, note, lab, doctor, number = _markers(state)
    report = DiagnosticReportFactory(
        patient=patient,
        care_team=team,
        test_name=f"Embargo test {state}",
        test_code=f"EMB{state.upper()}",
        collected_at=NOW - datetime.timedelta(days=6),
        lab_comment=lab,
        clinician_comment=doctor,
        **fields,
    )
    ObservationFactory(
        report=report,
        sequence=1,
        code=f"QT{state.upper()}",
        name="Embargo level",
        value_numeric=Decimal(number),
        value_text=number,
        interpretation="",
    )
    ObservationFactory(
        report=report,
        sequence=2,
        code=f"QS{state.upper()}",
        name="Embargo finding",
        value_type="ST",
        value_text=value,
        value_numeric=None,
        comment=note,
        reference_range="",
        interpretation="",
    )
    return report


@pytest.fixture
def record(settings, tmp_path):
    settings.LETTER_ROOT = tmp_path / "letters"
    patient = PatientWithAccountFactory()
    clinician = CareTeamMembershipFactory(care_team=CareTeamFactory(name="Embargo team")).user
    team = clinician.care_team_memberships.get().care_team
    reports = {state: _report(patient, state, fields, team) for state, fields in EMBARGOED.items()}
    # The control: due now, released by the job during the test.
    reports["due"] = _report(patient, "due", {"release_due_at": NOW - datetime.timedelta(hours=1)}, team)
    # Held and withdrawn the way clinicians do it: in their team's inbox.
    inbox = _signed_in(clinician)
    for state, name, data in (
        ("held", "results:inbox-report-hold", {"hold-reason": HOLD_REASON}),
        ("retracted", "results:inbox-report-retract", {"retract-reason": "Sample mislabelled"}),
    ):
        response = inbox.post(reverse(name, kwargs={"report_id": reports[state].public_id}), data)
        assert response.status_code == 302, body_of(response)[:2000]
    reports["held"].refresh_from_db()
    reports["retracted"].refresh_from_db()
    assert reports["held"].is_held and reports["retracted"].is_retracted
    proxy = ProxyRelationshipFactory(patient=patient, basis="granted", relationship="husband").proxy
    return patient, reports, proxy


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response: Any) -> str:
    return html.unescape(body_of(response))


def _html_surfaces(client: Client, reports: dict[str, Any]) -> dict[str, str]:
    """Every results page, and the home page, as this client sees them."""
    pages = {
        "home": _text(client.get(reverse("home:home"))),
        "results list": _text(client.get(reverse("results:list"))),
    }
    for state, report in reports.items():
        for name in ("results:report", "results:comments"):
            pages[f"{name} {state}"] = _text(client.get(reverse(name, kwargs={"public_id": report.public_id})))
        pages[f"trend {state}"] = _text(client.get(reverse("results:trend", kwargs={"code": f"QT{state.upper()}"})))
    return pages


def _fhir_surfaces(patient: Any, reports: dict[str, Any]) -> dict[str, str]:
    api = api_for(patient.user, patient)
    surfaces = {}
    for kind in ("Observation", "DiagnosticReport"):
        surfaces[f"{kind} search"] = body_of(api.get(kind, {"_count": "100"}))
        surfaces[f"{kind} search by patient"] = body_of(api.get(kind, {"patient": str(patient.public_id)}))
    everything = []
    url = f"Patient/{patient.public_id}/$everything"
    while url:
        page = api.get(url)
        everything.append(body_of(page))
        url = next((link["url"] for link in page.json().get("link", []) if link["relation"] == "next"), "")
        if url.startswith("http"):
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
    surfaces["Patient/$everything"] = "\n".join(everything)
    for state, report in reports.items():
        surfaces[f"DiagnosticReport read {state}"] = body_of(api.get(f"DiagnosticReport/{report.public_id}"))
        for sequence in (1, 2):
            surfaces[f"Observation read {state} {sequence}"] = body_of(
                api.get(f"Observation/{report.public_id}-{sequence}")
            )
    return surfaces


def _download_surfaces(patient: Any, client: Client, django_capture_on_commit_callbacks) -> dict[str, str]:
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("export:request")).status_code == 302
    export = RecordExport.objects.get(patient=patient)
    assert export.status == "ready", export.error
    kwargs = {"public_id": export.public_id}
    return {
        "record download (JSON)": body_of(client.get(reverse("export:download-json", kwargs=kwargs))),
        "record download (PDF)": pdf_text(
            b"".join(client.get(reverse("export:download-pdf", kwargs=kwargs)).streaming_content)
        ),
    }


def _notification_texts(mailoutbox: list[Any]) -> str:
    rows = Notification.objects.all()
    texts = [json.dumps(row.personalisation) for row in rows]
    texts += [f"{mail.subject}\n{mail.body}\n{getattr(mail, 'alternatives', '')}" for mail in mailoutbox]
    return "\n".join(texts)


def test_an_embargoed_result_is_on_no_surface_and_a_released_one_is_on_each(
    record, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    patient, reports, proxy = record
    with django_capture_on_commit_callbacks(execute=True):
        assert results_release_due(now=timezone.now()) == 1, "the job released an embargoed report, or not the due one"
    patient_client = _signed_in(patient.user)

    surfaces: dict[str, str] = {}
    for who, client in (("patient", patient_client), ("proxy", _signed_in(proxy))):
        surfaces |= {f"{who}: {name}": text for name, text in _html_surfaces(client, reports).items()}
    surfaces |= _fhir_surfaces(patient, reports)
    surfaces |= _download_surfaces(patient, patient_client, django_capture_on_commit_callbacks)
    surfaces["notifications"] = _notification_texts(mailoutbox)

    leaks = [
        f"{surface}: {marker}"
        for surface, text in surfaces.items()
        for state in EMBARGOED
        for marker in _markers(state) + ([HOLD_REASON[:10]] if state == "held" else [])
        if marker in text
    ]
    assert not leaks, "\n".join(leaks)

    # The control: the released report's values are on every surface that shows values.
    value, note, lab, doctor, number = _markers("due")
    shows_values = [
        "patient: results:report due",
        "proxy: results:report due",
        "Observation search",
        "Observation read due 2",
        "Patient/$everything",
        "record download (JSON)",
        "record download (PDF)",
    ]
    missing = [name for name in shows_values if value not in surfaces[name]]
    assert not missing, f"the released result's value is missing from {missing}"
    assert number in surfaces["patient: trend due"] and lab in surfaces["patient: results:report due"]
    assert lab in surfaces["DiagnosticReport read due"] and doctor in surfaces["DiagnosticReport search"]
    assert note in surfaces["Observation read due 2"] and number in surfaces["record download (JSON)"]
    # The home page counts the released report only; one notice, for the released report only, without its values.
    for who in ("patient", "proxy"):
        assert "1 test result is ready to view." in surfaces[f"{who}: home"], who
    notices = Notification.objects.filter(kind=Kind.RESULT_RELEASED)
    assert {n.user for n in notices} == {patient.user, proxy}
    assert not any(marker in surfaces["notifications"] for marker in _markers("due"))
    print(f"\nEmbargo: {len(surfaces)} surfaces, {len(EMBARGOED)} embargoed states")
