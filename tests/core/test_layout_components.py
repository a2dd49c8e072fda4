"""The header, footer and tags are drawn once per process and kept (careportal/core/layout.py `component`): each
person still reads their own username in the header, and the sign-out form carries their own working CSRF token."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from careportal.core.layout import CSRF_TOKEN_SLOT, USERNAME_SLOT
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
