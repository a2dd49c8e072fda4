"""Where you are signed in: the session list, signing out one device, other devices or everywhere, and a password
change ending the other sessions."""

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client
from django.urls import reverse

from careportal.accounts.models import AccountEvent, AccountEventKind
from tests.accounts.factories import TEST_PASSWORD
from tests.accounts.security_steps import is_signed_in, sign_in

pytestmark = pytest.mark.django_db

LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
NEW_PASSWORD = "Three-random-words-and-9"


def device(user, user_agent: str, ip: str) -> Client:  # type: ignore[no-untyped-def]
    """A browser signed in as `user` through the sign-in page."""
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    assert sign_in(client, user.username)["Location"] == reverse("home:home")
    return client


@pytest.fixture
def laptop(patient) -> Client:  # type: ignore[no-untyped-def]
    return device(patient.user, LAPTOP, "192.0.2.10")


@pytest.fixture
def phone(patient) -> Client:  # type: ignore[no-untyped-def]
    return device(patient.user, PHONE, "198.51.100.20")


def test_the_list_shows_each_device_and_marks_this_one(laptop, phone):
    response = laptop.get(reverse("usersessions_list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Chrome on Windows" in body and "192.0.2.10" in body
    assert "Safari on iPhone" in body and "198.51.100.20" in body
    assert body.index("Chrome on Windows") < body.index("This device") < body.index("Safari on iPhone")
    assert body.count("This device") == 1
    assert "This device and 1 other device" in laptop.get(reverse("accounts:security")).content.decode()


def test_signing_out_one_other_device_leaves_this_one(laptop, phone, patient):
    phone_session = UserSession.objects.get(user=patient.user, user_agent=PHONE)
    response = laptop.post(reverse("accounts:session-end", args=[phone_session.pk]))
    assert response["Location"] == reverse("usersessions_list")
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert "Safari on iPhone" not in laptop.get(reverse("usersessions_list")).content.decode()
    assert AccountEvent.objects.filter(user=patient.user, kind=AccountEventKind.SIGNED_OUT).exists()


def test_this_device_is_not_ended_from_the_list(laptop, patient):
    mine = UserSession.objects.get(user=patient.user, user_agent=LAPTOP)
    assert laptop.post(reverse("accounts:session-end", args=[mine.pk])).status_code == 404
    assert is_signed_in(laptop)


def test_another_persons_session_cannot_be_ended(laptop, other_patient):
    theirs = device(other_patient.user, PHONE, "203.0.113.5")
    their_session = UserSession.objects.get(user=other_patient.user)
    assert laptop.post(reverse("accounts:session-end", args=[their_session.pk])).status_code == 404
    assert laptop.post(reverse("accounts:session-end", args=[999_999])).status_code == 404
    assert is_signed_in(theirs)


def test_signing_out_on_every_other_device(laptop, phone, patient):
    third = device(patient.user, PHONE, "203.0.113.77")
    laptop.post(reverse("accounts:sessions-end-others"))
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(third)
    assert list(UserSession.objects.filter(user=patient.user).values_list("user_agent", flat=True)) == [LAPTOP]


def test_sign_out_everywhere_ends_every_session_including_this_one(laptop, phone, patient):
    response = laptop.post(reverse("accounts:sign-out-everywhere"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login")
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not UserSession.objects.filter(user=patient.user).exists()
    assert AccountEvent.objects.filter(user=patient.user, kind=AccountEventKind.SIGNED_OUT_EVERYWHERE).count() == 1
    page = laptop.get(response["Location"]).content.decode()
    assert "You have been signed out on every device" in page


def test_sign_out_everywhere_is_offered_on_the_security_page(laptop):
    body = laptop.get(reverse("accounts:security")).content.decode()
    assert reverse("accounts:sign-out-everywhere") in body


def test_session_actions_need_a_post(laptop, patient):
    session = UserSession.objects.get(user=patient.user)
    assert laptop.get(reverse("accounts:sign-out-everywhere")).status_code == 405
    assert laptop.get(reverse("accounts:sessions-end-others")).status_code == 405
    assert laptop.get(reverse("accounts:session-end", args=[session.pk])).status_code == 405
    assert is_signed_in(laptop)


def test_session_actions_are_refused_without_the_csrf_token(patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(patient.user)
    assert client.post(reverse("accounts:sign-out-everywhere")).status_code == 403
    assert is_signed_in(client)


def test_a_password_change_ends_the_other_sessions_but_not_this_one(
    laptop, phone, patient, mailoutbox, django_capture_on_commit_callbacks
):
    assert laptop.get(reverse("account_change_password")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = laptop.post(
            reverse("account_change_password"),
            {"oldpassword": TEST_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:security")
    assert "We have signed you out on every other device" in laptop.get(response["Location"]).content.decode()
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert [s.user_agent for s in UserSession.objects.filter(user=patient.user)] == [LAPTOP]
    patient.user.refresh_from_db()
    assert patient.user.check_password(NEW_PASSWORD)
    assert AccountEvent.objects.filter(user=patient.user, kind=AccountEventKind.PASSWORD_CHANGED).count() == 1
    [notice] = [m for m in mailoutbox if m.subject == "A change to how you sign in to CarePortal"]
    assert "your password was changed" in notice.body
    assert NEW_PASSWORD not in notice.body


def test_a_wrong_current_password_changes_nothing(laptop, phone, patient):
    response = laptop.post(
        reverse("account_change_password"),
        {"oldpassword": "not-it", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert "Enter your current password" in response.content.decode()
    assert is_signed_in(phone)
    patient.user.refresh_from_db()
    assert patient.user.check_password(TEST_PASSWORD)
