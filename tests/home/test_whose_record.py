"""Every patient-area page says whose record it is to someone acting for another person: in the caption above the
heading, in the page title, and in the line under the header. The patient reading their own record is not told
"Arjun Patel's record" anywhere. The walk finds every patient-area page itself (the `patient_area` decorator marks
them), so a new page with no entry here fails the suite."""

import datetime
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careportal.home.presenters import relationship_to_proxy
from tests.access.patient_area import patient_area_url_names
from tests.accounts.factories import UserFactory
from tests.appointments.factories import AppointmentFactory
from tests.letters.factories import LetterFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareRelationshipFactory, CareTeamFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.django_db


PATIENT_AREA_URLS = set(patient_area_url_names())

# The pages: url name -> URL kwargs from the record's objects.
PAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "home:home": lambda o: {},
    "results:list": lambda o: {},
    "results:preferences": lambda o: {},
    "results:report": lambda o: {"public_id": o["report"].public_id},
    "results:comments": lambda o: {"public_id": o["report"].public_id},
    "results:trend": lambda o: {"code": "HB"},
    "messaging:list": lambda o: {},
    "messaging:compose": lambda o: {},
    "messaging:compose-write": lambda o: {},
    "messaging:thread": lambda o: {"public_id": o["thread"].public_id},
    "messaging:sent": lambda o: {"public_id": o["thread"].public_id},
    "appointments:list": lambda o: {},
    "appointments:detail": lambda o: {"public_id": o["appointment"].public_id},
    "appointments:change": lambda o: {"public_id": o["appointment"].public_id},
    "appointments:join": lambda o: {"public_id": o["video"].public_id},
    "video:camera-check": lambda o: {},
    "letters:list": lambda o: {},
    "letters:letter": lambda o: {"public_id": o["letter"].public_id},
    "patients:your-details": lambda o: {},
    "patients:address": lambda o: {},
    "patients:mobile-phone": lambda o: {},
    "patients:home-phone": lambda o: {},
    "patients:contact-preferences": lambda o: {},
    "export:start": lambda o: {},
}
# Patient-area URLs that are not pages, or not pages a proxy may open (each has its own tests).
NOT_PAGES = {
    "results:attachment": "a file download",
    "messaging:attachment": "a file download",
    "letters:view": "the PDF itself",
    "letters:download": "the PDF itself",
    "appointments:calendar": "a calendar file",
    "patients:email": "the patient's own sign-in address: a proxy gets 404 (tests/patients)",
    "patients:email-sent": "the patient's own sign-in address: a proxy gets 404 (tests/patients)",
    "patients:email-resend": "POST only, redirects",
    "patients:email-cancel": "POST only, redirects",
    "audit:access-log": "the patient's own: a proxy gets 404; walked as the patient below",
    "export:request": "POST only, redirects",
    "export:detail": "a copy the proxy asked for: its caption is tested in tests/fhir/test_export.py",
    "export:download-json": "a file download",
    "export:download-pdf": "a file download",
}


def test_every_patient_area_url_is_walked_or_named_as_not_a_page() -> None:
    missing = PATIENT_AREA_URLS - set(PAGES) - set(NOT_PAGES)
    assert not missing, f"Add these patient-area URLs to tests/home/test_whose_record.py: {sorted(missing)}"
    stale = (set(PAGES) | set(NOT_PAGES)) - PATIENT_AREA_URLS
    assert not stale, f"tests/home/test_whose_record.py names URLs that are not patient-area pages: {sorted(stale)}"


@pytest.fixture
def record() -> dict[str, Any]:
    """A child's record with one of everything, and a parent acting for the child."""
    child = PatientWithAccountFactory(given_name="Arjun", family_name="Patel", birth_date=datetime.date(2015, 6, 1))
    team = CareTeamFactory(name="Paediatric urology")
    CareRelationshipFactory(patient=child, care_team=team)
    report = DiagnosticReportFactory(patient=child, released=True, care_team=team)
    ObservationFactory(report=report, code="HB")
    thread = MessageFactory(thread=ThreadFactory(patient=child, care_team=team)).thread
    appointment = AppointmentFactory(patient=child, care_team=team)
    video = AppointmentFactory(patient=child, care_team=team, kind="video")
    letter = LetterFactory(patient=child, stored=False)
    parent = UserFactory(first_name="Priya", last_name="Patel")
    ProxyRelationshipFactory(proxy=parent, patient=child, relationship="mother", valid_from=child.birth_date)
    return {
        "child": child,
        "parent": parent,
        "report": report,
        "thread": thread,
        "appointment": appointment,
        "video": video,
        "letter": letter,
        "team": team,
    }


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _get(client: Client, url_name: str, record: dict[str, Any]) -> Any:
    if url_name == "messaging:compose-write":
        # The page after choosing a team on the compose page.
        client.post(reverse("messaging:compose"), {"care_team": str(record["team"].public_id), "topic": "care"})
    return client.get(reverse(url_name, kwargs=PAGES[url_name](record)))


def _title(response: Any) -> str:
    match = re.search(r"<title>(.*?)</title>", response.content.decode(), re.S)
    assert match, "the page has no title"
    return html.unescape(match.group(1))


def _heading_area(response: Any) -> str:
    """The text from the start of the page's main content to the end of its first level-1 heading: the caption and
    the heading (or the panel's heading)."""
    body = response.content.decode()
    start = body.index('id="maincontent"')
    end = body.index("</h1>", start)
    return html.unescape(re.sub(r"<[^>]+>", " ", body[start:end]))


def _record_bar(response: Any) -> str:
    match = re.search(r'<section class="careportal-record-bar".*?</section>', response.content.decode(), re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(0))) if match else ""


@pytest.mark.parametrize("url_name", sorted(PAGES))
def test_a_proxy_reads_whose_record_it_is_in_the_heading_and_title(url_name: str, record: dict[str, Any]) -> None:
    response = _get(_signed_in(record["parent"]), url_name, record)

    assert response.status_code == 200, response
    assert "Arjun Patel" in _heading_area(response)
    assert "Arjun Patel's record – CarePortal – NHS" in _title(response)
    assert "Viewing Arjun Patel's record" in " ".join(_record_bar(response).split())


@pytest.mark.parametrize("url_name", sorted(PAGES))
def test_the_patient_is_never_told_it_is_someone_elses_record(url_name: str, record: dict[str, Any]) -> None:
    response = _get(_signed_in(record["child"].user), url_name, record)

    assert response.status_code == 200, response
    for text in (_heading_area(response), _title(response)):
        assert "'s record" not in text
        assert "record of" not in text.lower()
    assert _record_bar(response) == ""  # one record only: nothing to switch to


def test_the_access_log_is_the_patients_own_and_not_captioned(record: dict[str, Any]) -> None:
    response = _signed_in(record["child"].user).get(reverse("audit:access-log"))
    assert response.status_code == 200
    assert "'s record" not in _heading_area(response) + _title(response)


# Choosing whose record, and switching ---------------------------------------------------------------------------


@pytest.fixture
def parent_who_is_a_patient(record: dict[str, Any]) -> Any:
    """Priya Patel, who has her own record and acts for Arjun."""
    PatientWithAccountFactory(user=record["parent"], given_name="Priya", family_name="Patel")
    return record["parent"]


def test_the_choose_page_reads_you_and_the_childs_name_with_what_each_gives(
    record: dict[str, Any], parent_who_is_a_patient: Any
) -> None:
    response = _signed_in(parent_who_is_a_patient).get(reverse("home:choose"))

    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())
    assert "Whose record do you want to see?" in text
    assert "You Your own record: everything in it" in text
    assert (
        "Arjun Patel (your child) You can see test results, messages, appointments, letters and contact details."
        in text
    )


def test_a_narrowed_parent_is_told_they_see_appointments_only(record: dict[str, Any], parent_who_is_a_patient: Any):
    record["child"].birth_date = timezone.localdate().replace(year=timezone.localdate().year - 17)
    record["child"].save()

    response = _signed_in(parent_who_is_a_patient).get(reverse("home:choose"))

    assert "You can see appointments." in response.content.decode()


@pytest.mark.parametrize(
    ("relationship", "words"),
    [
        ("mother", "your child"),
        ("Father", "your child"),
        ("legal  guardian", "your child"),
        ("carer", "you are their carer"),
        ("wife", "you are their wife"),
        ("", "you act for them"),
    ],
)
def test_how_the_patient_is_related_to_the_proxy(relationship: str, words: str) -> None:
    assert relationship_to_proxy(relationship) == words


def test_someone_with_two_records_sees_switch_on_every_page(record: dict[str, Any], parent_who_is_a_patient: Any):
    client = _signed_in(parent_who_is_a_patient)
    client.post(reverse("home:act-for", args=[record["child"].public_id]))

    page = client.get(reverse("results:list"))
    bar = " ".join(_record_bar(page).split())
    assert bar == "Viewing Arjun Patel's record · Switch to another person's record"
    assert f'href="{reverse("home:choose")}"' in page.content.decode()

    client.post(reverse("home:act-for", args=[parent_who_is_a_patient.patient.public_id]))
    own = client.get(reverse("results:list"))
    assert " ".join(_record_bar(own).split()) == "Viewing your own record · Switch to another person's record"
    assert "'s record" not in _title(own)


def test_a_proxy_for_one_person_is_told_whose_record_but_offered_no_switch(record: dict[str, Any]) -> None:
    page = _signed_in(record["parent"]).get(reverse("home:home"))
    assert " ".join(_record_bar(page).split()) == "Viewing Arjun Patel's record"
    assert "Switch" not in _record_bar(page)


def test_pages_that_are_not_about_a_record_have_no_record_line(record: dict[str, Any]) -> None:
    client = _signed_in(record["parent"])
    for url in (reverse("accounts:security"), reverse("home:choose")):
        page = client.get(url)
        assert page.status_code == 200
        assert _record_bar(page) == ""
        assert "Arjun Patel's record" not in _title(page)


# Pages shown after a form is sent ------------------------------------------------------------------------------


def _posted_pages(client: Client, record: dict[str, Any]) -> dict[str, Any]:
    change = reverse("appointments:change", args=[record["appointment"].public_id])
    client.post(reverse("messaging:compose"), {"care_team": str(record["team"].public_id), "topic": "care"})
    return {
        "a form with errors": client.post(change, {"action": "", "reason": ""}),
        "request sent": client.post(change, {"action": "cancel", "reason": "We are away", "preferred": ""}),
        "urgent help": client.post(
            reverse("messaging:compose-write"),
            {"care_team": str(record["team"].public_id), "subject": "Pain", "body": "He has chest pain"},
        ),
    }


def test_pages_after_a_form_say_whose_record_it_is_to_a_proxy(record: dict[str, Any]) -> None:
    for what, response in _posted_pages(_signed_in(record["parent"]), record).items():
        assert response.status_code in (200, 400), what
        assert "Arjun Patel's record" in _heading_area(response), what
        assert "Arjun Patel's record – CarePortal – NHS" in _title(response), what


def test_pages_after_a_form_do_not_say_someone_elses_record_to_the_patient(record: dict[str, Any]) -> None:
    for what, response in _posted_pages(_signed_in(record["child"].user), record).items():
        assert response.status_code in (200, 400), what
        assert "'s record" not in _heading_area(response) + _title(response), what


def test_after_signing_in_someone_with_two_records_chooses_first(record: dict[str, Any], parent_who_is_a_patient: Any):
    client = _signed_in(parent_who_is_a_patient)

    response = client.get(reverse("home:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("home:choose")

    client.post(reverse("home:act-for", args=[record["child"].public_id]))
    assert client.get(reverse("home:home")).status_code == 200


def test_someone_with_one_record_goes_straight_home(record: dict[str, Any]) -> None:
    assert _signed_in(record["parent"]).get(reverse("home:home")).status_code == 200
    assert _signed_in(record["child"].user).get(reverse("home:home")).status_code == 200
