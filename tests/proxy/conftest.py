"""Fixtures for proxy access from the patient's side: an adult patient who invites people, and helpers that send an
invitation through the real page and read its link from the queued email."""

import datetime
from collections.abc import Callable

import pytest
from django.test import Client

from careportal.notifications.models import Notification
from careportal.proxy.models import ProxyInvitation
from tests.accounts.factories import UserFactory
from tests.patients.factories import PatientFactory

INVITEE_EMAIL = "carer@example.org"


@pytest.fixture
def adult(db):
    """An adult patient with an account: Eleanor Hargreaves, who invites people."""
    return PatientFactory(
        birth_date=datetime.date(1979, 11, 22),
        given_name="Eleanor",
        family_name="Hargreaves",
        user=UserFactory(username="eleanor", first_name="Eleanor", last_name="Hargreaves", email="eleanor@example.org"),
    )


@pytest.fixture
def adult_client(adult) -> Client:
    client = Client()
    client.force_login(adult.user)
    return client


def invite_form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": INVITEE_EMAIL,
        "relationship": "carer",
        "scopes": ["results", "appointments"],
        "valid_until_day": "",
        "valid_until_month": "",
        "valid_until_year": "",
    }
    data.update(changes)
    return data


def invitation_token(email: str = INVITEE_EMAIL) -> str:
    """The token in the newest invitation email queued to `email` (read before the worker sends and wipes it)."""
    notification = Notification.objects.filter(kind="proxy_invitation", to_address=email).order_by("-id").first()
    assert notification is not None, f"no invitation queued to {email}"
    return str(notification.personalisation["link"]).rstrip("/").rsplit("/", 1)[1]


@pytest.fixture
def send_invitation(adult_client) -> Callable[..., str]:
    """Invite someone through the page, as the adult patient; returns the token from the email."""

    def send(**changes: object) -> str:
        response = adult_client.post("/access-for-others/invite/", invite_form(**changes))
        assert response.status_code == 302, response.content.decode()
        return invitation_token(str(changes.get("email", INVITEE_EMAIL)))

    return send


@pytest.fixture
def invitee(db):
    """An account with the invited address and no hospital record."""
    return UserFactory(username="carer", first_name="Chris", last_name="Carer", email=INVITEE_EMAIL)


@pytest.fixture
def invitee_client(invitee) -> Client:
    client = Client()
    client.force_login(invitee)
    return client


def open_link(client: Client, token: str):  # type: ignore[no-untyped-def]
    """Open the emailed link (which moves on to /access-for-others/invitation/) and return that page."""
    response = client.get(f"/access-for-others/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/access-for-others/invitation/"
    return client.get("/access-for-others/invitation/")


def only_invitation() -> ProxyInvitation:
    return ProxyInvitation.objects.get()
