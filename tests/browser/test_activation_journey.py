"""A patient's first visit: she sets up her account with the activation code from her letter, confirms her email
address from the email that arrives at a real SMTP server, turns on codes by email, signs in with the emailed code,
trusts her device, and then signs in again without a code.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import re

import pytest
from playwright.sync_api import expect

from careportal.demo.data import DEMO_ACTIVATION_CODE
from tests.browser.portal import PortalPage
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser

EMAIL = "siobhan.osullivan@example.org"
USERNAME = "siobhan.os"
PASSWORD = "Heron-Lantern-Orchard-47"


def when_they_enter_the_letters_details(portal: PortalPage, *, postcode: str) -> None:
    page = portal.page
    page.get_by_label("Activation code").fill(DEMO_ACTIVATION_CODE)
    page.get_by_label("Day").fill("22")
    page.get_by_label("Month").fill("11")
    page.get_by_label("Year").fill("1979")
    page.get_by_label("Postcode").fill(postcode)
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Continue"))


def continue_(portal: PortalPage) -> None:
    portal.click_and_wait(portal.page.get_by_role("main").get_by_role("button", name="Continue"))


def test_patient_activates_with_the_demo_letter_and_confirms_their_email(portal, smtp_server):
    page = portal.page
    main = page.get_by_role("main")

    # Given the demo trust is loaded (Siobhán O'Sullivan has a letter with an activation code)
    given_the_demo_trust_is_loaded()

    # When she follows "Set up your account" from the start page
    portal.goto("/")
    portal.click_and_wait(main.get_by_role("link", name="Set up your account"))

    # Then she is asked for the code from her letter, her date of birth and postcode
    expect(page).to_have_url(re.compile(r"/activate/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Step 1 of 4\W+Enter your activation code"))

    # When she types her postcode wrongly
    when_they_enter_the_letters_details(portal, postcode="N8 7QF")

    # Then one message says the details did not match, without saying which
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("We could not match these details")
    expect(page).to_have_title(re.compile(r"^Error: "))

    # When she enters them as in her letter (postcode in lower case, without a space)
    when_they_enter_the_letters_details(portal, postcode="n87qe")

    # Then she is asked for her email address
    expect(page).to_have_url(re.compile(r"/activate/email/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Step 2 of 4")
    page.get_by_label("Email address").fill(EMAIL)
    continue_(portal)

    # And she creates a username and password
    expect(page).to_have_url(re.compile(r"/activate/username-and-password/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Step 3 of 4")
    page.get_by_label("Create a username").fill(USERNAME)
    page.get_by_label("Create a password", exact=True).fill(PASSWORD)
    continue_(portal)

    # And she chooses 3 security questions (trying the same one twice first)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Step 4 of 4")
    for number, question, answer in [
        (1, "What was the name of your first pet?", "Biscuit"),
        (2, "What was the name of your first pet?", "Biscuit"),
        (3, "In which town or city did your parents meet?", "Galway"),
    ]:
        page.get_by_label(f"Question {number}", exact=True).select_option(label=question)
        page.get_by_label(f"Answer to question {number}").fill(answer)
    continue_(portal)
    expect(summary).to_contain_text("Choose a different question from question 1")
    page.get_by_label("Question 2", exact=True).select_option(label="What was the name of your first school?")
    for number, answer in [(1, "Biscuit"), (2, "St. Mary's"), (3, "Galway")]:
        page.get_by_label(f"Answer to question {number}").fill(answer)
    continue_(portal)

    # Then she checks her answers and is told her letters will come through the portal
    expect(page).to_have_url(re.compile(r"/activate/check/$"))
    expect(main).to_contain_text(EMAIL)
    expect(main).to_contain_text(USERNAME)
    expect(main).to_contain_text("we will stop posting your letters")
    expect(main).to_contain_text("If you would rather get your letters by post, call the helpdesk")

    # When she creates the account
    portal.click_and_wait(main.get_by_role("button", name="Create account"))

    # Then she is signed in and sees that her account is ready
    expect(page).to_have_url(re.compile(r"/activate/done/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account is ready")
    expect(page.locator(".nhsuk-panel")).to_contain_text(USERNAME)
    expect(page.get_by_role("banner")).to_contain_text(USERNAME)
    expect(main).to_contain_text("s•••@example.org")
    expect(main).to_contain_text("Your letters now come through CarePortal")
    expect(main.get_by_role("button", name="Set up two-step verification")).to_have_attribute(
        "href", "/account/security/"
    )

    # And an email with a link to confirm her address arrives
    message = smtp_server.wait_for_message(to=EMAIL)
    assert message["Subject"] == "Confirm your email address for CarePortal"
    link = re.search(r"https?://\S+/account/confirm-email/\S+/", smtp_server.body(message)).group(0)

    # When she opens the link and confirms
    portal.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    portal.click_and_wait(main.get_by_role("button", name="Confirm my email address"))

    # Then she lands on her home page with her address confirmed
    expect(page).to_have_url(re.compile(r"/home/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Siobhán")
    expect(main).to_contain_text("You have confirmed")

    # And the link does not work a second time
    portal.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired or has already been used")

    # --- The rest of her first visit: two-step verification by email, then a trusted device (issue 4's journey) ---

    # When she turns on codes by email from "Sign-in and security", giving her password again
    portal.goto("/account/security/")
    portal.click_and_wait(page.get_by_role("link", name="Change two-step verification"))
    portal.click_and_wait(page.get_by_role("button", name="Turn on codes by email"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your password again")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("main")).to_contain_text("On: a code sent by email")

    # And signs out, then signs in again with her new username and password
    portal.click_and_wait(page.get_by_role("banner").get_by_role("button", name="Sign out"))
    before = len(smtp_server.messages)
    when_they_sign_in(portal, username=USERNAME, password=PASSWORD)

    # Then she is asked for the code emailed to her, which arrives through the real SMTP server
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    code_email = next(_wait_for_subject(smtp_server, to=EMAIL, subject="Your CarePortal sign-in code", after=before))
    code = re.search(r"\b(\d{6})\b", smtp_server.body(code_email)).group(1)
    page.get_by_label("Sign-in code").fill(code)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))

    # And she trusts this device, and reaches her home page
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to trust this device?")
    portal.click_and_wait(page.get_by_role("button", name="Trust this device for 90 days"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Siobhán")

    # When she signs out and in again on the same device, no code is asked for
    portal.click_and_wait(page.get_by_role("banner").get_by_role("button", name="Sign out"))
    codes_before = _count_subject(smtp_server, "Your CarePortal sign-in code")
    when_they_sign_in(portal, username=USERNAME, password=PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Siobhán")
    assert _count_subject(smtp_server, "Your CarePortal sign-in code") == codes_before


def _count_subject(smtp_server, subject: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for m in smtp_server.messages if m["Subject"] == subject)


def _wait_for_subject(smtp_server, *, to: str, subject: str, after: int):  # type: ignore[no-untyped-def]
    """Messages to `to` with `subject` received after the first `after`, waiting for the first one."""
    while True:
        message = smtp_server.wait_for_message(to=to, after=after)
        if message["Subject"] == subject:
            yield message
            return
        after = smtp_server.messages.index(message) + 1
