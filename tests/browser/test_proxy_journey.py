"""A parent signs in and acts for their child, seeing only what they have been given access to."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser


def test_parent_sees_their_childs_record_but_not_the_childs_access_log(portal):
    page = portal.page

    # Given the demo trust is loaded
    given_the_demo_trust_is_loaded()

    # When the demo parent signs in
    when_they_sign_in(portal, username="demo.parent")

    # Then their home page is their child's, and says so
    expect(page).to_have_url(re.compile(r"/home/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun Patel")
    main = page.get_by_role("main")
    expect(main).to_contain_text("You are acting for")
    expect(main).to_contain_text("Arjun has no upcoming appointments.")
    expect(main.get_by_role("link", name="Arjun's details")).to_be_visible()

    # And nothing offers the child's access log
    expect(page.get_by_role("link", name="Who has viewed your record")).to_have_count(0)

    # When they open their child's details
    portal.click_and_wait(main.get_by_role("link", name="Arjun's details"))

    # Then they see the child's details, named as the child's
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun's details")
    expect(page.get_by_role("main")).to_contain_text("27 Hornsey Lane")

    # When they type the access log's address
    portal.goto("/who-has-viewed-your-record/", status=404)

    # Then they get the NHS-styled "Page not found" page, which does not confirm that the page exists
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
