"""A clinician signs in and lands in the staff console."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser


def test_clinician_signs_in_to_the_staff_console(portal):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When the demo clinician signs in
    when_they_sign_in(portal, username="demo.clinician")

    # Then they land in the staff console, which lists their care teams
    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")
    expect(page.get_by_role("table", name="Your care teams")).to_contain_text("Haematology")
