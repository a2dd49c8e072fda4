"""Sign-in and security in a real browser: the emailed code, a trusted device, a passkey and the idle warning.

Every page opened through `portal` is checked with axe-core (WCAG 2.2 A and AA); the idle warning is checked with
the dialog open as well.
"""

import re

import pytest
from playwright.sync_api import expect

from careportal.demo.data import DEMO_PASSWORD
from tests.browser.axe import assert_accessible
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser

DEMO_EMAIL = "eleanor.h@example.org"
CODE_SUBJECT = "Your CarePortal sign-in code"
NOTICE_SUBJECT = "A change to how you sign in to CarePortal"


def sign_out(portal) -> None:  # type: ignore[no-untyped-def]
    portal.click_and_wait(portal.page.get_by_role("banner").get_by_role("button", name="Sign out"))


def messages_with_subject(smtp_server, subject: str) -> list:  # type: ignore[no-untyped-def]
    return [m for m in smtp_server.messages if m["Subject"] == subject]


def test_patient_turns_on_the_emailed_code_and_trusts_their_device(portal, smtp_server):
    page = portal.page

    # Given the demo trust is loaded, and demo.patient signs in with their password alone
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")

    # When they open "Sign-in and security" from their home page
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Sign-in and security"))
    expect(page).to_have_url(re.compile(r"/account/security/$"))
    expect(page.get_by_role("main")).to_contain_text("demo.patient")
    expect(page.get_by_role("main")).to_contain_text("Off")

    # And choose to change two-step verification, and turn on codes by email
    portal.click_and_wait(page.get_by_role("link", name="Change two-step verification"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")
    portal.click_and_wait(page.get_by_role("button", name="Turn on codes by email"))

    # Then they are asked for their password again first
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your password again")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))

    # And codes by email are on, and a notice of the change arrives by email
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-step verification")
    expect(page.get_by_role("main")).to_contain_text("You will now get a code by email each time you sign in.")
    expect(page.get_by_role("main")).to_contain_text("On: a code sent by email")
    notice = smtp_server.wait_for_message(to=DEMO_EMAIL)
    assert notice["Subject"] == NOTICE_SUBJECT

    # When they sign out and sign in again
    sign_out(portal)
    before = len(smtp_server.messages)
    when_they_sign_in(portal, username="demo.patient")

    # Then they are asked for the code sent to their email, which arrives through the real SMTP server
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    message = smtp_server.wait_for_message(to=DEMO_EMAIL, after=before)
    assert message["Subject"] == CODE_SUBJECT
    code = re.search(r"\b(\d{6})\b", smtp_server.body(message)).group(1)
    page.get_by_label("Sign-in code").fill(code)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))

    # And they choose to trust this device, and reach their home page
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to trust this device?")
    portal.click_and_wait(page.get_by_role("button", name="Trust this device for 90 days"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")
    portal.goto("/account/security/")
    expect(page.get_by_role("main")).to_contain_text("This device is trusted until")

    # When they sign out and sign in again on the same device
    sign_out(portal)
    codes_before = len(messages_with_subject(smtp_server, CODE_SUBJECT))
    when_they_sign_in(portal, username="demo.patient")

    # Then no code is asked for, and none is sent
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")
    assert len(messages_with_subject(smtp_server, CODE_SUBJECT)) == codes_before


def test_the_idle_warning_lets_a_patient_stay_signed_in(portal, settings):
    page = portal.page
    # Given short limits: the warning opens 4 seconds after a page loads, 8 seconds before the 12-second limit
    settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS = 12
    settings.CAREPORTAL_IDLE_WARNING_SECONDS = 8
    given_the_demo_trust_is_loaded()

    # When demo.patient signs in and leaves the page alone
    when_they_sign_in(portal, username="demo.patient")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")

    # Then a dialog warns them, with the focus on "Stay signed in"
    dialog = page.get_by_role("alertdialog", name="You are about to be signed out")
    expect(dialog).to_be_visible(timeout=8_000)
    expect(dialog).to_contain_text(re.compile(r"You will be signed out in (\d+ seconds|a few seconds)\."))
    expect(dialog).to_contain_text("Do you want to stay signed in?")
    stay = dialog.get_by_role("button", name="Stay signed in")
    expect(stay).to_be_focused()
    expect(dialog.get_by_role("button", name="Sign out")).to_be_visible()
    # And the page with the dialog open passes the accessibility check
    assert_accessible(page, where="home page with the idle warning open")

    # When they choose to stay signed in
    stay.click()

    # Then the dialog closes and, after the first limit has passed, they are still signed in
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(9_000)
    portal.goto("/account/security/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign-in and security")


def test_escape_keeps_the_session_and_doing_nothing_ends_it(portal, settings):
    page = portal.page
    settings.CAREPORTAL_IDLE_TIMEOUT_SECONDS = 8
    settings.CAREPORTAL_IDLE_WARNING_SECONDS = 6
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # When the warning opens and they press Escape, it closes and counts as staying signed in
    dialog = page.get_by_role("alertdialog", name="You are about to be signed out")
    expect(dialog).to_be_visible(timeout=6_000)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # When the warning opens again and they do nothing, the page goes to the sign-in page and says why
    expect(dialog).to_be_visible(timeout=6_000)
    page.wait_for_url(re.compile(r"/sign-in/$"), timeout=15_000)
    page.wait_for_load_state("load")
    expect(page.get_by_role("main")).to_contain_text("You were signed out because you had not used CarePortal")
    portal.check()


def test_patient_adds_a_passkey_and_signs_in_with_it(portal):
    page = portal.page
    # Given a browser with a passkey built in (Chromium's virtual authenticator, through the DevTools protocol)
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # When they add a passkey from the two-step verification page (password asked again first)
    portal.goto("/account/2fa/")
    portal.click_and_wait(page.get_by_role("link", name="Add a passkey"))
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a passkey")
    page.get_by_label("Give your passkey a name").fill("This laptop")
    portal.click_and_wait(page.get_by_role("button", name="Add a passkey"))

    # Then they are shown their new recovery codes, and the passkey is listed
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    portal.goto("/account/2fa/webauthn/")
    expect(page.get_by_role("table")).to_contain_text("This laptop")

    # When they sign out and sign in again, they are asked for the passkey, and it lets them in
    sign_out(portal)
    when_they_sign_in(portal, username="demo.patient")
    expect(page.get_by_role("heading", name="Or use your passkey")).to_be_visible()
    portal.click_and_wait(page.get_by_role("button", name="Use your passkey"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Do you want to trust this device?")
    portal.click_and_wait(page.get_by_role("button", name="Do not trust this device"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")


def test_every_sign_in_and_security_page_passes_the_accessibility_check(portal):
    page = portal.page
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # Pages that need the password again first: give it once, then every page opens for 5 minutes.
    portal.goto("/account/2fa/totp/activate/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your password again")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    portal.click_and_wait(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    page.get_by_text("I cannot scan the QR code").click()
    expect(page.locator(".careportal-setup-key")).to_have_text(re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4})+$"))
    portal.check()

    for path, heading in [
        ("/account/security/", "Sign-in and security"),
        ("/account/2fa/", "Two-step verification"),
        ("/account/2fa/webauthn/", "Your passkeys"),
        ("/account/2fa/webauthn/add/", "Add a passkey"),
        ("/account/2fa/recovery-codes/generate/", "Make new recovery codes"),
        ("/account/sessions/", "Where you are signed in"),
        ("/account/password/change/", "Change your password"),
    ]:
        portal.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    # A password change that is refused shows the error summary, which is checked too
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("Another-long-passphrase-7")
    page.get_by_label("Type your new password again").fill("Another-long-passphrase-7")
    portal.click_and_wait(page.get_by_role("button", name="Change password"))
    expect(page.get_by_role("alert")).to_contain_text("Enter your current password")
