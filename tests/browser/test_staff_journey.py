"""A clinician signs in and lands in the staff console."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser


def test_clinician_signs_in_to_the_staff_console(portal):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When the demo clinician signs in, and enters the code emailed to them (staff always have a second step)
    mail.outbox.clear()
    when_they_sign_in(portal, username="demo.clinician")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    page.get_by_label("Sign-in code").fill(code)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))

    # And chooses not to trust this shared computer
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to trust this device?")
    portal.click_and_wait(page.get_by_role("button", name="Do not trust this device"))

    # Then they land in the staff console, which lists their care teams
    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")
    expect(page.get_by_role("table", name="Your care teams")).to_contain_text("Haematology")
