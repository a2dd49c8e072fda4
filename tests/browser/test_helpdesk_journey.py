"""Someone asks for help from the Get help page; the helpdesk answers by email, then issues a new activation code.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py). Emails, the staff
sign-in code included, go over a real SMTP connection to the `smtp_server` fixture (tests/smtp.py).
"""

import re

import pytest
from playwright.sync_api import expect

from careportal.accounts.activation import code_digest
from careportal.accounts.models import ActivationCode
from careportal.demo.data import DEMO_ACTIVATION_CODE
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser

PERSON_EMAIL = "river.jones@example.org"
HELPDESK_EMAIL = "demo.helpdesk@example.nhs.uk"


def when_the_helpdesk_agent_signs_in(portal, smtp_server) -> None:  # type: ignore[no-untyped-def]
    page = portal.page
    already_sent = len(smtp_server.messages)
    when_they_sign_in(portal, username="demo.helpdesk")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    sign_in_email = smtp_server.wait_for_message(to=HELPDESK_EMAIL, after=already_sent)
    code = re.search(r"\b(\d{6})\b", smtp_server.body(sign_in_email)).group(1)
    page.get_by_label("Sign-in code").fill(code)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to trust this device?")
    portal.click_and_wait(page.get_by_role("button", name="Do not trust this device"))


def test_a_request_for_help_is_answered_by_email_and_a_new_activation_code_is_issued(portal, smtp_server):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When someone who is not signed in opens Get help from the start page's footer
    portal.goto("/")
    portal.click_and_wait(page.get_by_role("contentinfo").get_by_role("link", name="Get help"))

    # Then they are told it is not for medical questions, and when to expect a reply
    main = page.get_by_role("main")
    expect(main).to_contain_text("This is not for medical advice")
    expect(main).to_contain_text("In an emergency call 999")
    expect(main).to_contain_text(re.compile(r"we aim to reply by \d{1,2} \w+ \d{4}"))

    # When they send a request for help about setting up their account
    page.get_by_label("Your name").fill("River Jones")
    page.get_by_label("Email address").fill(PERSON_EMAIL)
    page.get_by_label("Setting up my account").check()
    page.get_by_label("Describe the problem").fill("My activation letter never arrived. Can you send a new code?")
    portal.click_and_wait(page.get_by_role("button", name="Send request"))

    # Then they see a reference number and the date to expect a reply
    expect(page.get_by_role("heading", level=1)).to_have_text("Your request for help has been sent")
    reference = page.locator(".nhsuk-panel strong").inner_text()
    assert re.fullmatch(r"HELP-[A-Z0-9]{4}-[A-Z0-9]{4}", reference)
    expect(main).to_contain_text(re.compile(r"We aim to reply by email by \d{1,2} \w+ \d{4}"))
    page.context.clear_cookies()

    # When the demo helpdesk agent signs in, with the code emailed to them (staff always have a second step)
    when_the_helpdesk_agent_signs_in(portal, smtp_server)

    # And opens the helpdesk console from the staff console, then the requests for help
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")
    portal.click_and_wait(page.get_by_role("link", name="Open the helpdesk console"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Helpdesk console")
    portal.click_and_wait(page.get_by_role("link", name="Requests for help"))

    # Then the new request is in the queue
    queue = page.get_by_role("table", name="Requests for help")
    row = queue.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("Setting up my account")
    expect(row).to_contain_text("New")

    # When they open it, write a reply, check it and send it
    portal.click_and_wait(row.get_by_role("link", name=reference))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Request for help {reference}")
    expect(main).to_contain_text("My activation letter never arrived.")
    page.get_by_label("Your reply").fill(
        "Hello River.\n\nPlease call us on 020 7946 0000 so we can check who you are and read you a new code."
    )
    portal.click_and_wait(page.get_by_role("button", name="Check your reply"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your reply before sending it")
    portal.click_and_wait(page.get_by_role("button", name="Send reply"))

    # Then the request is answered, and the reply reaches the person through the mail server
    expect(main).to_contain_text(f"Your reply to {reference} is on its way by email.")
    reply = smtp_server.wait_for_message(to=PERSON_EMAIL)
    assert reply["Subject"] == "A reply from the CarePortal helpdesk"
    body = smtp_server.body(reply)
    assert "Hello River," in body
    assert re.search(r"Hello River\.\r?\n\r?\nPlease call us on 020 7946 0000 so we can check who you are", body), (
        "the paragraphs survive the check page"
    )

    # When the person calls, and the agent finds the patient by hospital number
    portal.click_and_wait(page.get_by_role("link", name="Back to requests for help"))
    expect(
        page.get_by_role("table", name="Requests for help").get_by_role("row").filter(has_text=reference)
    ).to_contain_text("Answered")
    portal.goto("/staff/helpdesk/")
    portal.click_and_wait(page.get_by_role("link", name="Find an account"))
    page.get_by_label("Hospital number", exact=True).check()
    page.get_by_label("Hospital number, NHS number or username").fill("40077801")
    portal.click_and_wait(page.get_by_role("button", name="Search"))
    expect(page).not_to_have_url(re.compile(r"40077801"))

    # Then they see Siobhán O'Sullivan, who has no account yet
    results = page.get_by_role("table", name="Accounts found")
    expect(results).to_contain_text("Siobhán O'Sullivan")
    expect(results).to_contain_text("22 November 1979")

    # When they issue a new activation code after checking who she is
    portal.click_and_wait(results.get_by_role("link", name="No account yet"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Patient: 40077801")
    portal.click_and_wait(page.get_by_role("button", name="Issue a new activation code"))
    page.get_by_label("On the phone:").check()
    page.get_by_label("Reason", exact=True).fill(
        "Called: the letter never arrived. Date of birth and postcode checked."
    )
    portal.click_and_wait(page.get_by_role("button", name="Issue a new activation code"))

    # Then the new code is shown once, works, and the code from the demo letter no longer does
    expect(page.get_by_role("heading", level=1)).to_have_text("New activation code")
    new_code = page.locator("#activation-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", new_code)
    expect(page).not_to_have_url(re.compile(new_code))
    issued = ActivationCode.objects.get(code_digest=code_digest(new_code))
    assert issued.revoked_at is None and issued.used_at is None
    assert issued.issued_by.username == "demo.helpdesk"
    assert ActivationCode.objects.get(code_digest=code_digest(DEMO_ACTIVATION_CODE)).revoked_at is not None


def test_every_helpdesk_console_page_passes_the_accessibility_check(portal, smtp_server):
    from careportal.accounts.models import User
    from tests.helpdesk.factories import FailedNotificationFactory

    page = portal.page

    # Given the demo trust, and two emails that could not be sent
    given_the_demo_trust_is_loaded()
    patient = User.objects.get(username="demo.patient")
    FailedNotificationFactory(user=patient)
    FailedNotificationFactory(user=None, status="retrying", attempts=2, last_error="notify: HTTP 503")
    when_the_helpdesk_agent_signs_in(portal, smtp_server)

    # When the agent makes a search with a mistake in it
    portal.goto("/staff/helpdesk/accounts/")
    page.get_by_label("NHS number", exact=True).check()
    page.get_by_label("Hospital number, NHS number or username").fill("999 000 001")
    portal.click_and_wait(page.get_by_role("button", name="Search"))

    # Then the error is summarised at the top and shown at the field
    expect(page.get_by_role("alert")).to_contain_text("Enter an NHS number with 10 digits")

    # When they search by username and open the patient's account, and each action's confirmation page
    page.get_by_label("Username", exact=True).check()
    page.get_by_label("Hospital number, NHS number or username").fill("demo.pa")
    portal.click_and_wait(page.get_by_role("button", name="Search"))
    portal.click_and_wait(page.get_by_role("table", name="Accounts found").get_by_role("link", name="demo.patient"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Account: demo.patient")
    expect(page.get_by_role("main")).to_contain_text("Eleanor Hargreaves")
    portal.click_and_wait(page.get_by_role("link", name="Clear failed sign-in attempts"))
    portal.click_and_wait(page.get_by_role("button", name="Unlock sign-in"))
    expect(page.get_by_role("alert")).to_contain_text("Enter the reason")
    page.get_by_label("Reason", exact=True).fill("Asked to clear failed attempts")
    portal.click_and_wait(page.get_by_role("button", name="Unlock sign-in"))
    expect(page.get_by_role("main")).to_contain_text("demo.patient can sign in again")
    expect(page.get_by_role("table", name=re.compile("Sign-ins, lockouts and changes"))).to_contain_text(
        "Unlocked by the helpdesk"
    )
    portal.goto(f"/staff/helpdesk/accounts/{patient.public_id}/reset-two-step/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset two-step verification")

    # And the emails and texts needing attention
    portal.goto("/staff/helpdesk/")
    portal.click_and_wait(page.get_by_role("link", name="Emails and texts needing attention"))
    expect(page.get_by_role("main")).to_contain_text("email: ConnectionRefusedError")
    expect(page.get_by_role("main")).to_contain_text("notify: HTTP 503")
