"""Account recovery in a real browser: a forgotten password reset through security questions and an emailed link,
and a forgotten username, with the emails read back from a real SMTP server.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import re

import pytest
from playwright.sync_api import expect

from careportal.accounts.models import SecurityAnswer, SecurityQuestion, User
from careportal.accounts.security import hash_answer
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser

DEMO_EMAIL = "eleanor.h@example.org"
NEW_PASSWORD = "Lighthouse-marmalade-79"
ANSWERS = {
    SecurityQuestion.FIRST_PET: "Biscuit",
    SecurityQuestion.CHILDHOOD_STREET: "Acacia Avenue",
    SecurityQuestion.FIRST_SCHOOL: "St. Mary's",
}


def given_the_demo_patient_has_security_answers() -> None:
    user = User.objects.get(username="demo.patient")
    for question, answer in ANSWERS.items():
        SecurityAnswer.objects.update_or_create(
            user=user, question=question, defaults={"answer_hash": hash_answer(answer)}
        )


def test_patient_resets_a_forgotten_password_with_the_emailed_link_and_signs_in(portal, smtp_server):
    page = portal.page

    # Given the demo trust is loaded and the demo patient has set up security answers
    given_the_demo_trust_is_loaded()
    given_the_demo_patient_has_security_answers()

    # When they follow "I have forgotten my password" from the sign-in page
    portal.goto("/sign-in/")
    portal.click_and_wait(page.get_by_role("link", name="I have forgotten my password"))

    # Then they are asked for their username or email address
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")

    # When they give their username
    page.get_by_label("Username or email address").fill("demo.patient")
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Continue"))

    # Then they are asked 2 of their 3 security questions
    expect(page).to_have_url(re.compile(r"/forgotten-password/security-questions/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Answer your security questions")
    boxes = page.get_by_role("main").get_by_role("textbox")
    expect(boxes).to_have_count(2)

    # When they answer them, in their own capitals and spacing
    by_text = {str(question.label): answer for question, answer in ANSWERS.items()}
    for number in (1, 2):
        question = page.locator(f"label[for='id_answer_{number}']").inner_text().strip()
        page.locator(f"#id_answer_{number}").fill(f" {by_text[question].upper()} ")
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Continue"))

    # Then they are told to check their email, without being told whether the account exists
    expect(page).to_have_url(re.compile(r"/forgotten-password/check-your-email/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_role("main")).to_contain_text("If the details you gave match an account")

    # And an email with a single-use link arrives
    message = smtp_server.wait_for_message(to=DEMO_EMAIL)
    assert message["Subject"] == "Reset your CarePortal password"
    link = re.search(r"https?://\S+/forgotten-password/new-password/\?key=\S+", smtp_server.body(message)).group(0)

    # When they open the link
    portal.goto(link)

    # Then the key has left the address bar and they can choose a new password
    expect(page).to_have_url(re.compile(r"/forgotten-password/new-password/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")

    # When they type a password that is too short
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Type your new password again").fill("short")
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Save new password"))

    # Then they are told exactly what is wrong
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("This password is too short")

    # When they choose a good one
    received = len(smtp_server.messages)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Type your new password again").fill(NEW_PASSWORD)
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Save new password"))

    # Then their password is changed and a security notice is emailed
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password has been changed")
    notice = smtp_server.wait_for_message(to=DEMO_EMAIL, after=received)
    assert notice["Subject"] == "A change to how you sign in to CarePortal"

    # And the link does not work a second time
    portal.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired or has already been used")

    # When they sign in with the new password
    when_they_sign_in(portal, username="demo.patient", password=NEW_PASSWORD)

    # Then they reach their home page
    expect(page).to_have_url(re.compile(r"/home/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Eleanor")


def test_patient_gets_a_forgotten_username_by_email(portal, smtp_server):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When they follow "I have forgotten my username" from the sign-in page and give their email address
    portal.goto("/sign-in/")
    portal.click_and_wait(page.get_by_role("link", name="I have forgotten my username"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Find your username")
    page.get_by_label("Email address").fill(DEMO_EMAIL)
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Continue"))

    # Then they are told to check their email, in words that do not say whether the address is known
    expect(page).to_have_url(re.compile(r"/forgotten-username/check-your-email/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    # And the email tells them their username
    message = smtp_server.wait_for_message(to=DEMO_EMAIL)
    assert message["Subject"] == "Your CarePortal username"
    assert "demo.patient" in smtp_server.body(message)

    # When they give an address that is not on any account
    portal.goto("/forgotten-username/")
    page.get_by_label("Email address").fill("nobody@example.org")
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Continue"))

    # Then they see the very same page, and no email is sent
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert all("nobody@example.org" not in str(m["To"]) for m in smtp_server.messages)
