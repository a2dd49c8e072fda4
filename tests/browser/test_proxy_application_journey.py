"""A parent applies to act for their child; the helpdesk checks the documents and approves; the parent reads the
child's letter. Every page is checked with axe-core by `portal` (portal.py). The decline path, and the reason the
applicant reads, are checked at the unit level (tests/helpdesk/test_proxy_requests.py).

Set CAREPORTAL_SCREENSHOTS=<folder> to keep screenshots of the apply and decision pages (desktop and 320 px).
"""

import datetime
import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from careportal.proxy.models import ProxyRelationship
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.browser.portal import PortalPage
from tests.browser.steps import (
    given_the_demo_trust_is_loaded,
    when_staff_sign_in,
    when_they_sign_in,
    when_they_sign_out,
)
from tests.letters.factories import LetterFactory
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.browser


def screenshot(portal: PortalPage, name: str) -> None:
    folder = os.environ.get("CAREPORTAL_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page = portal.page
    page.screenshot(path=f"{folder}/{name}-desktop.png", full_page=True)
    page.set_viewport_size({"width": 320, "height": 900})
    page.screenshot(path=f"{folder}/{name}-320.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_parent_applies_the_helpdesk_approves_and_the_parent_reads_the_childs_letter(portal):
    page = portal.page

    # Given the demo trust (for its helpdesk agent), a child patient with a clinic letter, and their mother, who
    # has a CarePortal account of her own but no hospital record
    given_the_demo_trust_is_loaded()
    today = timezone.localdate()
    maya = PatientFactory(
        given_name="Maya",
        family_name="Khan",
        birth_date=today.replace(year=today.year - 7) - datetime.timedelta(days=20),
        nhs_number="9990000050",
        hospital_number="40077001",
    )
    LetterFactory(patient=maya, document_type="Clinic letter", author="Dr Amara Singh")
    UserFactory(username="sara.khan", first_name="Sara", last_name="Khan", email="sara.khan@example.org")

    # When the mother signs in, she is told there is no record for her yet, and how to apply
    when_they_sign_in(portal, username="sara.khan", password=TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("There is no record to show")
    portal.click_and_wait(page.get_by_role("link", name="apply to act for them"))

    # And she fills in the application for her daughter
    expect(page.get_by_role("heading", level=1)).to_have_text("Apply to act for someone")
    page.get_by_label("First name").fill("Maya")
    page.get_by_label("Last name").fill("khan")
    page.get_by_label("Day").fill(str(maya.birth_date.day))
    page.get_by_label("Month").fill(str(maya.birth_date.month))
    page.get_by_label("Year").fill(str(maya.birth_date.year))
    page.get_by_label("NHS number").fill("999 000 0050")
    page.get_by_label("How are you related to them?").fill("mother")
    page.get_by_label("I am their parent or guardian, and they are under 16").check()
    expect(page.get_by_label("Letters")).to_be_checked()
    page.get_by_label("Anything else the helpdesk should know (optional)").fill("Please call after 3pm.")
    screenshot(portal, "proxy-apply")
    portal.click_and_wait(page.get_by_role("button", name="Send application"))

    # Then she is told what happens next and which documents to have ready, with nothing about Maya in the address
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("We have your request"))
    main = page.get_by_role("main")
    expect(main).to_contain_text("You asked to act for Maya")
    expect(main).to_contain_text("birth certificate")
    expect(page).to_have_url(re.compile(r"/access-for-others/apply/[0-9a-f-]{36}/$"))
    screenshot(portal, "proxy-application-sent")
    when_they_sign_out(portal)

    # When the helpdesk agent signs in and opens the requests to act for someone
    when_staff_sign_in(portal, username="demo.helpdesk")
    portal.goto("/staff/helpdesk/")
    portal.click_and_wait(page.get_by_role("link", name="Requests to act for someone"))
    queue = page.get_by_role("table", name="Requests waiting for identity checks")
    row = queue.get_by_role("row").filter(has_text="Maya Khan")
    expect(row).to_contain_text("Sara Khan")
    portal.click_and_wait(row.get_by_role("link"))

    # Then they see who applied, for whom, and what to check
    expect(page.get_by_role("heading", level=1)).to_have_text("Request to act for someone")
    main = page.get_by_role("main")
    expect(main).to_contain_text("sara.khan@example.org")
    expect(main).to_contain_text("7 years old")
    expect(main).to_contain_text("Please call after 3pm.")

    # When they save an approval without recording any evidence, they are stopped
    page.get_by_label("Approve: give them access").check()
    portal.click_and_wait(page.get_by_role("button", name="Save decision"))
    expect(page.get_by_role("alert")).to_contain_text("Select the evidence you saw of who they are before approving")
    assert ProxyRelationship.objects.get(patient=maya).status == "requested"

    # When they record the passport and birth certificate they saw, and approve
    page.get_by_label("Passport", exact=True).check()
    page.get_by_label("Child's birth certificate naming the applicant").check()
    page.get_by_label("Evidence notes (optional)").fill("Passport and birth certificate seen at the desk")
    page.get_by_label("Approve: give them access").check()
    screenshot(portal, "proxy-decision")
    portal.click_and_wait(page.get_by_role("button", name="Save decision"))

    # Then the application leaves the queue
    expect(page.get_by_role("heading", level=1)).to_have_text("Requests to act for someone")
    expect(page.get_by_role("main")).to_contain_text("Approved: Sara Khan can now act for the patient")
    # (the demo carer's application, loaded with the demo trust, is still waiting)
    expect(page.get_by_role("main").get_by_role("link", name="Sara Khan")).to_have_count(0)
    expect(page.get_by_role("main").get_by_role("link", name="Declan O'Sullivan")).to_be_visible()
    when_they_sign_out(portal)

    # When the mother signs in again, she is acting for Maya
    when_they_sign_in(portal, username="sara.khan", password=TEST_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Maya Khan")

    # And she reads Maya's letter
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Letters"))
    letters = page.get_by_role("list", name="Letters, newest first")
    portal.click_and_wait(letters.get_by_role("link", name="Clinic letter"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinic letter")
    expect(page.get_by_role("main")).to_contain_text("Dr Amara Singh")


def test_the_helpdesk_sets_up_access_with_consent_then_ends_it(portal):
    page = portal.page

    # Given the demo trust, and Eleanor's daughter has a CarePortal account of her own
    given_the_demo_trust_is_loaded()
    UserFactory(username="kate.hargreaves", first_name="Kate", last_name="Hargreaves", email="kate@example.org")

    # When the helpdesk agent finds Eleanor and opens her patient page
    when_staff_sign_in(portal, username="demo.helpdesk")
    portal.goto("/staff/helpdesk/")
    portal.click_and_wait(page.get_by_role("link", name="Find an account"))
    page.get_by_label("Hospital number", exact=True).check()
    page.get_by_label("Hospital number, NHS number or username").fill("40012345")
    portal.click_and_wait(page.get_by_role("button", name="Search"))
    portal.click_and_wait(page.get_by_role("table", name="Accounts found").get_by_role("link", name="demo.patient"))
    portal.click_and_wait(page.get_by_role("link", name="Open the patient's page"))
    expect(page.get_by_role("main")).to_contain_text("People who can act for this patient")
    expect(page.get_by_role("main")).to_contain_text("Nobody acts for this patient in CarePortal")

    # And sets up access for her daughter with the consent Eleanor gave in clinic
    portal.click_and_wait(page.get_by_role("button", name="Set up access for someone"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up access for someone")
    page.get_by_label("Their CarePortal username or email address").fill("kate@example.org")
    page.get_by_label("Their relationship to the patient").fill("daughter")
    page.get_by_label("Granted by the patient").check()
    page.get_by_label("Appointments").check()
    page.get_by_label("Letters").check()
    page.get_by_label("How and when the patient gave consent").fill(
        "Patient asked in the Haematology clinic on 3 December 2026, with the nurse present."
    )
    page.get_by_label("Photocard driving licence").check()
    page.get_by_label("The patient's own consent, recorded by staff").check()
    screenshot(portal, "proxy-set-up")
    portal.click_and_wait(page.get_by_role("button", name="Set up access"))

    # Then the access is active, with its history
    expect(page.get_by_role("heading", level=1)).to_have_text("Access for Kate Hargreaves")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Kate Hargreaves can now act for the patient")
    expect(main).to_contain_text("Set up by staff with the patient's consent")
    expect(page.get_by_role("table", name="Changes to this access, newest first")).to_contain_text("Set up by staff")
    screenshot(portal, "proxy-relationship")

    # When they end it, with a reason
    page.get_by_label("Reason").fill("Eleanor asked us to stop it on the phone.")
    portal.click_and_wait(page.get_by_role("button", name="End their access"))

    # Then it is revoked, and the forms to change it are gone
    expect(page.get_by_role("main")).to_contain_text("Kate Hargreaves can no longer act for the patient")
    expect(page.get_by_role("main")).to_contain_text("Revoked")
    expect(page.get_by_role("button", name="End their access")).to_have_count(0)
