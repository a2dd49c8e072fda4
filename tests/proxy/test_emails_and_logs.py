"""The invitation email through a real SMTP server, and the invitation link's token never reaching a log line."""

import re

import pytest
from django.test import Client

from careportal.notifications.models import Notification
from tests.core.test_logging import captured_logs  # noqa: F401 - the fixture, rendered by the project's formatter
from tests.proxy.conftest import INVITEE_EMAIL, invitation_token, invite_form, open_link

pytestmark = pytest.mark.django_db


def test_the_invitation_goes_through_a_real_smtp_server_without_patient_data(
    adult, adult_client, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = adult_client.post("/access-for-others/invite/", invite_form())
    assert response.status_code == 302

    message = smtp_server.wait_for_message(to=INVITEE_EMAIL)
    assert message["Subject"] == "You have been invited to help someone with their hospital record"
    body = smtp_server.body(message)
    assert "Eleanor has invited you" in body
    for private in [adult.family_name, adult.nhs_number, adult.hospital_number, "test results", "carer"]:
        assert private not in body
    link = re.search(r"https?://\S+", body).group(0)  # type: ignore[union-attr]
    path = re.sub(r"^https?://[^/]+", "", link)
    assert re.fullmatch(r"/access-for-others/invitations/[A-Za-z0-9_-]{43}/", path)
    sent = Notification.objects.get()
    assert sent.status == "sent"
    assert sent.to_address == "" and sent.personalisation == {}, "the link is wiped once sent"

    # The link from the real email works.
    page = open_link(Client(), path.rstrip("/").rsplit("/", 1)[1])
    assert "Eleanor has invited you" in page.content.decode()


def test_the_links_token_never_reaches_a_log_line(adult_client, captured_logs):  # noqa: F811
    _format, stream = captured_logs
    adult_client.post("/access-for-others/invite/", invite_form())
    token = invitation_token()
    client = Client()

    open_link(client, token)
    client.get("/access-for-others/create-account/")

    output = stream.getvalue()
    assert "/access-for-others/invitations/[redacted]/" in output
    assert token not in output
