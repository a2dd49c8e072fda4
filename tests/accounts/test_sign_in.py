import pytest
from django.urls import reverse

from tests.accounts.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

FAILURE = "We could not sign you in with that username and password"


def test_a_patient_signs_in_and_lands_on_home(patient, client):
    response = client.post(reverse("accounts:sign-in"), {"username": patient.user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home:home")


def test_a_clinician_without_a_patient_record_lands_on_the_staff_console(clinician_membership, client):
    response = client.post(
        reverse("accounts:sign-in"),
        {"username": clinician_membership.user.username, "password": TEST_PASSWORD},
    )
    assert response["Location"] == reverse("staff:home")


def test_unknown_username_and_wrong_password_get_the_same_answer(patient, client):
    wrong_password = client.post(reverse("accounts:sign-in"), {"username": patient.user.username, "password": "nope"})
    unknown_user = client.post(reverse("accounts:sign-in"), {"username": "nobody-here", "password": "nope"})
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert FAILURE in wrong_password.content.decode()
    assert FAILURE in unknown_user.content.decode()


def test_empty_fields_get_specific_messages(client):
    body = client.post(reverse("accounts:sign-in"), {"username": "", "password": ""}).content.decode()
    assert "Enter your username" in body
    assert "Enter your password" in body
    assert "There is a problem" in body


def test_overlong_and_unicode_input_is_refused_cleanly(client):
    response = client.post(reverse("accounts:sign-in"), {"username": "é" * 5000, "password": "🙂" * 5000})
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()


def test_the_password_is_never_echoed_back(patient, client):
    body = client.post(
        reverse("accounts:sign-in"), {"username": patient.user.username, "password": "secret-typed-wrong"}
    ).content.decode()
    assert "secret-typed-wrong" not in body


def test_next_may_only_point_to_this_site(patient, client):
    response = client.post(
        reverse("accounts:sign-in") + "?next=https://evil.example/",
        {"username": patient.user.username, "password": TEST_PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("home:home")


def test_next_to_a_page_on_this_site_is_followed(patient, client):
    response = client.post(
        reverse("accounts:sign-in"),
        {
            "username": patient.user.username,
            "password": TEST_PASSWORD,
            "next": reverse("patients:your-details"),
        },
    )
    assert response["Location"] == reverse("patients:your-details")


def test_sign_in_without_a_csrf_token_is_refused_with_a_plain_page(patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:sign-in"), {"username": patient.user.username, "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "Your page timed out" in response.content.decode()


def test_sign_out_needs_a_post_and_ends_the_session(patient_client):
    assert patient_client.get(reverse("accounts:sign-out")).status_code == 405
    response = patient_client.post(reverse("accounts:sign-out"))
    assert response.status_code == 302
    assert patient_client.get(reverse("home:home")).status_code == 302


def test_an_inactive_account_cannot_sign_in(client):
    user = UserFactory(is_active=False)
    body = client.post(reverse("accounts:sign-in"), {"username": user.username, "password": TEST_PASSWORD}).content
    assert FAILURE in body.decode()
