"""Sessions and sign-in against OWASP ASVS 5.0, chapter V7 (session management) and the parts of V6 that concern
sign-in (throttling, enumeration). Each test names the requirement it proves; docs/security-asvs.md maps every
level 2 requirement to its control and its test, including the ones proved in tests/accounts/.

The test hasher (MD5, settings/test.py) verifies by calling encode(), so counting encode() counts password hashes.
"""

import datetime
import string
from importlib import import_module
from unittest import mock

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.accounts.security_steps import is_signed_in, reauthenticate, sign_in, totp_code

pytestmark = pytest.mark.django_db


def _session_store() -> type[SessionBase]:
    return import_module(settings.SESSION_ENGINE).SessionStore  # type: ignore[no-any-return]


def _session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _hashes_during(action) -> int:  # type: ignore[no-untyped-def]
    with mock.patch.object(MD5PasswordHasher, "encode", autospec=True, side_effect=MD5PasswordHasher.encode) as encode:
        action()
    return encode.call_count


# V7.2.3: reference tokens are generated with at least 128 bits of entropy by a CSPRNG.
def test_session_ids_carry_more_than_128_bits(patient):
    client = Client()
    sign_in(client, patient.user.username)
    key = _session_key(client)
    alphabet = string.ascii_lowercase + string.digits
    assert set(key) <= set(alphabet)
    # Django draws each of the 32 characters with `secrets` from 36 symbols: 32 x log2(36), about 165 bits.
    assert len(key) >= 32


# V7.2.4: a new session token at sign-in, and the one from before sign-in ends (no session fixation).
def test_signing_in_replaces_the_session_id_and_the_old_one_is_dead(patient):
    victim = Client()
    anonymous_session = _session_store()()
    anonymous_session["planted"] = True
    anonymous_session.save()
    planted_key = anonymous_session.session_key
    assert planted_key
    # An attacker plants a session id in the victim's browser, and the victim signs in with it.
    victim.cookies[settings.SESSION_COOKIE_NAME] = planted_key
    assert sign_in(victim, patient.user.username).status_code == 302
    assert _session_key(victim) != planted_key
    assert not _session_store()().exists(planted_key)
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted_key
    assert not is_signed_in(attacker)
    assert is_signed_in(victim)


# V7.2.4: "including re-authentication": confirming the password before a sensitive change also gives a new id.
def test_reauthentication_replaces_the_session_id(patient):
    client = Client()
    sign_in(client, patient.user.username)
    before = _session_key(client)
    response = reauthenticate(client)
    assert response.status_code == 302
    after = _session_key(client)
    assert after != before
    assert not _session_store()().exists(before)
    assert is_signed_in(client)


# V7.4.1: signing out ends the session on the server, so a copy of the cookie is worthless afterwards.
def test_a_copied_cookie_is_worthless_after_sign_out(patient):
    client = Client()
    sign_in(client, patient.user.username)
    copy = Client()
    copy.cookies[settings.SESSION_COOKIE_NAME] = _session_key(client)
    assert is_signed_in(copy)
    client.post(reverse("account_logout"))
    assert not is_signed_in(copy)


# V7.4.2: a disabled account's sessions stop working at once.
def test_disabling_an_account_ends_its_sessions(patient):
    client = Client()
    sign_in(client, patient.user.username)
    assert is_signed_in(client)
    patient.user.is_active = False
    patient.user.save(update_fields=["is_active"])
    assert not is_signed_in(client)
    assert not UserSession.objects.filter(user=patient.user).exists()


# V7.4.3: other sessions end after a change of any sign-in factor (the password case is in
# tests/accounts/test_sessions.py and the recovery case in tests/accounts/test_recovery.py).
def test_setting_up_and_removing_an_authenticator_app_ends_the_other_sessions(
    patient, django_capture_on_commit_callbacks
):
    from tests.accounts.test_security import START, activate_totp, complete_sign_in

    laptop = Client(REMOTE_ADDR="192.0.2.10")
    phone = Client(REMOTE_ADDR="198.51.100.20")
    with time_machine.travel(START, tick=False) as traveller:
        sign_in(laptop, patient.user.username)
        sign_in(phone, patient.user.username)
        secret = activate_totp(laptop, django_capture_on_commit_callbacks)
        assert is_signed_in(laptop)
        assert not is_signed_in(phone)

        traveller.shift(datetime.timedelta(seconds=60))
        response = sign_in(phone, patient.user.username)
        complete_sign_in(phone, phone.post(reverse("mfa_authenticate"), {"code": totp_code(secret)}))
        assert is_signed_in(phone)
        traveller.shift(datetime.timedelta(seconds=60))
        reauthenticate(laptop)
        with django_capture_on_commit_callbacks(execute=True):
            response = laptop.post(reverse("mfa_deactivate_totp"))
        assert response.status_code == 302
        assert is_signed_in(laptop)
        assert not is_signed_in(phone)


# V6.3.1 / issue 16: throttling happens before the password hasher. Once a username is locked at an address, no
# further attempt costs a hash, whether the password is right or wrong.
def test_a_locked_username_costs_no_password_hash(client, patient):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("account_login"), {"login": patient.user.username, "password": "wrong"}, REMOTE_ADDR="10.9.0.1"
        )

    def attempts() -> None:
        for password in ("wrong", TEST_PASSWORD, "another-wrong"):
            response = client.post(
                reverse("account_login"), {"login": patient.user.username, "password": password}, REMOTE_ADDR="10.9.0.1"
            )
            assert response.status_code == 429

    assert _hashes_during(attempts) == 0


# V6.3.1: credential stuffing from one address against many accounts is cut off by the per-address limit, before
# hashing, and the cut-off page does not say whether any of the accounts exists.
def test_many_accounts_from_one_address_stop_reaching_the_hasher(client, patient):
    cache.clear()
    limit = int(settings.ACCOUNT_RATE_LIMITS["login"].split("/")[0])
    answers: list[int] = []

    def attempts() -> None:
        for n in range(limit + 10):
            response = client.post(
                reverse("account_login"), {"login": f"stuffed-{n}", "password": "Winter2026!"}, REMOTE_ADDR="10.9.0.2"
            )
            answers.append(response.status_code)

    hashes = _hashes_during(attempts)
    failures_a_minute = int(settings.ACCOUNT_RATE_LIMITS["login_failed"].split("/")[0])
    assert hashes == failures_a_minute
    assert answers[-10:] == [429] * 10
    real = client.post(
        reverse("account_login"), {"login": patient.user.username, "password": TEST_PASSWORD}, REMOTE_ADDR="10.9.0.2"
    )
    unknown = client.post(reverse("account_login"), {"login": "nobody", "password": "x"}, REMOTE_ADDR="10.9.0.2")
    assert real.status_code == unknown.status_code == 429
    assert _without_tokens(real.content) == _without_tokens(unknown.content)


def _without_tokens(body: bytes) -> str:
    import re

    text = body.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    return re.sub(r'nonce="[^"]+"', "", text)


# V6.3.8 (level 3, DESIGN.md asks for it): the sign-in page answers an unknown username and a wrong password with
# the same status, the same page and the same password work.
def test_sign_in_does_not_tell_whether_an_account_exists(client, patient):
    real = client.post(
        reverse("account_login"), {"login": patient.user.username, "password": "wrong"}, REMOTE_ADDR="10.9.0.3"
    )
    unknown = client.post(
        reverse("account_login"), {"login": "no-such-person", "password": "wrong"}, REMOTE_ADDR="10.9.0.4"
    )
    assert real.status_code == unknown.status_code == 200
    assert _without_tokens(real.content).replace(patient.user.username, "NAME") == _without_tokens(
        unknown.content
    ).replace("no-such-person", "NAME")


# V7.4.4: every page that needs sign-in offers signing out.
@pytest.mark.parametrize(
    "name",
    [
        "home:home",
        "results:list",
        "messaging:list",
        "appointments:list",
        "letters:list",
        "patients:your-details",
        "audit:access-log",
        "proxy:hub",
        "accounts:security",
    ],
)
def test_every_signed_in_area_offers_sign_out(patient_client, name):
    response = patient_client.get(reverse(name))
    assert response.status_code == 200
    assert reverse("account_logout") in response.content.decode()


# V7.4.5: the helpdesk can end a person's sessions (the two-step reset signs them out everywhere).
def test_the_helpdesk_can_end_a_persons_sessions(helpdesk_user):
    from careportal.helpdesk.services import account_two_step_reset

    person = UserFactory()
    client = Client()
    sign_in(client, person.username)
    assert is_signed_in(client)
    account_two_step_reset(
        account=person,
        actor=helpdesk_user,
        reason="Lost phone",
        identity_check="Asked security questions",
        ip_address=None,
    )
    assert not is_signed_in(client)
