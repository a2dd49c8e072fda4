"""The patient's letters pages (/letters/): the list, a letter's page, opening and downloading the PDF; proxies;
another patient's letter; the audit trail; the query count."""

import datetime
import html

import pytest
from django.test import Client
from django.urls import reverse

from careportal.audit.models import AccessEvent
from careportal.letters.models import LetterStatus
from careportal.letters.storage import letter_file_name, letter_storage
from tests.letters.factories import LetterFactory
from tests.letters.helpers import sha256, stored_letter
from tests.patients.factories import CareTeamFactory, PatientWithAccountFactory
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


def _when(day: int) -> datetime.datetime:
    return datetime.datetime(2026, 11, day, 12, 0, tzinfo=datetime.UTC)


def test_the_list_shows_letters_newest_first_with_date_team_and_type(patient_client, patient):
    older = LetterFactory(patient=patient, letter_date=_when(2), care_team=CareTeamFactory(name="Dermatology"))
    newer = LetterFactory(
        patient=patient,
        letter_date=_when(6),
        care_team=CareTeamFactory(name="Haematology"),
        document_type="Discharge letter",
    )

    response = patient_client.get(reverse("letters:list"))

    assert response.status_code == 200
    text = response.content.decode()
    assert text.index("Discharge letter") < text.index("Clinic letter")
    assert "6 November 2026 · Haematology" in text
    assert "2 November 2026 · Dermatology" in text
    assert reverse("letters:letter", kwargs={"public_id": newer.public_id}) in text
    assert reverse("letters:letter", kwargs={"public_id": older.public_id}) in text


def test_the_list_has_an_empty_state(patient_client):
    text = patient_client.get(reverse("letters:list")).content.decode()

    assert "No letters yet" in text
    assert "You have no letters." in text


def test_a_proxy_reads_about_the_patient_in_the_third_person(proxy_client, proxy_relationship):
    text = html.unescape(proxy_client.get(reverse("letters:list")).content.decode())

    name = proxy_relationship.patient.given_name
    assert f"{name} has no letters" in text
    assert f"{name}'s clinics" in text


def test_a_withdrawn_letter_is_not_listed_and_its_page_is_not_found(patient_client, patient):
    letter = LetterFactory(patient=patient, status=LetterStatus.ENTERED_IN_ERROR)

    assert "Clinic letter" not in patient_client.get(reverse("letters:list")).content.decode()
    assert patient_client.get(reverse("letters:letter", kwargs={"public_id": letter.public_id})).status_code == 404


def test_the_letters_page_offers_to_open_and_download_with_the_size(patient_client, patient):
    letter = LetterFactory(patient=patient, care_team=CareTeamFactory(name="Haematology"), size=123_000)

    response = patient_client.get(reverse("letters:letter", kwargs={"public_id": letter.public_id}))

    text = response.content.decode()
    assert "<h1>Clinic letter</h1>" in text
    assert "Download the letter (PDF, 120 KB)" in text
    assert reverse("letters:view", kwargs={"public_id": letter.public_id}) in text
    assert "Haematology" in text and "Dr Chidi Okafor" in text
    assert "We have also sent this letter to you by post." in text


def test_the_download_is_exactly_the_stored_pdf(patient_client, patient):
    letter = LetterFactory(patient=patient, letter_date=_when(6))

    response = patient_client.get(reverse("letters:download", kwargs={"public_id": letter.public_id}))

    body = b"".join(response.streaming_content)
    assert response.status_code == 200
    assert sha256(body) == letter.sha256 == sha256(stored_letter(letter))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="letter-2026-11-06.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert "no-store" in response["Cache-Control"]
    assert patient.family_name not in response["Content-Disposition"]


def test_opening_the_letter_shows_it_inline(patient_client, patient):
    letter = LetterFactory(patient=patient, letter_date=_when(6))

    response = patient_client.get(reverse("letters:view", kwargs={"public_id": letter.public_id}))

    assert sha256(b"".join(response.streaming_content)) == letter.sha256
    assert response["Content-Disposition"] == 'inline; filename="letter-2026-11-06.pdf"'
    assert response["Content-Security-Policy"].startswith("sandbox")


def test_reading_letters_is_audited(patient_client, patient):
    letter = LetterFactory(patient=patient)

    patient_client.get(reverse("letters:list"))
    patient_client.get(reverse("letters:letter", kwargs={"public_id": letter.public_id}))
    patient_client.get(reverse("letters:download", kwargs={"public_id": letter.public_id}))

    events = list(AccessEvent.objects.filter(patient=patient).order_by("pk").values_list("action", "object_label"))
    assert events == [("view", "letters"), ("view", "a letter"), ("download", "a letter (downloaded)")]


@pytest.mark.parametrize("name", ["letters:letter", "letters:view", "letters:download"])
def test_another_patients_letter_is_not_found(name, patient_client, other_patient):
    letter = LetterFactory(patient=other_patient)

    response = patient_client.get(reverse(name, kwargs={"public_id": letter.public_id}))

    assert response.status_code == 404
    assert AccessEvent.objects.filter(action="denied", patient=None).count() == 1


@pytest.mark.parametrize("name", ["letters:letter", "letters:view", "letters:download"])
def test_a_proxy_without_the_letters_scope_gets_404(name):
    relationship = ProxyRelationshipFactory(scopes=["appointments", "results"])
    letter = LetterFactory(patient=relationship.patient)
    client = Client()
    client.force_login(relationship.proxy)

    assert client.get(reverse(name, kwargs={"public_id": letter.public_id})).status_code == 404
    assert client.get(reverse("letters:list")).status_code == 404


def test_a_proxy_with_the_letters_scope_can_read_the_letter(proxy_client, proxy_relationship):
    letter = LetterFactory(patient=proxy_relationship.patient)

    response = proxy_client.get(reverse("letters:letter", kwargs={"public_id": letter.public_id}))

    assert response.status_code == 200
    assert (
        f"We have also sent this letter to {proxy_relationship.patient.given_name} by post."
        in response.content.decode()
    )


def test_the_list_page_query_count_does_not_grow_with_the_letters(
    patient_client, patient, django_assert_max_num_queries
):
    LetterFactory(patient=patient, care_team=CareTeamFactory())
    with django_assert_max_num_queries(40) as one:
        patient_client.get(reverse("letters:list"))
    for _ in range(15):
        LetterFactory(patient=patient, care_team=CareTeamFactory())

    with django_assert_max_num_queries(len(one.captured_queries)):
        response = patient_client.get(reverse("letters:list"))
    assert response.content.decode().count("Clinic letter") >= 16


def test_the_home_page_counts_letters_and_links_to_them(patient_client, patient):
    LetterFactory(patient=patient)
    LetterFactory(patient=patient)

    text = patient_client.get(reverse("home:home")).content.decode()

    assert "You have 2 letters from your clinics." in text
    assert reverse("letters:list") in text


def test_a_paperless_patient_is_told_letters_are_not_posted(patient_client, patient):
    patient.contact_preference = "portal"
    patient.save()

    text = patient_client.get(reverse("letters:list")).content.decode()

    assert "Your letters are paperless: we do not send them by post." in text


def test_a_second_patients_letters_never_appear(patient_client, patient):
    LetterFactory(patient=PatientWithAccountFactory(), document_type="Someone else's letter")

    assert "Someone else" not in patient_client.get(reverse("letters:list")).content.decode()


@pytest.mark.parametrize("url_name", ["letters:view", "letters:download"])
def test_a_letter_whose_file_is_missing_gets_a_plain_page_not_an_error(patient_client, patient, url_name, caplog):
    letter = LetterFactory(patient=patient, letter_date=_when(6))
    letter_storage().delete(letter_file_name(letter.stored_name))

    response = patient_client.get(reverse(url_name, kwargs={"public_id": letter.public_id}))

    text = response.content.decode()
    assert response.status_code == 503
    assert "Sorry, we cannot open this letter at the moment" in text
    assert "contact the department that sent it" in text
    assert response["Content-Type"].startswith("text/html")
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "letter_file_unavailable" in logged
    assert patient.family_name not in logged, logged
