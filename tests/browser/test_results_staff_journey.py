"""Staff and test results: a clinician reviews, comments on, releases and holds results in their team's inbox; a
trust administrator matches a rejected HL7 message to a patient and replays it, and changes the release rules.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from careportal.accounts.models import TwoStepMethod, User
from careportal.hl7.models import InboundMessage
from careportal.results.models import DiagnosticReport, ReleaseRule
from tests.browser.steps import (
    given_a_running_hl7_listener,
    given_the_demo_trust_is_loaded,
    given_the_installed_release_rules_and_bank_holidays,
    given_these_messages_arrived,
    hl7_sample,
    when_staff_sign_in,
    when_the_release_job_runs,
    when_they_sign_in,
)
from tests.hl7.mllp_client import ack_code

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
ADMIN_PASSWORD = "Trust-admin-test-1"


def test_clinician_comments_on_releases_and_holds_results_and_the_patient_sees_the_comment(portal):
    page = portal.page

    # Given the demo trust, its release rules, and two of Eleanor's reports from the lab, not yet released: a full
    # blood count and a urea and electrolytes with a critical potassium (before the lab corrected it)
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()
    given_these_messages_arrived("oru_r01_fbc_final.hl7", "oru_r01_ue_final.hl7", "oru_r01_histology.hl7")

    # When the demo clinician (Haematology) signs in and opens the results inbox from the staff console
    when_staff_sign_in(portal, username="demo.clinician")
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")
    expect(page.get_by_role("main")).to_contain_text("2 results in your teams' inboxes are waiting for review")
    portal.click_and_wait(page.get_by_role("link", name="Open the results inbox"))

    # Then the critical result comes first, tagged "Critical" in words, and only their team's results are listed
    expect(page.get_by_role("heading", level=1)).to_have_text("Results inbox")
    inbox = page.get_by_role("table", name=re.compile("^Results, page 1"))
    rows = inbox.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Urea and electrolytes")
    expect(rows.first).to_contain_text("Critical")
    expect(rows.first).to_contain_text("Not reviewed")
    expect(rows.nth(1)).to_contain_text("Full blood count")
    expect(inbox).not_to_contain_text("Histopathology")

    # When they open the urea and electrolytes
    portal.click_and_wait(rows.first.get_by_role("link", name="Eleanor Hargreaves"))

    # Then they see its values with the critical flag
    expect(page.get_by_role("heading", level=1)).to_have_text("Urea and electrolytes")
    values = page.get_by_role("table", name="Values in this report")
    expect(values.get_by_role("row").filter(has_text="Potassium")).to_contain_text("6.1")
    expect(values.get_by_role("row").filter(has_text="Potassium")).to_contain_text("Critical")

    # When they add a comment for the patient
    comment = "Your potassium was high on this sample. We have asked for a repeat test, so please do not worry."
    page.get_by_label("Comment for the patient").fill(comment)
    portal.click_and_wait(page.get_by_role("button", name="Save the comment"))

    # Then the comment is shown as the one the patient will see
    expect(page.get_by_role("heading", level=1)).to_have_text("Urea and electrolytes")
    expect(page.get_by_role("main")).to_contain_text(comment)

    # When they mark it as reviewed, then release it now
    portal.click_and_wait(page.get_by_role("button", name="Mark as reviewed"))
    expect(page.get_by_role("button", name="Mark as reviewed")).to_have_count(0)
    portal.click_and_wait(page.get_by_role("button", name="Release to the patient now"))

    # Then the history says what they did, and the release button is gone
    history = page.get_by_role("table", name="What has happened to this result")
    expect(history).to_contain_text("Dr C Okafor")
    expect(page.get_by_role("button", name="Release to the patient now")).to_have_count(0)

    # When they go back to the inbox and open the full blood count, and hold it with a reason
    portal.click_and_wait(page.get_by_role("link", name="Back to the results inbox").first)
    rows = page.get_by_role("table", name=re.compile("^Results, page 1")).locator("tbody tr")
    fbc_row = rows.filter(has_text="Full blood count")
    portal.click_and_wait(fbc_row.get_by_role("link", name="Eleanor Hargreaves"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Full blood count")
    page.get_by_label("Reason for holding").fill("Waiting for iron studies before the patient sees this")
    portal.click_and_wait(page.get_by_role("button", name="Hold this result"))

    # Then the page offers to remove the hold, and says who held it and why
    expect(page.get_by_role("button", name="Remove the hold")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Waiting for iron studies before the patient sees this")

    # And the inbox shows where each result stands with the patient
    portal.click_and_wait(page.get_by_role("link", name="Back to the results inbox").first)
    rows = page.get_by_role("table", name=re.compile("^Results, page 1")).locator("tbody tr")
    expect(rows.filter(has_text="Urea and electrolytes")).to_contain_text("Released on")
    expect(rows.filter(has_text="Full blood count")).to_contain_text(
        "Held: Waiting for iron studies before the patient sees this"
    )

    # When the release job runs long after the full blood count's release date
    portal.click_and_wait(page.get_by_role("banner").get_by_role("button", name="Sign out"))
    when_the_release_job_runs(now=datetime.datetime(2026, 12, 31, 9, 0, tzinfo=LONDON))

    # And the patient signs in and opens their test results
    when_they_sign_in(portal, username="demo.patient")
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Test results"))

    # Then the held full blood count is still waiting, with no word of the hold, and the released report is ready
    results = page.get_by_role("list", name="Test results, newest first")
    fbc = results.get_by_role("listitem").filter(has_text="Full blood count")
    expect(fbc).to_contain_text("A clinician will look at this result and then release it to you.")
    expect(fbc).not_to_contain_text("iron studies")
    expect(fbc.get_by_role("link")).to_have_count(0)

    # When they open the urea and electrolytes
    portal.click_and_wait(results.get_by_role("link", name="Urea and electrolytes"))

    # Then they see their clinician's comment, signed, and who released the result
    note = page.locator(".nhsuk-card").filter(has=page.get_by_role("heading", name="A note from your clinician"))
    expect(note).to_contain_text(comment)
    expect(note).to_contain_text("Dr C Okafor")
    expect(page.get_by_role("main")).to_contain_text("by Dr C Okafor")


def given_a_trust_administrator() -> User:
    """A superuser with a password and the emailed sign-in code (as every member of staff has)."""
    admin = User.objects.create_superuser(
        username="trust.admin",
        email="trust.admin@example.nhs.uk",
        password=ADMIN_PASSWORD,
        display_name="Alex Morgan",
        two_step_method=TwoStepMethod.EMAIL,
    )
    EmailAddress.objects.create(user=admin, email=admin.email, verified=True, primary=True)
    return admin


def test_administrator_replays_an_unmatched_message_and_changes_the_release_rules(portal):
    page = portal.page

    # Given the demo trust, its release rules and bank holidays, and a trust administrator
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()
    given_a_trust_administrator()

    # And the lab has sent every rejected sample message to the running listener
    with given_a_running_hl7_listener() as listener, listener.client() as client:
        for name in ("bad/unknown_patient.hl7", "bad/invalid_nhs_number.hl7", "bad/no_msh.hl7"):
            assert ack_code(client.request(hl7_sample(name)))[0] in {"AE", "AR"}, name

    # When the administrator signs in with the emailed code and opens the messages needing attention
    when_staff_sign_in(portal, username="trust.admin", password=ADMIN_PASSWORD)
    portal.goto("/staff/hl7/unmatched/")

    # Then every rejected message is listed, with its problem in words
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages needing attention")
    queue = page.get_by_role("table", name=re.compile("^Messages needing attention"))
    expect(queue.locator("tbody tr")).to_have_count(3)
    unknown = queue.locator("tbody tr").filter(has_text="no patient with this hospital number")
    expect(unknown).to_have_count(1)

    # When they open the message about the unknown patient
    portal.click_and_wait(unknown.get_by_role("link"))

    # Then they see the message as received
    expect(page.get_by_role("heading", level=1)).to_contain_text("ORU^R01")
    expect(page.get_by_label("The message as received")).to_contain_text("NOBODY^KNOWN")

    # When they enter the hospital number of the patient the lab meant, and find the patient
    page.get_by_label("Hospital number").fill("40012345")
    portal.click_and_wait(page.get_by_role("button", name="Find the patient"))

    # Then they are asked to check it is the right patient before anything is applied
    expect(page.get_by_role("heading", level=1)).to_have_text("Check this is the right patient")
    expect(page.get_by_role("main")).to_contain_text("Eleanor Hargreaves")
    assert not DiagnosticReport.objects.filter(filler_order_number="26H0000001").exists()

    # When they confirm and replay it
    portal.click_and_wait(page.get_by_role("button", name="Replay for this patient"))

    # Then the message's page says it was applied to that patient
    expect(page.get_by_role("main")).to_contain_text(
        "The message was replayed and applied to the record with hospital number 40012345."
    )

    # And, back in the queue, the message has left it, and the report is on the patient's record
    portal.click_and_wait(page.get_by_role("link", name="Back to messages needing attention").first)
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages needing attention")
    queue = page.get_by_role("table", name=re.compile("^Messages needing attention"))
    expect(queue.locator("tbody tr")).to_have_count(2)
    expect(queue).not_to_contain_text("no patient with this hospital number")
    report = DiagnosticReport.objects.get(filler_order_number="26H0000001")
    assert report.patient.hospital_number == "40012345"
    original = InboundMessage.objects.get(control_id="WP20261102099999", replay_of__isnull=True)
    assert not original.needs_attention

    # When they open the release rules and change the default rule to 2 working days
    portal.goto("/staff/results/rules/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Release rules for test results")
    default_table = page.get_by_role("table", name="Default rule")
    portal.click_and_wait(default_table.get_by_role("link", name=re.compile("^Change")))
    page.get_by_label("Number of working days after the final report").fill("2")
    portal.click_and_wait(page.get_by_role("button", name="Save rule"))

    # Then the rules page says so, and the rule is saved
    expect(page.get_by_role("heading", level=1)).to_have_text("Release rules for test results")
    expect(page.get_by_role("main")).to_contain_text("was saved")
    expect(page.get_by_role("table", name="Default rule")).to_contain_text("2 working days")
    assert ReleaseRule.objects.get(test_code="", category="").working_days == 2

    # When they open the bank holidays and add one that is already there
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="bank holidays"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bank holidays")
    when_they_add_a_bank_holiday(portal, day=datetime.date(2026, 12, 25), name="Christmas Day")

    # Then the error summary says so, and links to the date
    expect(page).to_have_title(re.compile("^Error: "))
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("25 December 2026 is already a bank holiday (Christmas Day)")
    expect(page.locator(".nhsuk-error-message").first).to_contain_text("already a bank holiday")

    # When they add a new one instead
    when_they_add_a_bank_holiday(portal, day=datetime.date(2031, 6, 10), name="Trust closure day")

    # Then it is listed among the upcoming bank holidays
    expect(page.get_by_role("main")).to_contain_text("Trust closure day (10 June 2031) was added.")
    upcoming = page.get_by_role("table", name="Upcoming bank holidays")
    expect(upcoming.get_by_role("row").filter(has_text="Trust closure day")).to_contain_text("Tuesday 10 June 2031")


def when_they_add_a_bank_holiday(portal, *, day: datetime.date, name: str) -> None:
    page = portal.page
    date_group = page.get_by_role("group", name="Date")
    date_group.get_by_label("Day").fill(str(day.day))
    date_group.get_by_label("Month").fill(str(day.month))
    date_group.get_by_label("Year").fill(str(day.year))
    page.get_by_label("Name", exact=True).fill(name)
    portal.click_and_wait(page.get_by_role("button", name="Add bank holiday"))
