import re

import pytest
from django.urls import reverse

from tests.accounts.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

FAILURE = "We could not sign you in with that username and password"


def test_a_patient_signs_in_and_lands_on_home(patient, client):
    response = client.post(reverse("account_login"), {"login": patient.user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home:home")


def test_staff_must_enter_an_emailed_code_then_land_on_the_staff_console(
    clinician_membership, client, mailoutbox, django_capture_on_commit_callbacks
):
    user = clinician_membership.user
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("account_login"), {"login": user.username, "password": TEST_PASSWORD})
    assert response["Location"] == reverse("account_confirm_login_code")
    assert client.get(reverse("home:home")).status_code == 302, "not signed in before the code"
    [email] = mailoutbox
    assert email.to == [user.email]
    code = re.search(r"\b(\d{6})\b", email.body).group(1)
    response = client.post(reverse("account_confirm_login_code"), {"action": "verify", "code": code})
    if response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": "skip"})
    assert response["Location"] == reverse("staff:home")


def test_a_patient_without_two_step_verification_signs_in_with_the_password_alone(patient, client, mailoutbox):
    response = client.post(reverse("account_login"), {"login": patient.user.username, "password": TEST_PASSWORD})
    assert response["Location"] == reverse("home:home")
    assert mailoutbox == []


def test_unknown_username_and_wrong_password_get_the_same_answer(patient, client):
    wrong_password = client.post(reverse("account_login"), {"login": patient.user.username, "password": "nope"})
    unknown_user = client.post(reverse("account_login"), {"login": "nobody-here", "password": "nope"})
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert FAILURE in wrong_password.content.decode()
    assert FAILURE in unknown_user.content.decode()


def test_empty_fields_get_specific_messages(client):
    body = client.post(reverse("account_login"), {"login": "", "password": ""}).content.decode()
    assert "Enter your username" in body
    assert "Enter your password" in body
    assert "There is a problem" in body


def test_overlong_and_unicode_input_is_refused_cleanly(client):
    response = client.post(reverse("account_login"), {"login": "é" * 5000, "password": "🙂" * 5000})
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()


def test_the_password_is_never_echoed_back(patient, client):
    body = client.post(
        reverse("account_login"), {"login": patient.user.username, "password": "secret-typed-wrong"}
    ).content.decode()
    assert "secret-typed-wrong" not in body


def test_next_may_only_point_to_this_site(patient, client):
    response = client.post(
        reverse("account_login") + "?next=https://evil.example/",
        {"login": patient.user.username, "password": TEST_PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("home:home")


def test_next_to_a_page_on_this_site_is_followed(patient, client):
    response = client.post(
        reverse("account_login"),
        {
            "login": patient.user.username,
            "password": TEST_PASSWORD,
            "next": reverse("patients:your-details"),
        },
    )
    assert response["Location"] == reverse("patients:your-details")


def test_sign_in_without_a_csrf_token_is_refused_with_a_plain_page(patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("account_login"), {"login": patient.user.username, "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "Your page timed out" in response.content.decode()


def test_sign_out_needs_a_post_and_ends_the_session(patient_client):
    # A GET (a link or an image on another site) only shows a "Sign out" button; it does not sign anyone out.
    assert patient_client.get(reverse("account_logout")).status_code == 200
    assert patient_client.get(reverse("home:home")).status_code == 200
    response = patient_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert patient_client.get(reverse("home:home")).status_code == 302


def test_an_inactive_account_cannot_sign_in(client):
    user = UserFactory(is_active=False)
    body = client.post(reverse("account_login"), {"login": user.username, "password": TEST_PASSWORD}).content
    assert FAILURE in body.decode()
