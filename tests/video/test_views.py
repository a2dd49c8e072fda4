"""The "test your camera and microphone" page: for patients and proxies, its script under the page's CSP nonce,
and the words for the trust's video service."""

import re

import pytest
from django.test import override_settings
from django.urls import resolve, reverse

from careportal.audit.models import AccessEvent
from careportal.video import views

pytestmark = pytest.mark.django_db

URL = "/appointments/test-camera-and-microphone/"


def test_the_page_has_its_address_before_any_appointment_pattern():
    assert reverse("video:camera-check") == URL
    assert resolve(URL).func is views.camera_check


def test_a_patient_sees_the_test_with_its_fallback_and_the_script_under_the_nonce(patient_client, patient):
    response = patient_client.get(URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Test your camera and microphone</h1>" in body
    # Without JavaScript: the fallback is shown and the test is hidden
    assert "This test needs JavaScript" in body
    assert re.search(r'<div class="careportal-camera-check" data-camera-check hidden>', body)
    # What to do when the browser asks, refuses, or finds no camera
    assert "Choose <strong>Allow</strong>" in body
    assert "Your browser is not allowing this page to use your camera or microphone" in body
    assert "We could not find a camera" in body
    # The script comes from this site with the nonce of this response's Content-Security-Policy
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}" type="module" src="/static/careportal/camera-check.mjs"></script>' in body
    # Nothing from the record is read, so nothing is audited, and nothing about the patient is on the page
    assert AccessEvent.objects.count() == 0
    assert patient.family_name not in body
    assert "If you will be with the person you care for" not in body


def test_a_proxy_sees_the_page_with_a_word_for_carers(proxy_client):
    response = proxy_client.get(URL)

    assert response.status_code == 200
    assert "If you will be with the person you care for at the appointment" in response.content.decode()


def test_someone_not_signed_in_is_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@override_settings(VIDEO_PROVIDER="teams")
def test_with_teams_the_page_links_to_microsofts_help_for_joining_without_an_account(patient_client):
    body = patient_client.get(URL).content.decode()

    assert "Video appointments use Microsoft Teams" in body
    assert 'href="https://support.microsoft.com/en-gb/office/join-a-meeting-without-a-teams-account-' in body


def test_with_jitsi_the_page_says_how_joining_works(patient_client):
    body = patient_client.get(URL).content.decode()

    assert "Video appointments use Jitsi Meet" in body
    assert "support.microsoft.com" not in body


@override_settings(VIDEO_PROVIDER="none")
def test_with_no_video_service_the_page_names_none(patient_client):
    body = patient_client.get(URL).content.decode()

    assert "Joining your video appointment" not in body
    assert "Getting ready" in body
