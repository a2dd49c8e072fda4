"""Steps shared by the journeys, written as a person would do them: through the real pages and forms."""

from careportal.demo.data import DEMO_PASSWORD
from careportal.demo.services import demo_trust_load
from tests.browser.portal import PortalPage


def given_the_demo_trust_is_loaded() -> None:
    demo_trust_load()


def when_they_sign_in(portal: PortalPage, *, username: str, password: str = DEMO_PASSWORD) -> None:
    """From the start page, follow "Sign in", fill in the form and press the button."""
    portal.goto("/")
    page = portal.page
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Sign in"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="Sign in"))
