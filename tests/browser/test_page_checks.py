"""The checks `PortalPage` runs on every page do catch what they are meant to catch."""

import re

import pytest

from tests.browser.axe import AccessibilityViolations, assert_accessible
from tests.browser.portal import PageProblems

pytestmark = pytest.mark.browser


def test_axe_failure_names_the_rule_its_help_and_the_failing_element(page):
    page.set_content(
        '<!DOCTYPE html><html lang="en-GB"><head><title>A page</title></head>'
        '<body><main><h1>A page</h1><img src="/static/x.png" id="chart"><input id="q"></main></body></html>'
    )
    with pytest.raises(AccessibilityViolations) as failure:
        assert_accessible(page, where="a test page")
    message = str(failure.value)
    assert message.startswith("2 accessibility violation(s) (axe-core, WCAG 2.2 A/AA) on a test page:")
    assert "- image-alt (critical): Images must have alternative text" in message
    assert "  * #chart" in message
    assert "- label (critical): Form elements must have labels" in message
    assert "  * #q" in message


def test_a_page_whose_stylesheet_fails_to_load_fails_the_check(portal):
    # Given the portal's own stylesheet is missing
    portal.page.route(re.compile(r".*/careportal\.css$"), lambda route: route.fulfill(status=404))

    # Then opening any page fails, naming the stylesheet
    with pytest.raises(PageProblems, match=r"stylesheet http://\S+/careportal\.css answered 404"):
        portal.goto("/")

    # And once it is back, the page passes
    portal.page.unroute_all()
    portal.goto("/accessibility/")
