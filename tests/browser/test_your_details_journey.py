"""Your details in a real browser: an address change is audited and delivered as ADT^A31 to the local MLLP server;
an email change takes effect only once the link that arrives through a real SMTP server is followed.

Every page opened through `portal` is checked with axe-core (WCAG 2.2 A and AA). Screenshots, desktop and 320 px
wide, go to the folder CAREPORTAL_SCREENSHOTS names, when it is set.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from careportal.hl7.handlers.adt import patient_details
from careportal.hl7.parsing import parse_message
from tests.browser.steps import given_the_demo_trust_is_loaded, when_staff_sign_in, when_they_sign_in
from tests.hl7.pas_server import free_port, running_pas

pytestmark = pytest.mark.browser

# Screenshots are taken only when asked for: CAREPORTAL_SCREENSHOTS=/tmp/i12-details pytest tests/browser/...
SHOTS = os.environ.get("CAREPORTAL_SCREENSHOTS", "")
NEW_EMAIL = "eleanor.new@example.org"


def screenshots(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if not SHOTS:
        return
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.screenshot(path=str(folder / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 320, "height": 800})
    page.screenshot(path=str(folder / f"{name}-320.png"), full_page=True)
    page.set_viewport_size(size)


@pytest.fixture
def pas(settings):  # type: ignore[no-untyped-def]
    with running_pas(ack_code="AA") as server:
        settings.HL7_OUTBOUND_PAS_HOST = server.host
        settings.HL7_OUTBOUND_PAS_PORT = server.port
        settings.HL7_OUTBOUND_TIMEOUT_SECONDS = 5
        yield server


def test_an_address_change_is_audited_and_delivered_as_adt_a31_to_the_local_mllp_server(portal, pas, smtp_server):
    page = portal.page
    main = page.get_by_role("main")

    # Given demo.patient has signed in
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # When they open their details
    portal.click_and_wait(main.get_by_role("link", name="Your details"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    expect(main).to_contain_text("ask your care team to correct this")
    screenshots(page, "your-details")

    # And change their address, first with a postcode that is not one
    portal.click_and_wait(main.get_by_role("link", name="Change address"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your address")
    page.get_by_label("Address line 1").fill("14 Orchard Way")
    page.get_by_label("Address line 2 (optional)").fill("")
    page.get_by_label("Town or city").fill("Leeds")
    page.get_by_label("Postcode").fill("NOT A POSTCODE")
    portal.click_and_wait(main.get_by_role("button", name="Save address"), status=400)

    # Then they are told plainly what is wrong, and nothing changed
    expect(page.get_by_role("alert")).to_contain_text("Enter a real UK postcode, like SW1A 1AA")
    screenshots(page, "change-address-error")
    assert pas.messages == []

    # When they enter a real postcode, typed loosely
    page.get_by_label("Postcode").fill("ls1 4ap")
    portal.click_and_wait(main.get_by_role("button", name="Save address"))

    # Then the change shows at once, with the postcode written properly
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    expect(page.locator(".nhsuk-notification-banner")).to_contain_text("Your address has been changed.")
    expect(main).to_contain_text("14 Orchard Way")
    expect(main).to_contain_text("LS1 4AP")

    # And the PAS receives an ADT^A31 with the new address over MLLP
    (raw,) = pas.wait_for_messages(1)
    message = parse_message(raw)
    assert message.header.message_type == "ADT^A31"
    details = patient_details(message.first("PID"))
    assert (details.address_line_1, details.town, details.postcode) == ("14 Orchard Way", "Leeds", "LS1 4AP")

    # And a notice without the address arrives by email
    notice = smtp_server.wait_for_message(to="eleanor.h@example.org")
    assert notice["Subject"] == "Your contact details in CarePortal were changed"
    assert "Orchard" not in smtp_server.body(notice)

    # And the change is in "who has viewed your record"
    portal.goto("/who-has-viewed-your-record/")
    portal.click_and_wait(main.get_by_role("link", name="You", exact=True))
    expect(main).to_contain_text("changed your address")


def test_an_email_change_takes_effect_only_when_the_link_is_followed(portal, smtp_server, pas):
    page = portal.page
    main = page.get_by_role("main")
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")
    portal.goto("/your-details/")

    # When they change their email address
    portal.click_and_wait(main.get_by_role("link", name="Change email address"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your email address")
    page.get_by_label("New email address").fill(NEW_EMAIL)
    portal.click_and_wait(main.get_by_role("button", name="Send the link"))

    # Then they are asked to check their email, and nothing has changed yet
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    screenshots(page, "check-your-email")
    portal.goto("/your-details/")
    expect(main).to_contain_text(f"Waiting for you to confirm {NEW_EMAIL}")
    expect(main.locator(".nhsuk-summary-list").first).to_contain_text("eleanor.h@example.org")
    screenshots(page, "your-details-waiting")
    assert pas.messages == []

    # When the link arrives at the new address through a real SMTP server, and they open it
    message = smtp_server.wait_for_message(to=NEW_EMAIL)
    assert message["Subject"] == "Confirm your email address for CarePortal"
    link = re.search(r"https?://\S+", smtp_server.body(message)).group(0)
    path = re.sub(r"^https?://[^/]+", "", link)
    assert re.fullmatch(r"/your-details/email/confirm/[A-Za-z0-9_-]+/", path)
    portal.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your new email address")
    portal.click_and_wait(main.get_by_role("button", name="Confirm my new email address"))

    # Then the new address is theirs, the old address is told, and the PAS gets it
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address has been changed")
    old_notice = smtp_server.wait_for_message(to="eleanor.h@example.org")
    assert old_notice["Subject"] == "Your contact details in CarePortal were changed"
    (raw,) = pas.wait_for_messages(1)
    assert patient_details(parse_message(raw).first("PID")).email == NEW_EMAIL
    portal.click_and_wait(main.get_by_role("link", name="Go to your details"))
    expect(main).to_contain_text(NEW_EMAIL)
    expect(main).not_to_contain_text("Waiting for you to confirm")

    # And the link does not work twice
    portal.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has already been used")

    # And the contact preferences page says phone contact is unaffected
    portal.goto("/your-details/contact-preferences/")
    expect(main).to_contain_text("This does not change how the hospital phones you")
    screenshots(page, "contact-preferences")


def test_a_pas_that_is_down_shows_as_a_failure_that_staff_can_send_again(portal, settings):
    page = portal.page
    main = page.get_by_role("main")

    # Given the PAS cannot be reached, and CarePortal gives up after one try
    given_the_demo_trust_is_loaded()
    settings.HL7_OUTBOUND_PAS_HOST = "127.0.0.1"
    settings.HL7_OUTBOUND_PAS_PORT = free_port()
    settings.HL7_OUTBOUND_TIMEOUT_SECONDS = 2
    settings.HL7_OUTBOUND_MAX_ATTEMPTS = 1

    # When demo.patient adds a mobile number
    when_they_sign_in(portal, username="demo.patient")
    portal.goto("/your-details/mobile-phone/")
    page.get_by_label("Mobile phone number").fill("07700 900 982")
    portal.click_and_wait(main.get_by_role("button", name="Save number"))

    # Then the change still takes effect at once for them
    expect(page.locator(".nhsuk-notification-banner")).to_contain_text("Your mobile phone number has been changed.")
    expect(main).to_contain_text("07700 900982")
    portal.click_and_wait(page.get_by_role("banner").get_by_role("button", name="Sign out"))

    # And the integration administrator sees the failure, and why, from the staff console
    when_staff_sign_in(portal, username="demo.integration")
    portal.goto("/staff/")
    expect(main).to_contain_text("Messages sent to the PAS: 1 failed, 0 waiting")
    portal.click_and_wait(main.get_by_role("link", name="Messages sent to the PAS"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages sent to the PAS")
    expect(main).to_contain_text("connection refused; gave up after 1 try")
    screenshots(page, "staff-outbound-failed")

    # When the PAS is back and they try again
    with running_pas(ack_code="AA") as pas:
        settings.HL7_OUTBOUND_PAS_PORT = pas.port
        portal.click_and_wait(main.get_by_role("button", name=re.compile("Try again now")))

        # Then the message is delivered and shows as sent
        (raw,) = pas.wait_for_messages(1)
    assert patient_details(parse_message(raw).first("PID")).mobile_phone == "07700 900982"
    expect(main).to_contain_text("Accepted (AA)")


def test_a_parent_changes_their_childs_address_on_their_behalf(portal, pas):
    page = portal.page
    main = page.get_by_role("main")

    # Given demo.parent acts for Arjun with the details scope
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.parent")

    # When they open Arjun's details
    portal.click_and_wait(main.get_by_role("link", name="Arjun's details"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun's details")
    expect(main).to_contain_text("To add or change Arjun's email address, tell the reception team")
    expect(main.get_by_role("link", name="Change email address")).to_have_count(0)
    screenshots(page, "proxy-details")

    # And change his address
    portal.click_and_wait(main.get_by_role("link", name="Change address"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun's address")
    page.get_by_label("Address line 1").fill("5 Park View")
    page.get_by_label("Town or city").fill("London")
    page.get_by_label("Postcode").fill("n19 3rq")
    portal.click_and_wait(main.get_by_role("button", name="Save address"))

    # Then it is changed, in the third person, and the PAS hears of it
    expect(page.locator(".nhsuk-notification-banner")).to_contain_text("Arjun's address has been changed.")
    expect(main).to_contain_text("N19 3RQ")
    (raw,) = pas.wait_for_messages(1)
    assert patient_details(parse_message(raw).first("PID")).postcode == "N19 3RQ"

    # And the email address page is not theirs to open
    portal.goto("/your-details/email/", status=404)
