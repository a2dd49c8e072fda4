"""A parent who is also a patient switches between her own record and her child's: every page of the child's record
says whose it is, under the header, above the heading and in the title, at desktop width and at 320 px."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from careportal.accounts.models import User
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in
from tests.patients.factories import PatientFactory

pytestmark = pytest.mark.browser

# Set CAREPORTAL_SCREENSHOTS to a folder to keep a picture of each page (for reviewing the layout by eye).
SCREENSHOTS = os.environ.get("CAREPORTAL_SCREENSHOTS", "")


def _picture(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 320])
def test_a_parent_switches_to_her_childs_record_and_every_page_says_whose_it_is(portal, width: int) -> None:
    page = portal.page
    page.set_viewport_size({"width": width, "height": 900})

    # Given the demo trust, in which Priya Patel (demo.parent) acts for her son Arjun, and Priya has a record too
    given_the_demo_trust_is_loaded()
    PatientFactory(user=User.objects.get(username="demo.parent"), given_name="Priya", family_name="Patel")

    # When she signs in, she chooses whose record to open: hers or her son's, each with what it gives access to
    when_they_sign_in(portal, username="demo.parent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Whose record do you want to see?")
    main = page.get_by_role("main")
    expect(main.get_by_role("button", name="You", exact=True)).to_be_visible()
    expect(main).to_contain_text("You can see")
    _picture(page, f"choose-{width}")
    portal.click_and_wait(main.get_by_role("button", name="Arjun Patel (your child)"))

    # Then the home page is Arjun's, and says so in the title and under the header
    bar = page.get_by_role("region", name="Whose record you are viewing")
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun Patel")
    expect(page).to_have_title(re.compile(r"^Home – Arjun Patel's record – "))
    expect(bar).to_contain_text("Viewing Arjun Patel's record")
    _picture(page, f"proxy-home-{width}")

    # And his test results say whose they are above the heading
    portal.goto("/test-results/")
    expect(page.get_by_role("main")).to_contain_text("Arjun Patel's record")
    expect(page).to_have_title(re.compile(r"^Test results – Arjun Patel's record – "))
    _picture(page, f"proxy-results-{width}")

    # When she switches back to her own record, nothing says anyone else's
    portal.click_and_wait(bar.get_by_role("link", name="Switch to another person's record"))
    portal.click_and_wait(page.get_by_role("main").get_by_role("button", name="You", exact=True))
    expect(bar).to_contain_text("Viewing your own record")
    expect(page).not_to_have_title(re.compile("Arjun"))
    _picture(page, f"own-home-{width}")
