"""The header, footer and tags are drawn once per process and kept (careportal/core/layout.py `component`): each
person still reads their own username in the header, and the sign-out form carries their own working CSRF token."""

import re

import pytest
from django import forms
from django.template import engines
from django.test import Client
from django.urls import reverse
from markupsafe import Markup

from careportal.core.forms import nhs_field
from careportal.core.layout import CSRF_TOKEN_SLOT, USERNAME_SLOT, select_component
from tests.patients.factories import PatientWithAccountFactory

pytestmark = pytest.mark.django_db


def test_a_kept_header_shows_each_person_their_own_name_and_a_sign_out_that_works() -> None:
    people = [PatientWithAccountFactory(user__username=name).user for name in ("ada.first", "bea.second")]
    browsers = []
    for user in people:
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        browsers.append(browser)

    pages = [browser.get(reverse("results:list")).content.decode() for browser in browsers]

    for user, other, page in zip(people, reversed(people), pages, strict=True):
        assert f"{user.username}<span" in page
        assert other.username not in page
        assert CSRF_TOKEN_SLOT not in page and USERNAME_SLOT not in page
    for browser, page in zip(browsers, pages, strict=True):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        response = browser.post(reverse("account_logout"), {"csrfmiddlewaretoken": token.group(1)})
        assert response.status_code == 302
        assert browser.get(reverse("results:list")).status_code == 302  # signed out: back to sign-in


def _select_macro():  # type: ignore[no-untyped-def]
    env = engines["jinja2"].env  # type: ignore[attr-defined]
    return env.get_template("nhsuk/components/select/macro.jinja").module.select


class _TestForm(forms.Form):
    test = forms.ChoiceField(label="Show results for", required=False, help_text="Pick one")
    kind = forms.ChoiceField(label="Kind", choices=[("a", "A")], widget=forms.Select(attrs={"autocomplete": "off"}))


@pytest.mark.parametrize(
    ("choices", "data"),
    [
        ([], None),
        ([("", "All tests")], None),
        ([("", "All tests"), ("FBC", "Full blood count"), ("U&E", "Urea <& electrolytes \"Na\" 'K'")], None),
        ([("", "All tests"), ("FBC", "Full blood count"), ("U&E", "Urea & electrolytes")], {"test": "U&E"}),
        ([("", "All tests"), ("FBC", "Full blood count")], {"test": "nope"}),  # an error message, none selected
    ],
)
def test_a_select_drawn_with_its_options_written_out_matches_the_macro(choices, data) -> None:  # type: ignore[no-untyped-def]
    form = _TestForm(data)
    form.fields["test"].choices = choices  # type: ignore[attr-defined]
    form.is_valid()
    macro = _select_macro()
    for name in ("test", "kind"):
        params = nhs_field(form[name])["params"]
        assert str(select_component(macro, params)) == str(macro(params))
        assert str(select_component(macro, params)) == str(macro(params))  # and again, from the kept select


def test_a_select_item_the_fast_path_does_not_know_is_left_to_the_macro() -> None:
    macro = _select_macro()
    params = {
        "id": "x",
        "name": "x",
        "label": {"text": "X"},
        "items": [{"value": "1", "text": Markup("<b>1</b>")}, {"divider": True}],
    }
    assert str(select_component(macro, params)) == str(macro(params))
