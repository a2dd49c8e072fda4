"""A proxy-only account (no hospital record), made from an invitation link, then accepting the invitation."""

import re
from html import unescape

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from careportal.accounts.models import AccountEvent, SecurityAnswer, User
from careportal.patients.models import Patient
from careportal.proxy.models import InvitationStatus, ProxyRelationship
from tests.accounts.factories import UserFactory
from tests.proxy.conftest import INVITEE_EMAIL, only_invitation, open_link

pytestmark = pytest.mark.django_db

PASSWORD = "PurpleKettleRiver-42"


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def account_form(**changes: str) -> dict[str, str]:
    data = {
        "first_name": "Chris",
        "last_name": "Carer",
        "username": "chris.carer",
        "password": PASSWORD,
        "question_1": "first_school",
        "answer_1": "Highgate Primary",
        "question_2": "first_pet",
        "answer_2": "Biscuit",
        "question_3": "childhood_street",
        "answer_3": "Elm Court",
    }
    data.update(changes)
    return data


@pytest.fixture
def opened(send_invitation) -> Client:
    """A browser that has opened the invitation link and is not signed in."""
    client = Client()
    open_link(client, send_invitation())
    return client


def test_the_invitee_creates_an_account_and_then_accepts(adult, opened):
    form_page = opened.get("/access-for-others/create-account/")
    assert form_page.status_code == 200
    assert INVITEE_EMAIL in page_text(form_page)

    response = opened.post("/access-for-others/create-account/", account_form())

    assert response.status_code == 302
    assert response["Location"] == "/access-for-others/invitation/"
    user = User.objects.get(username="chris.carer")
    assert (user.first_name, user.last_name, user.email) == ("Chris", "Carer", INVITEE_EMAIL)
    assert user.check_password(PASSWORD)
    assert not Patient.objects.filter(user=user).exists()
    assert SecurityAnswer.objects.filter(user=user).count() == 3
    assert "Biscuit" not in str(list(SecurityAnswer.objects.values_list("answer_hash", flat=True)))
    # The link proved the address, so it is confirmed at once.
    assert EmailAddress.objects.get(user=user).verified
    assert AccountEvent.objects.filter(user=user, kind="activated").exists()
    # Signed in, and the invitation is still to be accepted by them.
    assert int(opened.session["_auth_user_id"]) == user.pk
    assert not ProxyRelationship.objects.exists()
    assert "Accept the invitation" in page_text(opened.get("/access-for-others/invitation/"))

    opened.post("/access-for-others/invitation/")

    assert ProxyRelationship.objects.get().proxy == user
    assert only_invitation().status == InvitationStatus.ACCEPTED


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"first_name": ""}, "Enter your first name"),
        ({"last_name": ""}, "Enter your last name"),
        ({"username": "a@b.com"}, "Username cannot be an email address"),
        ({"password": "short"}, "This password is too short"),
        ({"first_name": "Christabella", "password": "Christabella1"}, "too similar to the first name"),
        ({"question_2": "first_school"}, "Choose a different question from question 1"),
        ({"answer_3": ""}, "Enter your answer to question 3"),
    ],
)
def test_bad_account_details_are_refused_and_nothing_is_written(opened, changes, message):
    response = opened.post("/access-for-others/create-account/", account_form(**changes))

    assert response.status_code == 200
    assert "There is a problem" in page_text(response)
    assert message in page_text(response)
    assert not User.objects.filter(username__in=["chris.carer", "a@b.com"]).exists()


def test_a_taken_username_is_refused(opened):
    UserFactory(username="Chris.Carer")

    response = opened.post("/access-for-others/create-account/", account_form())

    assert "That username is already taken" in page_text(response)
    assert not User.objects.filter(email=INVITEE_EMAIL).exists()


def test_an_address_that_already_has_an_account_is_asked_to_sign_in(opened):
    UserFactory(username="existing", email=INVITEE_EMAIL)

    page = opened.get("/access-for-others/create-account/")
    assert "You already have an account" in page_text(page)
    opened.post("/access-for-others/create-account/", account_form())
    assert not User.objects.filter(username="chris.carer").exists()


def test_the_account_page_needs_a_usable_invitation(db, send_invitation):
    assert Client().get("/access-for-others/create-account/")["Location"] == "/access-for-others/invitation/"
    client = Client()
    open_link(client, send_invitation())
    only_invitation().__class__.objects.update(status=InvitationStatus.CANCELLED)

    response = client.post("/access-for-others/create-account/", account_form())

    assert response["Location"] == "/access-for-others/invitation/"
    assert not User.objects.filter(username="chris.carer").exists()


def test_someone_signed_in_is_sent_to_the_invitation(invitee_client):
    assert invitee_client.get("/access-for-others/create-account/")["Location"] == "/access-for-others/invitation/"


def test_the_account_page_never_posts_back_what_was_typed_in_secret_fields(opened):
    response = opened.post("/access-for-others/create-account/", account_form(first_name=""))

    assert PASSWORD not in response.content.decode()
