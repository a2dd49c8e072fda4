"""A new email address is used only once the link emailed to it is followed."""

import datetime
import re

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from careportal.accounts.models import AccountEvent
from careportal.audit.models import AccessAction, AccessEvent
from careportal.hl7.models import OutboundMessage
from careportal.patients.models import PendingEmailChange

pytestmark = pytest.mark.django_db

NEW = "new.address@example.org"


@pytest.fixture(autouse=True)
def _on_commit_runs(django_capture_on_commit_callbacks, monkeypatch):
    """Each request's after-commit work (emails) runs as it would after a real commit."""
    from django.test import Client as TestClient

    original = TestClient.request

    def request(self, **kwargs):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return original(self, **kwargs)

    monkeypatch.setattr(TestClient, "request", request)


@pytest.fixture
def account(patient):
    user = patient.user
    user.email = patient.email
    user.save()
    EmailAddress.objects.create(user=user, email=patient.email, verified=True, primary=True)
    return user


def _ask(client: Client, email: str = NEW) -> str:
    """Ask for the change; return the path of the link emailed to the new address."""
    mail.outbox.clear()
    response = client.post(reverse("patients:email"), {"email": email})
    assert response.status_code == 302, response.content.decode()[:2000]
    (message,) = [m for m in mail.outbox if m.to == [email]]
    assert message.subject == "Confirm your email address for CarePortal"
    link = re.search(r"https?://\S+", message.body).group(0)
    return link.split("testserver", 1)[1]


def test_a_new_address_waits_until_the_link_is_followed(patient_client, patient, account):
    old = patient.email
    link = _ask(patient_client)
    assert re.fullmatch(r"/your-details/email/confirm/[A-Za-z0-9_-]{43}/", link)
    patient.refresh_from_db()
    account.refresh_from_db()
    assert patient.email == old
    assert account.email == old
    assert list(EmailAddress.objects.filter(user=account).values_list("email", flat=True)) == [old]
    assert not OutboundMessage.objects.exists()
    body = patient_client.get(reverse("patients:your-details")).content.decode()
    assert f"Waiting for you to confirm {NEW}" in body
    # Only a hash of the token is kept.
    token = link.rstrip("/").rsplit("/", 1)[1]
    pending = PendingEmailChange.objects.get()
    assert token not in pending.token_hash
    assert AccessEvent.objects.filter(patient=patient, object_label="a request to change your email address").exists()


def test_opening_the_link_asks_first_and_confirming_changes_everything(patient_client, patient, account):
    old = patient.email
    link = _ask(patient_client)
    page = patient_client.get(link)
    assert "Confirm my new email address" in page.content.decode()
    patient.refresh_from_db()
    assert patient.email == old  # opening the link (as an email scanner would) changes nothing
    mail.outbox.clear()
    done = patient_client.post(link)
    assert "Your email address has been changed" in done.content.decode()
    patient.refresh_from_db()
    account.refresh_from_db()
    assert patient.email == NEW
    assert account.email == NEW
    addresses = list(EmailAddress.objects.filter(user=account).values_list("email", "verified", "primary"))
    assert addresses == [(NEW, True, True)]
    message = OutboundMessage.objects.get(patient=patient)
    assert f"^NET^Internet^{NEW}".encode() in bytes(message.raw)
    assert AccessEvent.objects.filter(
        patient=patient, action=AccessAction.UPDATE, object_label="your email address"
    ).exists()
    assert AccountEvent.objects.filter(user=account, kind="email_verified").exists()
    notices = sorted(m.to[0] for m in mail.outbox if m.subject == "Your contact details in CarePortal were changed")
    assert notices == sorted([NEW, old])
    assert all(NEW not in m.body and old not in m.body for m in mail.outbox)


def test_the_link_works_signed_out_too(patient_client, patient, account):
    link = _ask(patient_client)
    Client().post(link)
    patient.refresh_from_db()
    assert patient.email == NEW


def test_a_link_works_once(patient_client, patient, account):
    link = _ask(patient_client)
    patient_client.post(link)
    again = patient_client.post(link)
    assert again.status_code == 400
    assert "This link has already been used" in again.content.decode()


def test_an_expired_link_changes_nothing(patient_client, patient, account):
    old = patient.email
    with time_machine.travel(datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC), tick=False):
        link = _ask(patient_client)
    with time_machine.travel(datetime.datetime(2026, 3, 3, 9, 1, tzinfo=datetime.UTC), tick=False):
        assert "This link has expired" in patient_client.get(link).content.decode()
        response = patient_client.post(link)
    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.email == old


def test_someone_elses_link_changes_nothing(patient_client, patient, account, other_patient):
    old = patient.email
    link = _ask(patient_client)
    other = Client()
    other.force_login(other_patient.user)
    response = other.post(link)
    assert response.status_code == 400
    assert "This link is for someone else&#39;s account" in response.content.decode()
    patient.refresh_from_db()
    other_patient.refresh_from_db()
    assert patient.email == old
    assert other_patient.email != NEW


def test_an_unknown_link_gets_a_clear_page(client):
    response = client.get(reverse("patients:email-confirm", kwargs={"token": "not-a-real-token"}))
    assert "This link does not work" in response.content.decode()


def test_sending_again_makes_the_old_link_stop_working(patient_client, patient, account):
    first = _ask(patient_client)
    mail.outbox.clear()
    patient_client.post(reverse("patients:email-resend"))
    (message,) = mail.outbox
    second = re.search(r"https?://\S+", message.body).group(0).split("testserver", 1)[1]
    assert first != second
    assert "This link no longer works" in patient_client.get(first).content.decode()
    patient_client.post(second)
    patient.refresh_from_db()
    assert patient.email == NEW


def test_cancelling_leaves_the_old_address(patient_client, patient, account):
    old = patient.email
    link = _ask(patient_client)
    patient_client.post(reverse("patients:email-cancel"))
    assert "Waiting for you" not in patient_client.get(reverse("patients:your-details")).content.decode()
    patient_client.post(link)
    patient.refresh_from_db()
    assert patient.email == old


@pytest.mark.parametrize("value", ["not-an-email", "", "a@b", "x" * 250 + "@example.org"])
def test_an_email_that_is_not_one_is_refused(patient_client, account, value):
    response = patient_client.post(reverse("patients:email"), {"email": value})
    assert response.status_code == 400
    assert not PendingEmailChange.objects.exists()
    assert not mail.outbox


def test_an_address_another_account_uses_is_refused(patient_client, account, other_patient):
    response = patient_client.post(reverse("patients:email"), {"email": other_patient.user.email})
    assert response.status_code == 400
    assert "You cannot use this email address for CarePortal" in response.content.decode()
    assert not PendingEmailChange.objects.exists()


def test_links_are_limited_to_a_few_an_hour(patient_client, patient, account):
    for n in range(5):
        _ask(patient_client, email=f"try{n}@example.org")
    response = patient_client.post(reverse("patients:email"), {"email": "sixth@example.org"})
    assert response.status_code == 400
    assert "You have asked for several links in the last hour" in response.content.decode()
    assert not PendingEmailChange.objects.filter(new_email="sixth@example.org").exists()
    resend = patient_client.post(reverse("patients:email-resend"), follow=True)
    assert "You have asked for several links in the last hour" in resend.content.decode()
