"""Wrong two-step codes are limited per account, across codes: signing in again does not give a fresh set of tries.

careportal/accounts/two_step_limit.py; docs/identity.md, "Guessing codes".
"""

import datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from careportal.accounts.models import AccountEvent, AccountEventKind, TwoStepMethod
from careportal.helpdesk.services import account_unlock
from tests.accounts.security_steps import code_in, sign_in

pytestmark = pytest.mark.django_db

# 21:00 in London (GMT in December): the pause after wrong codes from 21:00 ends at 21:30.
START = datetime.datetime(2026, 12, 4, 21, 0, tzinfo=datetime.UTC)
WRONG = "That code is not right"
PAUSED = (
    "A wrong sign-in code has been entered too many times for this account. To keep the account safe, signing in "
    "with a code is paused until 21:30."
)
NO_CODE = "Until then we will not send a new code, and no code will work, not even the right one."
HELPDESK = "If you need to sign in sooner, call the CarePortal helpdesk on 020 7946 0000"


@pytest.fixture
def user(patient):  # type: ignore[no-untyped-def]
    patient.user.two_step_method = TwoStepMethod.EMAIL
    patient.user.save()
    return patient.user


def wrong_code(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def enter(client: Client, code: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_confirm_login_code"), {"action": "verify", "code": code})


def finish(client: Client, response):  # type: ignore[no-untyped-def]
    """After the right code: skip "Trust this device?"; returns where sign-in leads."""
    assert response.status_code == 302
    if response["Location"] == reverse("mfa_trust"):
        response = client.post(reverse("mfa_trust"), {"action": "skip"})
    return response["Location"]


def signed_in(client: Client) -> bool:
    return client.get(reverse("accounts:security")).status_code == 200


@pytest.fixture
def emailed_code(mailoutbox, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Sign in with the right password in `client`; returns the response and the code emailed (or None)."""

    def sign_in_for_code(client: Client, username: str):  # type: ignore[no-untyped-def]
        sent = len(mailoutbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = sign_in(client, username)
        code = code_in(mailoutbox[-1].body) if len(mailoutbox) > sent else None
        return response, code

    return sign_in_for_code


def test_wrong_codes_count_across_codes_and_then_no_code_works_until_the_window_ends(user, settings, emailed_code):
    assert settings.CAREPORTAL_TWO_STEP_CODE_FAILURES == 5
    with time_machine.travel(START, tick=False) as traveller:
        first = Client()
        response, code = emailed_code(first, user.username)
        assert response["Location"] == reverse("account_confirm_login_code")
        for _ in range(3):
            assert WRONG in enter(first, wrong_code(code)).content.decode()
        traveller.shift(datetime.timedelta(minutes=5))
        # Signing in again sends a new code, but the count goes on.
        _, code = emailed_code(first, user.username)
        other_browser = Client(REMOTE_ADDR="203.0.113.50")
        _, other_code = emailed_code(other_browser, user.username)
        assert WRONG in enter(first, wrong_code(code)).content.decode()
        paused = enter(first, wrong_code(code))
        assert paused.status_code == 429
        page = paused.content.decode()
        for text in [PAUSED, NO_CODE, HELPDESK, "Try again after 21:30.", "Reset your password"]:
            assert text in page
        assert WRONG not in page

        # The right code from a code sent before the pause is refused, with the same page.
        refused = enter(other_browser, other_code)
        assert refused.status_code == 429
        assert PAUSED in refused.content.decode()
        assert not signed_in(other_browser)

        # A fresh sign-in with the right password gets no code, and says why.
        fresh = Client()
        response, code = emailed_code(fresh, user.username)
        assert code is None, "no code is sent while codes are paused"
        assert response.status_code == 429
        assert PAUSED in response.content.decode()
        assert not signed_in(fresh)
        assert enter(fresh, "123456").status_code == 302, "the sign-in attempt has ended"
        assert not signed_in(fresh)

        # 21:30: the window that began with the first wrong code is over.
        traveller.shift(datetime.timedelta(minutes=25, seconds=1))
        response, code = emailed_code(fresh, user.username)
        assert response["Location"] == reverse("account_confirm_login_code")
        assert finish(fresh, enter(fresh, code)) == reverse("home:home")
        assert signed_in(fresh)
    [event] = AccountEvent.objects.filter(user=user, kind=AccountEventKind.TWO_STEP_PAUSED)
    assert event.ip_address == "127.0.0.1"


def test_the_pause_message_gives_the_date_when_it_ends_on_another_day(user, emailed_code):
    with time_machine.travel(datetime.datetime(2026, 12, 4, 23, 50, tzinfo=datetime.UTC), tick=False):
        client = Client()
        _, code = emailed_code(client, user.username)
        for _ in range(5):
            response = enter(client, wrong_code(code))
    assert "paused until 00:20 on 5 December 2026." in response.content.decode()


def test_a_right_code_starts_the_count_again(user, emailed_code):
    with time_machine.travel(START, tick=False):
        client = Client()
        _, code = emailed_code(client, user.username)
        for _ in range(4):
            assert WRONG in enter(client, wrong_code(code)).content.decode()
        assert finish(client, enter(client, code)) == reverse("home:home")
        client.post(reverse("account_logout"))
        _, code = emailed_code(client, user.username)
        for _ in range(4):
            assert WRONG in enter(client, wrong_code(code)).content.decode()
        assert finish(client, enter(client, code)) == reverse("home:home")
        assert signed_in(client)


def test_someone_without_the_password_cannot_pause_the_codes(user, emailed_code, mailoutbox):
    with time_machine.travel(START, tick=False):
        stranger = Client(REMOTE_ADDR="203.0.113.66")
        for _ in range(12):
            sign_in(stranger, user.username, "not-the-password")
        assert mailoutbox == [], "a wrong password never gets as far as a code"
        owner = Client()
        response, code = emailed_code(owner, user.username)
        assert response["Location"] == reverse("account_confirm_login_code")
        assert finish(owner, enter(owner, code)) == reverse("home:home")


@pytest.mark.parametrize("how", ["helpdesk unlock", "password reset"])
def test_the_helpdesk_or_a_password_reset_ends_the_pause(
    user, helpdesk_user, emailed_code, django_capture_on_commit_callbacks, how
):
    with time_machine.travel(START, tick=False):
        client = Client()
        _, code = emailed_code(client, user.username)
        for _ in range(5):
            enter(client, wrong_code(code))
        assert emailed_code(client, user.username)[1] is None
        with django_capture_on_commit_callbacks(execute=True):
            if how == "helpdesk unlock":
                account_unlock(account=user, actor=helpdesk_user, reason="Checked who they are on the phone")
            else:
                from careportal.accounts.recovery import password_reset_complete, password_reset_link_send

                link = password_reset_link_send(user_id=user.pk, link_url="https://portal.example/new-password/")
                password_reset_complete(link=link, password="Marmalade-kettle-orbit-42", ip_address=None)
        password = "Marmalade-kettle-orbit-42" if how == "password reset" else None
        with django_capture_on_commit_callbacks(execute=True):
            response = sign_in(client, user.username, password) if password else sign_in(client, user.username)
        assert response["Location"] == reverse("account_confirm_login_code")


def test_a_code_page_left_open_from_before_the_pause_sends_nothing_and_says_why(user, emailed_code, mailoutbox):
    with time_machine.travel(START, tick=False):
        opened, asking = Client(REMOTE_ADDR="203.0.113.50"), Client(REMOTE_ADDR="203.0.113.51")
        emailed_code(opened, user.username)
        emailed_code(asking, user.username)
        client = Client()
        _, code = emailed_code(client, user.username)
        for _ in range(5):
            enter(client, wrong_code(code))
        sent = len(mailoutbox)
        assert PAUSED in opened.get(reverse("account_confirm_login_code")).content.decode()
        resend = asking.post(reverse("account_confirm_login_code"), {"action": "resend"})
        assert resend.status_code == 429
        assert PAUSED in resend.content.decode()
        assert len(mailoutbox) == sent
