"""Every patient-area page speaks to the patient about their own record ("you", "your") and about the patient, by
first name, to someone acting for them ("Arjun has no letters", "How we send Arjun's letters")."""

import re
from html import unescape

import pytest
from django.urls import reverse

from careportal.patients.voice import Voice
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import CareRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory, ResultPreferenceFactory

pytestmark = pytest.mark.django_db

# Words that address the reader as the person whose record it is. On a proxy's pages, each one would speak to the
# parent or carer about the child's record as if it were theirs.
SECOND_PERSON = re.compile(
    r"\byour\b|\byou have\b|\byou asked\b|\bto you\b|\bfor you\b|\breferred you\b|\babout you\b", re.IGNORECASE
)
# Text genuinely about the signed-in person themself, whoever's record they are looking at.
ABOUT_THE_READER = [
    "your password",  # the "Sign-in and security" card: the proxy's own account
    "your own account",  # the same card, saying so to someone acting for another person
    "you have been given access",  # the proxy's home: what the proxy themself may see
]


def main_text(response) -> str:  # type: ignore[no-untyped-def]
    """The page's title and main content, tags removed and spaces collapsed (the header and footer speak of the
    reader's own account and are the same on every page)."""
    html = response.content.decode()
    title = html.split("<title>", 1)[-1].split("</title>", 1)[0]
    main = html.split("<main", 1)[-1].split("</main>", 1)[0]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", f"{title} {main}")).split())


def second_person_phrases(text: str) -> list[str]:
    for allowed in ABOUT_THE_READER:
        text = re.sub(re.escape(allowed), "", text, flags=re.IGNORECASE)
    return [text[max(0, m.start() - 50) : m.end() + 30] for m in SECOND_PERSON.finditer(text)]


def _a_full_record(patient) -> list[str]:  # type: ignore[no-untyped-def]
    """A record with something on every page: a released result with a note and a value to compare, a scan report,
    a result waiting for a clinician, a "wait for my clinician" choice and a conversation. Returns the pages."""
    blood = DiagnosticReportFactory(
        patient=patient, released=True, clinician_comment="Nothing to worry about.", test_code="FBC"
    )
    # A value given as a limit that the range does not settle: "Not compared: ask … clinician".
    ObservationFactory(
        report=blood,
        interpretation="",
        value_text="<5",
        value_comparator="<",
        value_numeric=5,
        reference_range="3-10",
        reference_low=3,
        reference_high=10,
    )
    scan = DiagnosticReportFactory(
        patient=patient, released=True, result_kind="imaging", test_code="CTC", test_name="CT chest"
    )
    waiting = DiagnosticReportFactory(patient=patient, release_mode="after_review", release_due_at=None)
    ResultPreferenceFactory(patient=patient, result_kind="genetics")
    care = CareRelationshipFactory(patient=patient)
    MessageFactory(thread=ThreadFactory(patient=patient, care_team=care.care_team))
    return [
        reverse("home:home"),
        reverse("patients:your-details"),
        reverse("results:list"),
        reverse("results:report", kwargs={"public_id": blood.public_id}),
        reverse("results:report", kwargs={"public_id": scan.public_id}),
        reverse("results:report", kwargs={"public_id": waiting.public_id}),
        reverse("results:trend", kwargs={"code": "HB"}),
        reverse("results:preferences"),
        reverse("messaging:list"),
    ]


def _an_empty_record() -> list[str]:
    return [reverse("home:home"), reverse("results:list"), reverse("messaging:list")]


@pytest.mark.parametrize("filled", [True, False], ids=["full record", "empty record"])
def test_no_page_of_a_childs_record_speaks_to_the_proxy_as_if_it_were_theirs(proxy_client, proxy_relationship, filled):
    child = proxy_relationship.patient
    pages = _a_full_record(child) if filled else _an_empty_record()
    for url in pages:
        response = proxy_client.get(url)
        assert response.status_code == 200, url
        text = main_text(response)
        assert second_person_phrases(text) == [], url
        assert child.given_name in text, url
        if filled and url.endswith(f"{pages[3].rstrip('/').rsplit('/', 1)[-1]}/"):
            assert f"Not compared: ask {child.given_name}'s clinician" in text
            assert f"A note from {child.given_name}'s clinician" in text


def test_the_proxy_reads_about_the_child_by_first_name(proxy_client, proxy_relationship):
    name = proxy_relationship.patient.given_name
    home = main_text(proxy_client.get(reverse("home:home")))
    details = main_text(proxy_client.get(reverse("patients:your-details")))
    results = main_text(proxy_client.get(reverse("results:list")))
    messages = main_text(proxy_client.get(reverse("messaging:list")))

    assert f"{name} has no upcoming appointments." in home
    assert f"{name} has no letters. Letters from {name}'s clinics" in home
    assert f"{name} has no messages. Replies from {name}'s care teams" in home
    assert f"{name}'s details" in home
    assert f"{name}'s details" in details and f"How we send {name}'s letters" in details
    assert f"{name} has no test results to show yet." in results
    assert f"{name} has no messages." in messages


def test_the_patient_reads_about_their_own_record_as_you(patient_client, patient):
    home = main_text(patient_client.get(reverse("home:home")))
    details = main_text(patient_client.get(reverse("patients:your-details")))
    results = main_text(patient_client.get(reverse("results:list")))
    messages = main_text(patient_client.get(reverse("messaging:list")))
    log = main_text(patient_client.get(reverse("audit:access-log")))

    assert "You have no upcoming appointments." in home
    assert "You have no letters. Letters from your clinics" in home
    assert "Replies from your care teams" in home
    assert "Your details" in home and "Who has viewed your record" in home
    assert "Your details" in details and "How we send your letters" in details
    assert "You have no test results to show yet." in results
    assert "You have no messages." in messages
    assert "Who has viewed your record" in log


def test_a_full_record_speaks_to_the_patient(patient_client, patient):
    pages = _a_full_record(patient)
    for url in pages:
        assert patient_client.get(url).status_code == 200, url
    report = main_text(patient_client.get(pages[3]))
    assert "A note from your clinician" in report
    assert "Released to you on" in report
    assert "Not compared: ask your clinician" in report


def test_a_proxy_never_reaches_who_has_viewed_the_record(proxy_client):
    assert proxy_client.get(reverse("audit:access-log")).status_code == 404


def test_the_voice_gives_the_possessive_and_the_subject():
    own, other = Voice(own=True), Voice(own=False, name="Arjun")
    assert (own.has, own.possessive, own.Possessive, own.subject) == ("You have", "your", "Your", "you")
    assert (other.has, other.possessive, other.Possessive, other.subject) == (
        "Arjun has",
        "Arjun's",
        "Arjun's",
        "Arjun",
    )
