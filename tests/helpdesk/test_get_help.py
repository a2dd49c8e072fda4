"""Get help: a request for technical help, signed in or not, with a reference and the date to expect a reply."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from careportal.helpdesk.models import SupportRequest
from careportal.helpdesk.views.support import SENT_SESSION_KEY

pytestmark = pytest.mark.django_db

GET_HELP = reverse("core:get-help")
SENT = reverse("helpdesk:support-request-sent")
# A Thursday: with the default target of 2 working days, the reply is due on Monday.
THURSDAY = datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)


def valid(**overrides: str) -> dict[str, str]:
    return {
        "name": "Alex Smith",
        "email": "alex@example.org",
        "topic": "signing_in",
        "description": "The sign-in page says my code is wrong.",
        "website": "",
        **overrides,
    }


def test_the_page_warns_it_is_not_for_medical_questions_and_states_the_target(client):
    with time_machine.travel(THURSDAY, tick=False):
        page = client.get(GET_HELP).content.decode()
    assert "This is not for medical advice" in page
    assert "999" in page and "111" in page
    assert "We aim to reply within 2 working days" in page
    assert "we aim to reply by 30 November 2026" in page
    for topic in ["Setting up my account", "Signing in", "Two-step verification", "Using the portal", "Something else"]:
        assert topic in page


def test_a_signed_out_person_sends_a_request_and_gets_a_reference_and_reply_date(client):
    with time_machine.travel(THURSDAY, tick=False):
        response = client.post(GET_HELP, valid())
        assert response.status_code == 302
        assert response["Location"] == SENT
        page = client.get(SENT).content.decode()

    request = SupportRequest.objects.get()
    assert request.user is None
    assert (request.name, request.email, request.topic, request.status) == (
        "Alex Smith",
        "alex@example.org",
        "signing_in",
        "new",
    )
    assert request.reply_due_on == datetime.date(2026, 11, 30)
    assert request.reference in page
    assert "30 November 2026" in page
    assert "NHS 111" in page
    assert request.reference not in response["Location"] and str(request.public_id) not in response["Location"]


def test_a_signed_in_person_finds_their_name_and_email_filled_in_and_the_request_is_linked(patient, patient_client):
    patient.user.first_name, patient.user.last_name = "Eleanor", "Hargreaves"
    patient.user.save()
    page = patient_client.get(GET_HELP).content.decode()
    assert 'value="Eleanor Hargreaves"' in page
    assert f'value="{patient.user.email}"' in page

    response = patient_client.post(GET_HELP, valid(name="Eleanor Hargreaves", email=""))

    assert response.status_code == 302
    request = SupportRequest.objects.get()
    assert request.user == patient.user
    assert request.email == patient.user.email, "an empty address falls back to the account's"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "Enter your name"),
        ({"name": "   "}, "Enter your name"),
        ({"email": ""}, "Enter your email address"),
        ({"email": "not-an-address"}, "Enter an email address in the correct format"),
        ({"topic": ""}, "Select what the problem is about"),
        ({"topic": "medical"}, "Select what the problem is about"),
        ({"description": ""}, "Describe the problem"),
        ({"description": " \n "}, "Describe the problem"),
        ({"description": "x" * 2001}, "Description must be 2,000 characters or fewer"),
        ({"name": "n" * 151}, "Name must be 150 characters or fewer"),
    ],
)
def test_bad_input_gets_a_specific_error_and_nothing_is_stored(client, overrides, message):
    response = client.post(GET_HELP, valid(**overrides))
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page
    assert message in page
    assert not SupportRequest.objects.exists()


def test_a_description_of_exactly_the_limit_is_accepted(client):
    assert client.post(GET_HELP, valid(description="x" * 2000)).status_code == 302


def test_direction_overrides_in_a_request_are_removed_before_it_is_stored(client):
    client.post(GET_HELP, valid(name="Sam \u202eReid", description="My file gnp\u202eexe.png will not upload"))
    request = SupportRequest.objects.get()
    assert (request.name, request.description) == ("Sam Reid", "My file gnpexe.png will not upload")


def test_html_in_a_description_is_stored_as_typed_and_shown_as_text(client, helpdesk_client):
    script = '<script>alert("x")</script><b>bold</b>'
    client.post(GET_HELP, valid(description=f"Line one\n{script}"))
    request = SupportRequest.objects.get()
    assert request.description == f"Line one\n{script}"

    page = helpdesk_client.get(reverse("helpdesk:request", kwargs={"request_id": request.public_id})).content.decode()

    assert script not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "Line one<br>" in page


def test_a_request_without_its_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    response = client.post(GET_HELP, valid())
    assert response.status_code == 403
    assert "Your page timed out" in response.content.decode()
    assert not SupportRequest.objects.exists()


def test_the_hidden_field_filled_in_looks_like_success_but_stores_nothing(client):
    response = client.post(GET_HELP, valid(website="https://spam.example/"))
    assert response["Location"] == SENT
    page = client.get(SENT).content.decode()
    assert "Your request for help has been sent" in page
    assert "reference" not in page.lower()
    assert not SupportRequest.objects.exists()


def test_one_address_may_send_only_a_few_requests_an_hour(client, settings):
    settings.CAREPORTAL_SUPPORT_REQUESTS_PER_HOUR = 3
    for _ in range(3):
        assert client.post(GET_HELP, valid(), REMOTE_ADDR="192.0.2.7").status_code == 302
    refused = client.post(GET_HELP, valid(), REMOTE_ADDR="192.0.2.7")
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "You cannot send another request yet" in page
    assert settings.CAREPORTAL_HELPDESK_PHONE in page
    assert SupportRequest.objects.count() == 3
    # Another address is not affected.
    assert client.post(GET_HELP, valid(), REMOTE_ADDR="192.0.2.8").status_code == 302


def test_the_limit_lifts_after_an_hour(client, settings):
    settings.CAREPORTAL_SUPPORT_REQUESTS_PER_HOUR = 1
    from django.core.cache import cache

    assert client.post(GET_HELP, valid(), REMOTE_ADDR="192.0.2.9").status_code == 302
    assert client.post(GET_HELP, valid(), REMOTE_ADDR="192.0.2.9").status_code == 429
    cache.clear()  # what the cache does when the hour's counter expires
    assert client.post(GET_HELP, valid(), REMOTE_ADDR="192.0.2.9").status_code == 302


def test_the_confirmation_page_shows_only_the_request_this_browser_sent(client):
    client.post(GET_HELP, valid())
    mine = SupportRequest.objects.get()
    other_browser = Client()
    page = other_browser.get(SENT).content.decode()
    assert mine.reference not in page
    assert client.session[SENT_SESSION_KEY] == str(mine.public_id)


def test_the_response_target_comes_from_settings(client, settings):
    settings.CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS = 5
    with time_machine.travel(THURSDAY, tick=False):
        page = client.get(GET_HELP).content.decode()
        client.post(GET_HELP, valid())
    assert "within 5 working days" in page
    assert SupportRequest.objects.get().reply_due_on == datetime.date(2026, 12, 3)
