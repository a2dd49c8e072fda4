"""Stopping trusting one device on "Sign-in and security" in a real browser, with htmx: the list changes in place,
with no new page load, the message is announced from the live region, and the focus moves to the list's heading.

Without JavaScript the same forms post and redirect back to the page (tests/accounts/test_trusted_devices.py).
"""

import datetime
import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from careportal.accounts.models import TrustedDevice, User
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser


def given_they_trust_these_devices(username: str, *descriptions: str) -> None:
    """Devices trusted earlier from other browsers (rows as the sign-in step writes them)."""
    user = User.objects.get(username=username)
    for description in descriptions:
        TrustedDevice.objects.create(
            user=user,
            issued_at=int(time.time()),
            expires_at=timezone.now() + datetime.timedelta(days=90),
            description=description,
        )


def test_patient_stops_trusting_one_device_without_a_page_load(portal):
    page = portal.page

    # Given demo.patient trusts two other devices, and opens "Sign-in and security"
    given_the_demo_trust_is_loaded()
    given_they_trust_these_devices("demo.patient", "Firefox on Linux", "Safari on iPhone")
    when_they_sign_in(portal, username="demo.patient")
    portal.goto("/account/security/")
    trusted = page.locator("#trusted-devices")
    expect(trusted).to_contain_text("Firefox on Linux")
    expect(trusted).to_contain_text("Safari on iPhone")
    # A marker that a new page load would wipe out.
    page.evaluate("window.careportalSamePage = true")

    # When they stop trusting the Firefox one
    with page.expect_response(re.compile(r"/trusted-devices/.*/forget/$")) as answer:
        page.get_by_role("button", name=re.compile(r"^Stop trusting this device \(Firefox on Linux")).click()
    assert answer.value.request.headers.get("hx-request") == "true"

    # Then the list shows only the other device, on the same page, without a reload
    expect(trusted.locator("strong")).to_have_text(["Safari on iPhone"])
    assert page.evaluate("window.careportalSamePage") is True
    expect(page).to_have_url(re.compile(r"/account/security/$"))

    # And the message is in the live region above the list, and the focus is on the list's heading
    expect(page.locator("#trusted-devices-message[aria-live=polite]")).to_contain_text(
        "Firefox on Linux is no longer trusted."
    )
    expect(page.get_by_role("heading", name="Trusted devices")).to_be_focused()
    assert TrustedDevice.objects.get(description="Firefox on Linux").revoked_at is not None

    # And the updated page loaded nothing it should not (no CSP refusal, no script error) and passes axe
    portal.check()

    # When they stop trusting the last one too, the swapped-in form works the same way
    page.get_by_role("button", name=re.compile(r"^Stop trusting this device \(Safari on iPhone")).click()
    expect(trusted).to_contain_text("You do not trust any device at the moment.")
    expect(page.locator("#trusted-devices-message")).to_contain_text("Safari on iPhone is no longer trusted.")
    assert page.evaluate("window.careportalSamePage") is True
    portal.check()


def test_when_the_session_has_ended_the_form_falls_back_to_an_ordinary_post(portal):
    from django.contrib.sessions.models import Session

    page = portal.page

    # Given demo.patient has "Sign-in and security" open, and their session then ends elsewhere
    given_the_demo_trust_is_loaded()
    given_they_trust_these_devices("demo.patient", "Firefox on Linux")
    when_they_sign_in(portal, username="demo.patient")
    portal.goto("/account/security/")
    Session.objects.all().delete()

    # When they stop trusting the device, htmx gets the sign-in page instead of the list, and does not swap it in:
    # the form posts again the ordinary way, so they reach the sign-in page as they would without JavaScript
    portal.click_and_wait(page.get_by_role("button", name=re.compile(r"^Stop trusting this device \(Firefox")))
    expect(page).to_have_url(re.compile(r"/sign-in/"))
    expect(page.locator("#trusted-devices")).to_have_count(0)
    assert TrustedDevice.objects.get(description="Firefox on Linux").revoked_at is None
