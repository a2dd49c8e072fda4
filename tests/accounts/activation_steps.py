"""The activation journey through Django's test client, one helper per page, for tests/accounts/test_activation*.py."""

import datetime
import html
import re
from dataclasses import dataclass

from django.test import Client
from django.urls import reverse

from careportal.accounts.activation_services import activation_code_issue_for_letter
from careportal.patients.models import Patient
from tests.patients.factories import PatientFactory

BIRTH_DATE = datetime.date(1979, 11, 22)
POSTCODE = "N8 7QE"
USERNAME = "siobhan.os"
PASSWORD = "Heron-Lantern-Orchard-47"
EMAIL = "siobhan@example.org"
ANSWERS = {
    "question_1": "first_school",
    "answer_1": "St. Mary's",
    "question_2": "first_pet",
    "answer_2": "Biscuit",
    "question_3": "parents_met",
    "answer_3": "Galway",
}


@dataclass
class Letter:
    """What the hospital posted: the patient it is for and the code printed on it."""

    patient: Patient
    code: str


def letter_for_new_patient(**patient_fields: object) -> Letter:
    patient = PatientFactory(
        **{"given_name": "Siobhán", "birth_date": BIRTH_DATE, "postcode": POSTCODE, **patient_fields}
    )
    return Letter(patient=patient, code=activation_code_issue_for_letter(patient=patient).code)


def identity(letter_code: str, **overrides: str) -> dict[str, str]:
    return {
        "code": letter_code,
        "date_of_birth_day": str(BIRTH_DATE.day),
        "date_of_birth_month": str(BIRTH_DATE.month),
        "date_of_birth_year": str(BIRTH_DATE.year),
        # Typed as people type it: any case, any spacing.
        "postcode": " n87qe ",
        **overrides,
    }


def enter_code(client: Client, letter_code: str, **overrides: str):  # type: ignore[no-untyped-def]
    """Step 1 with the details from the letter, except for `overrides` (form field name -> what is typed)."""
    return client.post(reverse("accounts:activate"), identity(letter_code, **overrides))


def enter_email(client: Client, email: str = EMAIL):  # type: ignore[no-untyped-def]
    return client.post(reverse("accounts:activate-email"), {"email": email})


def enter_username_and_password(client: Client, username: str = USERNAME, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(reverse("accounts:activate-username"), {"username": username, "password": password})


def choose_security_questions(client: Client, **overrides: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("accounts:activate-security-questions"), {**ANSWERS, **overrides})


def create_account(client: Client):  # type: ignore[no-untyped-def]
    return client.post(reverse("accounts:activate-check"))


def reach_check_page(
    client: Client, letter: Letter, *, username: str = USERNAME, password: str = PASSWORD, email: str = EMAIL
) -> None:
    """Steps 1 to 4, each accepted."""
    assert enter_code(client, letter.code)["Location"] == reverse("accounts:activate-email")
    assert enter_email(client, email)["Location"] == reverse("accounts:activate-username")
    response = enter_username_and_password(client, username, password)
    assert response.status_code == 302, errors(response)
    assert response["Location"] == reverse("accounts:activate-security-questions")
    assert choose_security_questions(client)["Location"] == reverse("accounts:activate-check")


def errors(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The messages in the page's error summary, in order."""
    page = response.content.decode()
    summary = re.search(r'<ul class="[^"]*nhsuk-error-summary__list[^"]*">(.*?)</ul>', page, re.S)
    if summary is None:
        return []
    items = re.findall(r"<li>(.*?)</li>", summary.group(1), re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item))).strip() for item in items]


def confirmation_link(body: str) -> str:
    match = re.search(r"https?://\S+/account/confirm-email/\S+/", body)
    assert match, "no confirmation link in the email"
    return match.group(0)
