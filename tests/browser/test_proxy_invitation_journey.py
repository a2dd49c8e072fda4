"""Proxy access from the patient's side in a real browser: an adult invites a carer by email, who creates an account
from the link and reads a released result; and a patient takes access away while the proxy's session is open.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import re

import pytest
from playwright.sync_api import expect

from careportal.patients.models import Patient
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.browser.portal import PortalPage
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in, when_they_sign_out
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.browser

CARER_EMAIL = "chris.carer@example.org"


def given_eleanor_has_a_released_blood_test() -> Patient:
    eleanor = Patient.objects.get(user__username="demo.patient")
    report = DiagnosticReportFactory(patient=eleanor, released=True, test_name="Thyroid function", test_code="TFT")
    ObservationFactory(report=report, code="TSH", name="Thyroid stimulating hormone", value_text="2.1", unit="mU/L")
    return eleanor


def test_an_adult_invites_a_carer_who_creates_an_account_accepts_and_reads_a_result(portal, smtp_server):
    page = portal.page
    main = page.get_by_role("main")

    # Given the demo trust is loaded, and Eleanor (demo.patient) has a released result
    given_the_demo_trust_is_loaded()
    given_eleanor_has_a_released_blood_test()

    # When Eleanor signs in and opens "Access for others" from her home page
    when_they_sign_in(portal, username="demo.patient")
    portal.click_and_wait(main.get_by_role("link", name="Access for others"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Access for others")
    expect(main).to_contain_text("Nobody can act for you at the moment.")

    # And invites her carer to see her test results and appointments
    portal.click_and_wait(main.get_by_role("link", name="Invite someone to act for you"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Invite someone to act for you")
    # (First, a mistake: no parts of the record chosen.)
    page.get_by_label("Their email address").fill(CARER_EMAIL)
    page.get_by_label("Their relationship to you").fill("carer")
    portal.click_and_wait(main.get_by_role("button", name="Send invitation"))
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Choose at least one part of your record they can see")
    page.get_by_role("checkbox", name="Test results").check()
    page.get_by_role("checkbox", name="Appointments").check()
    portal.click_and_wait(main.get_by_role("button", name="Send invitation"))

    # Then the invitation waits on her page
    expect(page.get_by_role("heading", level=1)).to_have_text("Access for others")
    expect(main).to_contain_text(f"We have emailed an invitation to {CARER_EMAIL}")
    expect(main).to_contain_text(f"{CARER_EMAIL} (carer)")

    # And the carer gets an email naming Eleanor by first name only, with a link
    message = smtp_server.wait_for_message(to=CARER_EMAIL)
    body = smtp_server.body(message)
    assert "Eleanor has invited you" in body
    assert "Hargreaves" not in body
    link = re.search(r"https?://\S+/access-for-others/invitations/\S+/", body).group(0)  # type: ignore[union-attr]
    when_they_sign_out(portal)

    # When the carer opens the link
    portal.goto(re.sub(r"^https?://[^/]+", "", link))

    # Then the token is gone from the address bar, and the page says who invited them
    expect(page).to_have_url(re.compile(r"/access-for-others/invitation/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Eleanor has invited you to help with their hospital record"
    )

    # When they create an account (no hospital record needed)
    portal.click_and_wait(main.get_by_role("link", name="Create an account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    expect(main).to_contain_text(CARER_EMAIL)
    page.get_by_label("First name").fill("Chris")
    page.get_by_label("Last name").fill("Carer")
    page.get_by_label("Create a username").fill("chris.carer")
    page.get_by_label("Create a password").fill("KettleOrchardLantern")
    for number, (question, answer) in enumerate(
        [("first_school", "Highgate Primary"), ("first_pet", "Biscuit"), ("childhood_street", "Elm Court")], start=1
    ):
        page.get_by_label(f"Question {number}", exact=True).select_option(question)
        page.get_by_label(f"Answer to question {number}").fill(answer)
    portal.click_and_wait(main.get_by_role("button", name="Create account and continue"))

    # Then they are signed in and asked to accept
    expect(page.get_by_role("heading", level=1)).to_have_text("Accept the invitation")
    expect(main).to_contain_text("Appointments and test results")

    # When they accept, and choose Eleanor's record
    portal.click_and_wait(main.get_by_role("button", name="Accept the invitation"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Whose record do you want to see?")
    expect(main).to_contain_text("You can now act for Eleanor Hargreaves")
    portal.click_and_wait(main.get_by_role("button", name="Eleanor Hargreaves (you are their carer)"))

    # Then they act for Eleanor, and read her released result
    expect(page.get_by_role("heading", level=1)).to_have_text("Eleanor Hargreaves")
    portal.click_and_wait(main.get_by_role("link", name="Test results").first)
    portal.click_and_wait(main.get_by_role("link", name="Thyroid function"))
    expect(main).to_contain_text("Thyroid stimulating hormone")

    # And Eleanor was told, without a name, that someone accepted
    told = smtp_server.wait_for_message(to="eleanor.h@example.org")
    assert "someone you invited accepted" in smtp_server.body(told)
    assert "Chris" not in smtp_server.body(told)


def test_a_patient_takes_access_away_while_the_proxys_session_is_open(portal, browser, browser_context_args):
    page = portal.page
    main = page.get_by_role("main")

    # Given Eleanor's carer can see her test results, and has her results open in their own browser
    given_the_demo_trust_is_loaded()
    eleanor = given_eleanor_has_a_released_blood_test()
    carer = UserFactory(username="chris.carer", first_name="Chris", last_name="Carer", email=CARER_EMAIL)
    relationship = ProxyRelationshipFactory(
        patient=eleanor, proxy=carer, relationship="carer", basis="granted", origin="invitation", scopes=["results"]
    )
    carer_context = browser.new_context(**browser_context_args)
    try:
        proxy = PortalPage(carer_context.new_page())
        proxy.page.set_default_timeout(10_000)
        when_they_sign_in(proxy, username="chris.carer", password=TEST_PASSWORD)
        expect(proxy.page.get_by_role("heading", level=1)).to_have_text("Eleanor Hargreaves")
        proxy.click_and_wait(proxy.page.get_by_role("main").get_by_role("link", name="Test results").first)
        proxy.click_and_wait(proxy.page.get_by_role("main").get_by_role("link", name="Thyroid function"))
        report_path = proxy.path

        # When Eleanor, in her own browser, takes the carer's access away
        when_they_sign_in(portal, username="demo.patient")
        portal.goto("/access-for-others/")
        expect(main).to_contain_text("Chris Carer (carer)")
        portal.click_and_wait(main.get_by_role("link", name=re.compile("change or take away Chris Carer's access")))
        expect(page.get_by_role("heading", level=1)).to_have_text("Chris Carer")
        portal.click_and_wait(main.get_by_role("link", name="Take away Chris Carer's access"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Take away Chris Carer's access to your record")
        portal.click_and_wait(main.get_by_role("button", name="Take away access"))
        expect(main).to_contain_text("Chris Carer can no longer act for you")
        relationship.refresh_from_db()
        assert relationship.status == "revoked"

        # Then the carer's very next request, in the session already open, is refused: with no record left to
        # open, they are sent to choose whose record to see, and Eleanor is not offered
        proxy.goto(report_path)
        expect(proxy.page).to_have_url(re.compile(r"/home/whose-record/$"))
        expect(proxy.page.get_by_role("heading", level=1)).to_have_text("There is no record to show")
        expect(proxy.page.get_by_role("main")).not_to_contain_text("Eleanor")
        proxy.goto("/home/")
        expect(proxy.page).to_have_url(re.compile(r"/home/whose-record/$"))

        # And Eleanor's page keeps the history under "Past access"
        portal.goto("/access-for-others/")
        page.get_by_text("Past access").click()
        expect(main).to_contain_text("Access taken away")
        assert relationship.events.get().kind == "revoked"
    finally:
        carer_context.close()
