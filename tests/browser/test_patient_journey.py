"""A patient signs in, reads every page of their record, checks who has viewed it and signs out.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser


@pytest.mark.every_database
def test_patient_signs_in_reads_every_page_checks_the_access_log_and_signs_out(portal):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When the demo patient signs in through the sign-in form
    when_they_sign_in(portal, username="demo.patient")

    # Then they see their own home page
    expect(page).to_have_url(re.compile(r"/home/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")
    expect(page.get_by_role("banner")).to_contain_text("demo.patient")

    # When they open their details from the home page
    portal.click_and_wait(page.get_by_role("link", name="Your details"))

    # Then they see the contact details the hospital holds
    expect(page).to_have_url(re.compile(r"/your-details/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    expect(page.get_by_role("main")).to_contain_text("12 Cranbrook Road")
    expect(page.locator(".nhsuk-inset-text").last).to_contain_text("ask your care team to correct this")
    expect(page.get_by_role("main")).not_to_contain_text("<p>")
    menu = page.get_by_role("navigation", name="Menu")
    expect(menu.get_by_role("link", name="Details")).to_have_attribute("aria-current", "page")

    # When they go back home through the header and open who has viewed their record
    portal.click_and_wait(menu.get_by_role("link", name="Home"))
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Who has viewed your record"))

    # Then the access log starts with other people's access, and nobody else has looked yet
    expect(page).to_have_url(re.compile(r"/who-has-viewed-your-record/$"))
    expect(page.get_by_role("main")).not_to_contain_text("You viewed")

    # When they choose to see their own visits, these read in plain English
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="You", exact=True))
    expect(page).to_have_url(re.compile(r"/who-has-viewed-your-record/\?who=you$"))
    log = page.locator(".careportal-audit-list")
    expect(log).to_contain_text(re.compile(r"You viewed your contact details on \d{1,2} \w+ \d{4} at \d\d:\d\d"))
    expect(log).to_contain_text("You viewed your home page on")

    # When they read the help, accessibility and privacy pages from the footer, and the start page
    footer = page.get_by_role("contentinfo")
    portal.click_and_wait(footer.get_by_role("link", name="Get help"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Get help with CarePortal")
    portal.click_and_wait(footer.get_by_role("link", name="Accessibility statement"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Accessibility statement")
    portal.click_and_wait(footer.get_by_role("link", name="How we use your information"))
    expect(page.get_by_role("heading", level=1)).to_have_text("How we use your information")
    portal.goto("/")
    expect(page.get_by_role("main").get_by_role("button", name="Go to your home page")).to_be_visible()

    # And they sign out with the header's Sign out button
    portal.click_and_wait(page.get_by_role("banner").get_by_role("button", name="Sign out"))

    # Then they land on the start page, signed out
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("See your hospital record online")
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()

    # And their home page now asks them to sign in
    portal.goto("/home/")
    expect(page).to_have_url(re.compile(r"/sign-in/\?next=/home/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to CarePortal")


def test_wrong_password_shows_the_error_summary(portal):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When the demo patient signs in with the wrong password
    when_they_sign_in(portal, username="demo.patient", password="not-the-password")

    # Then the sign-in page says what went wrong in an error summary, and keeps the username but not the password
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("We could not sign you in with that username and password")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    expect(page.get_by_label("Username")).to_have_value("demo.patient")


def test_error_summary_takes_the_focus_so_screen_readers_announce_it(portal):
    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When the demo patient signs in with the wrong password
    when_they_sign_in(portal, username="demo.patient", password="not-the-password")

    # Then the NHS.UK error summary has taken the focus
    expect(portal.page.locator(".nhsuk-error-summary")).to_be_focused(timeout=2_000)


def test_missing_password_links_the_error_summary_to_the_field(portal):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When someone signs in without a password
    when_they_sign_in(portal, username="demo.patient", password="")

    # Then the error summary links to the password field, which shows the same error
    summary_link = page.locator(".nhsuk-error-summary").get_by_role("link", name="Enter your password")
    expect(summary_link).to_have_attribute("href", "#id_password")
    expect(page.locator("#id_password-error")).to_contain_text("Enter your password")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-describedby", re.compile("error"))

    # And following the link puts the cursor in the field
    summary_link.click()
    expect(page.get_by_label("Password", exact=True)).to_be_focused()


def test_page_not_found_is_the_nhs_styled_404_page(portal):
    # When someone opens an address that does not exist
    portal.goto("/no-such-page/", status=404)

    # Then they see the NHS-styled "Page not found" page with a way back
    page = portal.page
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("main").get_by_role("link", name="Go to the CarePortal start page")).to_be_visible()
