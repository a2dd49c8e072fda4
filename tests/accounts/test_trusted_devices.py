"""Trusted devices are listed on "Sign-in and security", and each can stop being trusted on its own."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from careportal.accounts.models import AccountEvent, TrustedDevice
from tests.accounts.factories import TEST_PASSWORD
from tests.accounts.security_steps import sign_out
from tests.patients.factories import PatientWithAccountFactory

pytestmark = pytest.mark.django_db

CHROME_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"


@pytest.fixture
def two_step_patient():
    patient = PatientWithAccountFactory(user__two_step_method="email")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=patient.user, email=patient.user.email, verified=True, primary=True)
    return patient


def sign_in_with_code(client, user, mailoutbox, capture, *, trust: bool):  # type: ignore[no-untyped-def]
    """Password, then the emailed code, then trust (or not). Returns the final response."""
    with capture(execute=True):
        response = client.post(reverse("account_login"), {"login": user.username, "password": TEST_PASSWORD})
    if response["Location"] != reverse("account_confirm_login_code"):
        return response
    code = re.search(r"\b(\d{6})\b", mailoutbox[-1].body).group(1)
    response = client.post(reverse("account_confirm_login_code"), {"action": "verify", "code": code})
    assert response["Location"] == reverse("mfa_trust")
    return client.post(reverse("mfa_trust"), {"action": "trust" if trust else "skip"})


def test_each_trusted_browser_is_listed_and_trusted_alone_can_be_forgotten(
    two_step_patient, mailoutbox, django_capture_on_commit_callbacks
):
    user = two_step_patient.user
    laptop = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    desktop = Client(HTTP_USER_AGENT=FIREFOX_ON_LINUX)
    sign_in_with_code(laptop, user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    sign_in_with_code(desktop, user, mailoutbox, django_capture_on_commit_callbacks, trust=True)

    page = laptop.get(reverse("accounts:security")).content.decode()
    assert "<strong>Chrome on Windows</strong>" in page
    assert "<strong>Firefox on Linux</strong>" in page

    firefox = TrustedDevice.objects.get(user=user, description="Firefox on Linux")
    with django_capture_on_commit_callbacks(execute=True):
        response = laptop.post(reverse("accounts:forget-trusted-device", args=[firefox.public_id]))
    assert response["Location"] == reverse("accounts:security")
    assert "<strong>Firefox on Linux</strong>" not in laptop.get(reverse("accounts:security")).content.decode()
    assert AccountEvent.objects.filter(user=user, detail__contains="stopped trusting a device").exists()
    assert mailoutbox[-1].subject == "A change to how you sign in to CarePortal"

    # The forgotten browser asks for the code again; the other one still does not.
    sign_out(desktop)
    sign_out(laptop)
    with django_capture_on_commit_callbacks(execute=True):
        again_on_desktop = desktop.post(reverse("account_login"), {"login": user.username, "password": TEST_PASSWORD})
        again_on_laptop = laptop.post(reverse("account_login"), {"login": user.username, "password": TEST_PASSWORD})
    assert again_on_desktop["Location"] == reverse("account_confirm_login_code")
    assert again_on_laptop["Location"] == reverse("home:home")


def test_not_trusting_a_browser_lists_nothing(two_step_patient, mailoutbox, django_capture_on_commit_callbacks):
    client = Client()
    sign_in_with_code(client, two_step_patient.user, mailoutbox, django_capture_on_commit_callbacks, trust=False)
    assert not TrustedDevice.objects.exists()
    assert "You do not trust any device at the moment" in client.get(reverse("accounts:security")).content.decode()


def test_stop_trusting_all_devices_empties_the_list(two_step_patient, mailoutbox, django_capture_on_commit_callbacks):
    client = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    sign_in_with_code(client, two_step_patient.user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    client.post(reverse("accounts:forget-trusted-devices"))
    assert not TrustedDevice.objects.filter(revoked_at__isnull=True).exists()


def test_another_persons_trusted_device_is_not_found(
    two_step_patient, patient_client, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    sign_in_with_code(client, two_step_patient.user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    theirs = TrustedDevice.objects.get()
    response = patient_client.post(reverse("accounts:forget-trusted-device", args=[theirs.public_id]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_forgetting_needs_a_post(two_step_patient, mailoutbox, django_capture_on_commit_callbacks):
    client = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    sign_in_with_code(client, two_step_patient.user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    device = TrustedDevice.objects.get()
    assert client.get(reverse("accounts:forget-trusted-device", args=[device.public_id])).status_code == 405


def test_with_htmx_forgetting_a_device_answers_with_the_list_alone(
    two_step_patient, mailoutbox, django_capture_on_commit_callbacks
):
    user = two_step_patient.user
    laptop = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    desktop = Client(HTTP_USER_AGENT=FIREFOX_ON_LINUX)
    sign_in_with_code(laptop, user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    sign_in_with_code(desktop, user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    firefox = TrustedDevice.objects.get(user=user, description="Firefox on Linux")

    with django_capture_on_commit_callbacks(execute=True):
        response = laptop.post(
            reverse("accounts:forget-trusted-device", args=[firefox.public_id]), HTTP_HX_REQUEST="true"
        )

    assert response.status_code == 200
    assert response["CarePortal-Fragment"] == "trusted-devices"
    fragment = response.content.decode()
    assert "<html" not in fragment and "<h1" not in fragment
    assert '<div id="trusted-devices">' in fragment
    assert "autofocus" in fragment  # the list's heading takes the focus once swapped in
    assert "<strong>Chrome on Windows</strong>" in fragment
    assert "<strong>Firefox on Linux</strong>" not in fragment
    # The message goes into the live region above the list, and is not left over for the next page.
    assert 'id="trusted-devices-message" hx-swap-oob="innerHTML"' in fragment
    assert "Firefox on Linux is no longer trusted." in fragment
    assert 'role="alert"' not in fragment
    assert "no longer trusted" not in laptop.get(reverse("accounts:security")).content.decode()
    firefox.refresh_from_db()
    assert firefox.revoked_at is not None


def test_without_htmx_forgetting_a_device_still_redirects_to_the_page(
    two_step_patient, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    sign_in_with_code(client, two_step_patient.user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    device = TrustedDevice.objects.get()
    response = client.post(reverse("accounts:forget-trusted-device", args=[device.public_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:security")
    page = client.get(reverse("accounts:security")).content.decode()
    assert "Chrome on Windows is no longer trusted." in page
    assert "You do not trust any device at the moment" in page
    assert "autofocus" not in page


def test_with_htmx_stopping_trust_in_all_devices_answers_with_the_empty_list(
    two_step_patient, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client(HTTP_USER_AGENT=CHROME_ON_WINDOWS)
    sign_in_with_code(client, two_step_patient.user, mailoutbox, django_capture_on_commit_callbacks, trust=True)
    response = client.post(reverse("accounts:forget-trusted-devices"), HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in fragment
    assert "You do not trust any device at the moment" in fragment
    assert "No device is trusted now." in fragment


def test_the_security_page_loads_htmx_with_its_nonce_and_a_csp_safe_config(patient_client):
    response = patient_client.get(reverse("accounts:security"))
    page = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}" src="/static/htmx/htmx.min.js" defer></script>' in page
    assert '"includeIndicatorStyles": false' in page and '"allowEval": false' in page
    assert 'id="trusted-devices-message" aria-live="polite"' in page
