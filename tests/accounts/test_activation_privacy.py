"""What activation never lets out: the code, the date of birth, the postcode, the password and the answers appear in no
URL and no log line; the confirmation email goes out through a real SMTP server with nothing but a link in it."""

import re
from urllib.parse import unquote

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from careportal.accounts.activation import normalise_code
from tests.accounts.activation_steps import (
    ANSWERS,
    EMAIL,
    PASSWORD,
    choose_security_questions,
    confirmation_link,
    create_account,
    enter_code,
    enter_email,
    enter_username_and_password,
    letter_for_new_patient,
)
from tests.core.test_logging import captured_logs  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db


def secrets_of(letter) -> list[str]:  # type: ignore[no-untyped-def]
    code = letter.code
    return [
        code,
        normalise_code(code),
        code.lower(),
        normalise_code(code).lower(),
        "1979-11-22",
        "22/11/1979",
        "N8 7QE",
        "N87QE",
        "n87qe",
        PASSWORD,
        *(value for key, value in ANSWERS.items() if key.startswith("answer_")),
    ]


class RecordingClient(Client):
    """A test client that remembers every address it was sent to or shown: request paths, redirects, and every
    href, action and src in the pages it received."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.addresses: list[str] = []

    def request(self, **request):  # type: ignore[no-untyped-def]
        response = super().request(**request)
        self.addresses.append(request.get("PATH_INFO", "") + "?" + request.get("QUERY_STRING", ""))
        if response.has_header("Location"):
            self.addresses.append(response["Location"])
        if response.get("Content-Type", "").startswith("text/html"):
            page = response.content.decode()
            self.addresses += re.findall(r'(?:href|action|src)="([^"]*)"', page)
        return response


def walk_the_journey(client: Client, letter) -> None:  # type: ignore[no-untyped-def]
    client.get(reverse("accounts:activate"))
    # One wrong try first, so that the refusal path is covered too.
    enter_code(client, letter.code, postcode="N8 7QF")
    enter_code(client, letter.code)
    client.get(reverse("accounts:activate-email"))
    enter_email(client)
    enter_username_and_password(client, password="too-short")
    enter_username_and_password(client)
    choose_security_questions(client)
    client.get(reverse("accounts:activate-check"))
    response = create_account(client)
    client.get(response["Location"], follow=True)


def test_nothing_typed_appears_in_any_address(mailoutbox, django_capture_on_commit_callbacks):
    letter = letter_for_new_patient()
    client = RecordingClient()
    with django_capture_on_commit_callbacks(execute=True):
        walk_the_journey(client, letter)
    [email] = mailoutbox
    addresses = [*client.addresses, confirmation_link(email.body)]
    assert any("/activate/check/" in address for address in addresses), "the journey was walked"
    for address in addresses:
        for secret in secrets_of(letter):
            assert secret.lower() not in unquote(address).lower(), f"{secret!r} in {address!r}"


def test_nothing_typed_is_logged(captured_logs, mailoutbox, django_capture_on_commit_callbacks):  # noqa: F811
    _, stream = captured_logs
    letter = letter_for_new_patient()
    with django_capture_on_commit_callbacks(execute=True):
        walk_the_journey(Client(), letter)
    output = stream.getvalue()
    assert "account_activated" in output, "the logs were captured"
    for secret in [*secrets_of(letter), EMAIL, letter.patient.family_name]:
        assert secret not in output, f"{secret!r} was logged"


def test_the_confirmation_email_goes_through_a_real_smtp_server(smtp_server, django_capture_on_commit_callbacks):
    letter = letter_for_new_patient()
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        walk_the_journey(client, letter)

    message = smtp_server.wait_for_message(to=EMAIL)
    assert message["Subject"] == "Confirm your email address for CarePortal"
    body = smtp_server.body(message)
    assert body.startswith("Hello Siobhán,")
    for secret in [*secrets_of(letter), letter.patient.family_name, letter.patient.hospital_number]:
        assert secret not in body
    link = confirmation_link(body)
    path = link.split("testserver", 1)[1]
    assert "Confirm my email address" in client.get(path).content.decode()
    client.post(path)
    assert EmailAddress.objects.get(email=EMAIL).verified
