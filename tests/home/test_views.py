import pytest
from django.urls import reverse

from careportal.audit.models import AccessEvent

pytestmark = pytest.mark.django_db


def test_start_page_invites_sign_in_and_explains_activation(client):
    response = client.get(reverse("home:start"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Sign in" in body
    assert "activation code" in body
    assert "In an emergency call 999" in body


def test_home_requires_sign_in(client):
    response = client.get(reverse("home:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_patient_home_greets_patient_and_shows_empty_states(patient_client, patient):
    response = patient_client.get(reverse("home:home"))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"Hello, {patient.given_name}" in body
    for heading in ("Test results", "Messages", "Appointments", "Letters"):
        assert heading in body
    assert "You have no test results to show yet" in body
    assert AccessEvent.objects.filter(patient=patient, actor=patient.user, object_label="home page").exists()


def test_pages_for_signed_in_people_are_never_cached(patient_client):
    response = patient_client.get(reverse("home:home"))
    assert "no-store" in response["Cache-Control"]


def test_proxy_home_names_the_child_and_says_actions_are_on_their_behalf(proxy_client, proxy_relationship):
    response = proxy_client.get(reverse("home:home"))
    body = response.content.decode()
    assert proxy_relationship.patient.full_name in body
    assert "on their behalf" in body
    event = AccessEvent.objects.get(object_label="home page")
    assert event.actor == proxy_relationship.proxy
    assert event.on_behalf_of == proxy_relationship.patient
    assert event.actor_role == "proxy"
